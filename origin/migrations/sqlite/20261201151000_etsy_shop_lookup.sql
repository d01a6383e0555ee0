-- Etsy sends every shop's webhooks to one endpoint per app: the edge asks which connection
-- has the shop a delivery names, across tenants.
CREATE INDEX connections_etsy_shop ON connections (shop_id) WHERE platform = 'etsy';
