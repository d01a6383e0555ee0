-- Connect attempts: one per `POST /api/v1/connections/{platform}/authorize`. The id is the
-- `state` (WooCommerce's `user_id`) the platform echoes back: unguessable, single-use
-- (`used_at`), short-lived (`expires_at`), bound to the tenant, the platform and, when a
-- connection is re-authorised, that connection. It holds what the return needs: the store URL
-- (WooCommerce), the PKCE code_verifier sealed with the master key (Etsy). `outcome` is what
-- the return page tells the seller (`connected`, or why not).
CREATE TABLE connect_attempts (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    platform TEXT NOT NULL,
    connection_id TEXT,
    store_url TEXT,
    code_verifier_sealed TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    outcome TEXT
);
CREATE INDEX connect_attempts_expires ON connect_attempts (expires_at);
