-- Retention: event bodies, audit rows and download links are pruned after their retention
-- periods by the retention job; an event keeps its dedupe key, edge id, status and times, so
-- a replayed old event is still recognised as a duplicate. `body_pruned_at` says when its
-- body was dropped (by retention or by a buyer's erasure); a pruned event is never processed
-- or replayed again.
ALTER TABLE events ADD COLUMN body_pruned_at BIGINT;
-- What the job looks for: bodies still held, oldest first.
CREATE INDEX events_body_held ON events (stored_at) WHERE body_pruned_at IS NULL;
CREATE INDEX order_audit_at ON order_audit (at);
CREATE INDEX tenant_audit_at ON tenant_audit (at);
CREATE INDEX download_links_expires ON download_links (expires_at);
CREATE INDEX download_links_revoked ON download_links (revoked_at) WHERE revoked_at IS NOT NULL;
-- A tenant's stored bytes and files, for the storage quota.
CREATE INDEX product_files_tenant_status ON product_files (tenant_id, status);
