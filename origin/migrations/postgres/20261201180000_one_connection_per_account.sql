-- One eBay user or Etsy shop belongs to one connection: the app's one eBay notification endpoint
-- and Etsy's one webhook endpoint route deliveries by account, and the connect flows re-authorise
-- the connection that has the account rather than make a second. At most one connection per
-- account is active, across tenants; inactive ones (deactivated, needing a reconnect) are history.
--
-- An account connected twice before now (the eBay connect flow made a new connection on every
-- consent) keeps its newest active connection, which already spoke for it (the shop route and a
-- tenant's eBay edge config pick the newest active one); the older ones are deactivated, saying why.
UPDATE connections
SET status = 'inactive',
    last_error = 'deactivated: a newer active connection has the same account (one account, one connection)'
WHERE status = 'active'
  AND ((platform = 'ebay' AND account_id IS NOT NULL AND EXISTS (
          SELECT 1 FROM connections n
          WHERE n.platform = 'ebay' AND n.status = 'active'
            AND n.account_id = connections.account_id AND n.id > connections.id))
    OR (platform = 'etsy' AND shop_id IS NOT NULL AND EXISTS (
          SELECT 1 FROM connections n
          WHERE n.platform = 'etsy' AND n.status = 'active'
            AND n.shop_id = connections.shop_id AND n.id > connections.id)));

CREATE UNIQUE INDEX connections_one_active_ebay_seller ON connections (account_id)
    WHERE platform = 'ebay' AND status = 'active';
CREATE UNIQUE INDEX connections_one_active_etsy_shop ON connections (shop_id)
    WHERE platform = 'etsy' AND status = 'active';
-- The app's eBay endpoint asks which connection speaks for a userId, across tenants.
CREATE INDEX connections_ebay_seller ON connections (account_id) WHERE platform = 'ebay';
