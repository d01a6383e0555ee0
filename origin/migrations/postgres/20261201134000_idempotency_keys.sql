-- Idempotency keys of state-changing API requests: per tenant, each key (prefixed with the
-- environment of the API key that sent it, `live:` or `test:`), the request it is bound to
-- (a fingerprint of method, path and body) and, once answered, the answer to replay. A row
-- without a status is a request in flight, held by `claim_token`. Kept for the configured
-- retention (IDEMPOTENCY_RETENTION_SECS), pruned as new keys are claimed.
CREATE TABLE idempotency_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    claim_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    locked_at BIGINT NOT NULL,
    status INTEGER,
    content_type TEXT,
    body BYTEA,
    answered_at BIGINT
);
CREATE UNIQUE INDEX idempotency_keys_key ON idempotency_keys (tenant_id, idempotency_key);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
