-- What the seller reviews and the ledger resumes. An order over the quantity caps waits as
-- `needs_review` and a line no product maps waits as `unmapped`; `status_reason` says why.
-- `platform_line` is the platform's line (`domain::orders::PlatformItem` as JSON): what an
-- unmapped line is matched against when a mapping appears, and the line id an approved order
-- is delivered under. `refunded_quantity` is how many of a line's units a partial refund took
-- back: those units are revoked and never delivered.
ALTER TABLE orders ADD COLUMN status_reason TEXT;
ALTER TABLE order_items ADD COLUMN status_reason TEXT;
ALTER TABLE order_items ADD COLUMN platform_line TEXT;
ALTER TABLE order_items ADD COLUMN refunded_quantity BIGINT NOT NULL DEFAULT 0;
-- What a new mapping resumes: the tenant's unmapped lines.
CREATE INDEX order_items_unmapped ON order_items (tenant_id, id) WHERE delivery_status = 'unmapped';
