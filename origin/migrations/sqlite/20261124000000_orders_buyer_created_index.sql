-- Date-range order lists. The benchmark showed a buyer's orders in a date range walking the
-- created_at index over the whole range (135 req/s at 100k orders on SQLite). Each index ends
-- in id so a page's ids are read from the index alone and only those rows are fetched.
CREATE INDEX orders_tenant_buyer_created ON orders (tenant_id, buyer_email, created_at, id);
CREATE INDEX orders_tenant_created_id ON orders (tenant_id, created_at, id);
DROP INDEX orders_tenant_created;
