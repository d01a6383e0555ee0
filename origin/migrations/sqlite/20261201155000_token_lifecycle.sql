-- Tokens kept alive. The access and refresh tokens stay in the sealed secrets; beside them,
-- in the clear, what the refresh job needs: when each token ends (unix ms, NULL when unknown),
-- when the next refresh is due (NULL: nothing to refresh, no refresh token), a generation
-- counter that every save of a token set bumps (a refresh saves only if the generation is still
-- the one it read: a compare-and-swap, so a slower refresh never overwrites a newer token set
-- with a refresh token the platform already rotated away), and the refresh claim (a token and a
-- lease, like the pollers': one refresh per connection at a time, across processes).
ALTER TABLE connections ADD COLUMN access_expires_at BIGINT;
ALTER TABLE connections ADD COLUMN refresh_expires_at BIGINT;
ALTER TABLE connections ADD COLUMN refresh_due_at BIGINT;
ALTER TABLE connections ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN refresh_claim TEXT;
ALTER TABLE connections ADD COLUMN refresh_lease_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN refresh_failures BIGINT NOT NULL DEFAULT 0;
-- What the refresh job claims: active connections with a refresh due, soonest first.
CREATE INDEX connections_refresh_due ON connections (refresh_due_at)
    WHERE refresh_due_at IS NOT NULL;
