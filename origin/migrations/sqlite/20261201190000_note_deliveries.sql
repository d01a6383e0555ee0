-- A delivery made through the marketplace itself: an Etsy order without a usable buyer email
-- is delivered in the `note_to_buyer` of its createReceiptShipment, which Etsy emails to the
-- buyer. Such a call is a fulfilment row of kind 'deliver' (a plain mark is 'mark'); its
-- units wait in the ledger as 'reserved' (code and links taken, token held) while the call is
-- made, and are charged only when Etsy takes it, or released if Etsy refuses.
ALTER TABLE fulfilments ADD COLUMN kind TEXT NOT NULL DEFAULT 'mark';
