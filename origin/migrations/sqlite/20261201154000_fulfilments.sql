-- Telling the marketplace an order is done: one row per platform call, made in the
-- transaction that records the last unit of a line (eBay) or of the whole order (Etsy,
-- WooCommerce) sent, and claimed with a lease and a claim token like the units being sent.
-- `target` is what the call marks: the eBay line item id, or '' for the whole order; the
-- unique key is why a replay, a resend or a second worker never makes the call twice.
CREATE TABLE fulfilments (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    order_id TEXT NOT NULL REFERENCES orders (id),
    platform TEXT NOT NULL,
    platform_order_id TEXT NOT NULL,
    -- The order's WooCommerce connection; '' for eBay and Etsy (the platform's current one).
    connection_id TEXT NOT NULL DEFAULT '',
    target TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    -- pending | done | refused (the platform said no for good) | skipped (setting off)
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT NOT NULL DEFAULT 0,
    claim_token TEXT,
    -- Why the last attempt did not succeed, with the platform's own message when it gave one.
    last_error TEXT,
    -- What the platform calls the result (eBay's fulfillment id from `Location`).
    platform_ref TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    done_at BIGINT,
    CONSTRAINT fulfilments_once UNIQUE (tenant_id, order_id, target)
);
CREATE INDEX fulfilments_due ON fulfilments (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX fulfilments_order ON fulfilments (tenant_id, order_id, id);

-- A connection's settings as a JSON object (`domain::fulfilment::ConnectionSettings`);
-- absent fields take their defaults.
ALTER TABLE connections ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
