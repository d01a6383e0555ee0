-- Pollers: a run reads a bounded number of pages and carries where it stopped to the next
-- run; each claim carries a token, and only the holder of the newest claim records the
-- outcome (a run that outlived its lease cannot overwrite a newer one's checkpoint).
-- `continuation`: the next page (WooCommerce) or offset (Etsy) of the sweep in progress, 0
-- when the next run starts a new sweep from `checkpoint`; `high_water`: the newest
-- modification the sweep in progress has seen, the next sweep's checkpoint once it ends.
ALTER TABLE pollers ADD COLUMN continuation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pollers ADD COLUMN high_water BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pollers ADD COLUMN claim_token TEXT;

-- Waiting units: when the sweep tries one again (0: at once, as after the codes or tokens it
-- waits for arrived), and how often it was tried in vain (its backoff).
ALTER TABLE deliveries ADD COLUMN resume_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN resume_attempts BIGINT NOT NULL DEFAULT 0;
DROP INDEX deliveries_waiting;
CREATE INDEX deliveries_waiting_due ON deliveries (resume_at, id)
    WHERE status IN ('awaiting_stock', 'awaiting_tokens');
-- What codes imported for a product, or tokens added to a tenant, wake.
CREATE INDEX deliveries_waiting_for ON deliveries (tenant_id, product_id)
    WHERE status IN ('awaiting_stock', 'awaiting_tokens');
