-- The ledger's references to orders and their items take the ids' collation ("C", as every id
-- column of the first migration has). With the default collation a correlated lookup of an
-- order's or item's deliveries (the status refresh after each batch of sent emails, the
-- marketplace calls it queues) could not use deliveries_order / deliveries_item and scanned
-- the whole table once per order.
ALTER TABLE deliveries
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN tenant_id TYPE TEXT COLLATE "C",
    ALTER COLUMN order_id TYPE TEXT COLLATE "C",
    ALTER COLUMN order_item_id TYPE TEXT COLLATE "C",
    ALTER COLUMN product_id TYPE TEXT COLLATE "C";
ALTER TABLE download_links
    ALTER COLUMN delivery_id TYPE TEXT COLLATE "C";
ALTER TABLE fulfilments
    ALTER COLUMN order_id TYPE TEXT COLLATE "C";
