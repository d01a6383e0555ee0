-- Every scope is an explicit `*` now; an empty scope list no longer means every scope. Keys
-- made before keep what they had. (The origin also reads a stored empty list as `*`, for keys
-- an older origin writes while both run against one database.)
UPDATE api_keys SET scopes = '*' WHERE TRIM(scopes) = '';

-- The tenant's audit log: each key created, rotated or revoked, and each key operation
-- refused. Never a secret: keys appear by id and display prefix.
CREATE TABLE tenant_audit (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    actor_key_id TEXT,
    key_id TEXT,
    key_prefix TEXT,
    environment TEXT,
    scopes TEXT,
    reason TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX tenant_audit_tenant ON tenant_audit (tenant_id, id);
