-- No-shows (issue 18, item 2; docs/orders.md, "No-shows"). A parcel waits buying.pickup_window_s
-- from the courier's load; then the worker moves the order to pickup_expired, revokes its pickup
-- token at the box and makes a collecting order that brings the parcel back; the courier's
-- collect ends the order by the policy: refunded (refund) or restocked (restock).

ALTER TABLE buying_orders DROP CONSTRAINT buying_orders_state_check;
ALTER TABLE buying_orders ADD CONSTRAINT buying_orders_state_check CHECK (state IN (
  'payment_pending', 'payment_failed', 'paid', 'packed', 'shipping', 'ready_for_pickup',
  'completed', 'cancelled', 'return_requested', 'returned', 'return_collected', 'refunded',
  'pickup_expired', 'restocked'));

-- ready_at: when the order became ready_for_pickup (the window counts from here; pickup_until is
-- ready_at + the window). pickup_reminders_sent: how many of the pickup reminders went out (the
-- first also sets expiry_notified, as before). pickup_expired_at: when the window ended unused.
-- no_show_collecting_id: the collecting order that brings the parcel back.
ALTER TABLE buying_orders
  ADD COLUMN ready_at              timestamptz,
  ADD COLUMN pickup_reminders_sent integer NOT NULL DEFAULT 0,
  ADD COLUMN pickup_expired_at     timestamptz,
  ADD COLUMN no_show_collecting_id bigint REFERENCES internal_orders (id);
UPDATE buying_orders SET pickup_reminders_sent = 1 WHERE expiry_notified;
UPDATE buying_orders SET ready_at = updated_at WHERE state = 'ready_for_pickup';

-- The expiry pass's lookup.
CREATE INDEX buying_orders_pickup_due_idx ON buying_orders (pickup_until)
  WHERE state = 'ready_for_pickup';

-- A collecting order may bring back a parcel nobody picked up (source: the buying order).
ALTER TABLE collecting_items DROP CONSTRAINT collecting_items_source_kind_check;
ALTER TABLE collecting_items ADD CONSTRAINT collecting_items_source_kind_check
  CHECK (source_kind IN ('donation', 'return', 'pickup'));
