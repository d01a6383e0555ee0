-- Fencing for delivery emails: each claim of units for sending writes a fresh token, and only
-- the holder of that token may record the outcome (sent, retried, failed). A claim whose lease
-- ran out, or a unit replaced while its email was in flight, leaves the old holder's outcome
-- unrecorded. NULL: nobody holds the unit for sending.
ALTER TABLE deliveries ADD COLUMN send_claim TEXT;
