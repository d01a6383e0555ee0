-- An order's identity includes its connection: two WooCommerce stores of one tenant both have
-- an order #1287. `connection_id` is the WooCommerce connection an order came from, empty for
-- eBay and Etsy, whose order ids are marketplace-wide (a reconnected account must not deliver
-- its orders again). Events say which connection brought them, connections remember the
-- platform account they speak for (the eBay seller's userId).
ALTER TABLE connections ADD COLUMN account_id TEXT;
ALTER TABLE events ADD COLUMN connection_id TEXT;

ALTER TABLE orders ADD COLUMN connection_id TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN connection_id TEXT NOT NULL DEFAULT '';
-- Orders taken in before belong to the tenant's first WooCommerce connection.
UPDATE orders o SET connection_id = COALESCE((SELECT MIN(c.id) FROM connections c
    WHERE c.tenant_id = o.tenant_id AND c.platform = 'woocommerce'), '')
WHERE o.platform = 'woocommerce';
UPDATE deliveries d SET connection_id = o.connection_id FROM orders o
WHERE o.id = d.order_id AND o.connection_id <> '';

ALTER TABLE orders DROP CONSTRAINT orders_platform_id;
ALTER TABLE orders ADD CONSTRAINT orders_platform_id
    UNIQUE (tenant_id, platform, connection_id, platform_order_id);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_ledger;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_ledger
    UNIQUE (tenant_id, platform, connection_id, platform_order_id, line_item_id, unit);
