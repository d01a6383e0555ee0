-- An order's identity includes its connection: two WooCommerce stores of one tenant both have
-- an order #1287. `connection_id` is the WooCommerce connection an order came from, empty
-- for eBay and Etsy, whose order ids are marketplace-wide (a reconnected account must not
-- deliver its orders again). Events say which connection brought them, connections remember
-- the platform account they speak for (the eBay seller's userId).
ALTER TABLE connections ADD COLUMN account_id TEXT;
ALTER TABLE events ADD COLUMN connection_id TEXT;

-- SQLite cannot change a table's UNIQUE constraint: orders and deliveries are rebuilt, and with
-- them the tables that reference them (foreign keys stay on inside the migration's
-- transaction, so children are dropped before their parents and the new tables renamed last).
CREATE TABLE orders_new (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    platform TEXT NOT NULL,
    platform_order_id TEXT NOT NULL,
    status TEXT NOT NULL,
    buyer_email TEXT NOT NULL,
    buyer_name TEXT,
    currency TEXT,
    total_cents BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    buyer_platform_id TEXT,
    connection_id TEXT NOT NULL DEFAULT '',
    CONSTRAINT orders_platform_id UNIQUE (tenant_id, platform, connection_id, platform_order_id)
);
-- Orders taken in before belong to the tenant's first WooCommerce connection.
INSERT INTO orders_new
SELECT o.id, o.tenant_id, o.platform, o.platform_order_id, o.status, o.buyer_email, o.buyer_name,
       o.currency, o.total_cents, o.created_at, o.updated_at, o.buyer_platform_id,
       CASE WHEN o.platform = 'woocommerce' THEN COALESCE((SELECT MIN(c.id) FROM connections c
            WHERE c.tenant_id = o.tenant_id AND c.platform = 'woocommerce'), '') ELSE '' END
FROM orders o;

CREATE TABLE order_items_new (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    order_id TEXT NOT NULL REFERENCES orders_new (id),
    product_id TEXT,
    product_type TEXT,
    name TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    delivery_status TEXT NOT NULL,
    license_code TEXT,
    delivered_at BIGINT
);
INSERT INTO order_items_new SELECT * FROM order_items;

CREATE TABLE order_audit_new (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    order_id TEXT NOT NULL REFERENCES orders_new (id),
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
INSERT INTO order_audit_new SELECT * FROM order_audit;

CREATE TABLE deliveries_new (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    order_id TEXT NOT NULL REFERENCES orders_new (id),
    order_item_id TEXT NOT NULL REFERENCES order_items_new (id),
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
    connection_id TEXT NOT NULL DEFAULT '',
    CONSTRAINT deliveries_ledger UNIQUE (tenant_id, platform, connection_id, platform_order_id, line_item_id, unit)
);
INSERT INTO deliveries_new
SELECT d.id, d.tenant_id, d.order_id, d.order_item_id, d.product_id, d.product_type, d.platform,
       d.platform_order_id, d.line_item_id, d.unit, d.status, d.license_code_id, d.code,
       d.generation, d.send_attempts, d.next_attempt_at, d.lease_until, d.last_error,
       d.created_at, d.updated_at, d.sent_at,
       (SELECT o.connection_id FROM orders_new o WHERE o.id = d.order_id)
FROM deliveries d;

CREATE TABLE download_links_new (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    delivery_id TEXT NOT NULL REFERENCES deliveries_new (id),
    file_id TEXT NOT NULL REFERENCES product_files (id),
    expires_at BIGINT NOT NULL,
    max_downloads BIGINT NOT NULL,
    downloads BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
INSERT INTO download_links_new SELECT * FROM download_links;

DROP TABLE download_links;
DROP TABLE deliveries;
DROP TABLE order_audit;
DROP TABLE order_items;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
ALTER TABLE order_items_new RENAME TO order_items;
ALTER TABLE order_audit_new RENAME TO order_audit;
ALTER TABLE deliveries_new RENAME TO deliveries;
ALTER TABLE download_links_new RENAME TO download_links;

CREATE INDEX orders_tenant ON orders (tenant_id, id);
CREATE INDEX orders_tenant_status ON orders (tenant_id, status, id);
CREATE INDEX orders_tenant_platform ON orders (tenant_id, platform, id);
CREATE INDEX orders_tenant_buyer ON orders (tenant_id, buyer_email, id);
CREATE INDEX orders_tenant_buyer_created ON orders (tenant_id, buyer_email, created_at, id);
CREATE INDEX orders_tenant_created_id ON orders (tenant_id, created_at, id);
CREATE INDEX order_items_order ON order_items (tenant_id, order_id, id);
CREATE INDEX order_audit_order ON order_audit (tenant_id, order_id, id);
CREATE INDEX deliveries_order ON deliveries (order_id, id);
CREATE INDEX deliveries_item ON deliveries (order_item_id);
CREATE INDEX deliveries_waiting ON deliveries (id) WHERE status IN ('awaiting_stock', 'awaiting_tokens');
CREATE INDEX deliveries_to_send ON deliveries (next_attempt_at, id) WHERE status = 'allocated';
CREATE INDEX download_links_delivery ON download_links (delivery_id);
