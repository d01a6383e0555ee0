-- PostgreSQL only: its ledger id columns take the ids' "C" collation so their indexes serve
-- lookups by order and item. SQLite compares text one way (BINARY) already.
SELECT 1;
