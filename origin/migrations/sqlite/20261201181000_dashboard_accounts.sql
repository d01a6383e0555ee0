-- The seller dashboard's accounts. An account is a person signing in with an email (stored
-- normalised: trimmed, lower case) and a password (only its argon2id hash); `tenant_members`
-- says which tenants the account may act for and as what (`owner`, `member`). Sign-up makes a
-- tenant, its owner account and the membership in one transaction.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    email_verified_at BIGINT
);

CREATE TABLE tenant_members (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);
CREATE INDEX tenant_members_account ON tenant_members (account_id);

-- A signed-in browser: the cookie holds a random token, the row only its SHA-256. The session
-- ends a day after its last use or a week after sign-in (`domain::accounts`).
CREATE TABLE dashboard_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_account ON dashboard_sessions (account_id);
CREATE INDEX dashboard_sessions_last_seen ON dashboard_sessions (last_seen_at);

-- Failed sign-ins, counted per account email (known or not) and per client address over a
-- window (`domain::accounts::sign_in_limit`); older rows are pruned as new ones come.
CREATE TABLE sign_in_failures (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    client_address TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_email ON sign_in_failures (email, at);
CREATE INDEX sign_in_failures_address ON sign_in_failures (client_address, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (at);
