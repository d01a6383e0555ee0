-- The delivery pipeline: leases on events, the delivery ledger, download links, pollers and
-- alerts. Times are Unix milliseconds; a lease is free when `lease_until` <= now.

ALTER TABLE events ADD COLUMN process_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
-- What the event worker claims: events waiting to be (re)processed, oldest due first.
CREATE INDEX events_due ON events (next_attempt_at, id) WHERE status IN ('received', 'failed');

-- The platform's id of the buyer, so an account deletion can find their orders.
ALTER TABLE orders ADD COLUMN buyer_platform_id TEXT;

-- The ledger: one row per unit of a line item of a platform order. Its unique key is what
-- makes delivery and charging happen at most once whatever is replayed.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    order_id TEXT NOT NULL REFERENCES orders (id),
    order_item_id TEXT NOT NULL REFERENCES order_items (id),
    product_id TEXT NOT NULL REFERENCES products (id),
    product_type TEXT NOT NULL,
    platform TEXT NOT NULL,
    platform_order_id TEXT NOT NULL,
    line_item_id TEXT NOT NULL,
    unit BIGINT NOT NULL,
    -- awaiting_stock | awaiting_tokens | allocated (charged, email due) | sent | failed | revoked
    status TEXT NOT NULL,
    license_code_id TEXT,
    code TEXT,
    -- Bumped by resend and replace: each generation is one more email.
    generation BIGINT NOT NULL DEFAULT 0,
    send_attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sent_at BIGINT,
    CONSTRAINT deliveries_ledger UNIQUE (tenant_id, platform, platform_order_id, line_item_id, unit)
);
CREATE INDEX deliveries_order ON deliveries (order_id, id);
CREATE INDEX deliveries_item ON deliveries (order_item_id);
CREATE INDEX deliveries_waiting ON deliveries (id) WHERE status IN ('awaiting_stock', 'awaiting_tokens');
CREATE INDEX deliveries_to_send ON deliveries (next_attempt_at, id) WHERE status = 'allocated';

CREATE TABLE download_links (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    file_id TEXT NOT NULL REFERENCES product_files (id),
    expires_at BIGINT NOT NULL,
    max_downloads BIGINT NOT NULL,
    downloads BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX download_links_delivery ON download_links (delivery_id);

-- One poller per connection that needs polling (Etsy receipts, WooCommerce reconciliation);
-- `checkpoint` is where the next poll starts (unix seconds of the last modification seen).
CREATE TABLE pollers (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    connection_id TEXT NOT NULL REFERENCES connections (id),
    platform TEXT NOT NULL,
    checkpoint BIGINT NOT NULL DEFAULT 0,
    next_run_at BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT NOT NULL DEFAULT 0,
    runs BIGINT NOT NULL DEFAULT 0,
    last_run_at BIGINT,
    last_error TEXT,
    CONSTRAINT pollers_connection UNIQUE (connection_id)
);
CREATE INDEX pollers_due ON pollers (next_run_at);

-- Low stock and low tokens, one current row per (tenant, kind, subject).
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL,
    CONSTRAINT alerts_one UNIQUE (tenant_id, kind, subject)
);
