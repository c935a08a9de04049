-- Notifications customers can rely on (issue 17, item 5; docs/orders.md, "Notifications").
--
-- The notifications table stays the outbox and becomes the customer's in-app list as well
-- (read_at). Delivery is per channel: the worker fans each notification out into one delivery row
-- per enabled channel (log, webhook, smtp) that the recipient has not switched off, and each row
-- is attempted, retried and marked sent on its own, so a failing mail server never resends the
-- webhook. notifications.sent_at is set when every delivery row is sent (or when there was none
-- to make: an erased customer, every channel switched off).

ALTER TABLE notifications ADD COLUMN read_at timestamptz;
ALTER TABLE notifications ADD COLUMN fanned_out_at timestamptz;
-- Rows delivered before this migration need no fan-out.
UPDATE notifications SET fanned_out_at = sent_at WHERE sent_at IS NOT NULL;
CREATE INDEX notifications_fan_out_idx ON notifications (id) WHERE fanned_out_at IS NULL;
CREATE INDEX notifications_unread_idx ON notifications (recipient_kind, recipient_id, id)
  WHERE read_at IS NULL;

CREATE TABLE notification_deliveries (
  notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
  channel         text NOT NULL CHECK (channel IN ('log', 'webhook', 'smtp')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  last_error      text,
  sent_at         timestamptz,
  PRIMARY KEY (notification_id, channel)
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (channel, next_attempt_at)
  WHERE sent_at IS NULL;

-- A customer's choice of channels (no row: everything on). The in-app list always records.
CREATE TABLE notification_preferences (
  customer_id bigint PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
  email       boolean NOT NULL DEFAULT true,
  webhook     boolean NOT NULL DEFAULT true,
  updated_at  timestamptz NOT NULL
);

-- (The pickup reminder is sent once per order: buying_orders.expiry_notified, 0005, marks it.)
