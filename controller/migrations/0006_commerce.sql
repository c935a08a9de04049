-- Payments (through the provider adapter), sustainability coins, offline coupons and the
-- notification outbox.

CREATE TABLE payments (
  id              bigserial PRIMARY KEY,
  order_id        bigint NOT NULL REFERENCES buying_orders (id),
  kind            text NOT NULL CHECK (kind IN ('charge', 'refund')),
  -- One key per payment attempt, reused on every retry: the provider charges a key at most once.
  idempotency_key text NOT NULL UNIQUE,
  amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
  currency        text NOT NULL DEFAULT 'EUR',
  method_ref      text,          -- the provider's payment method (charges); never a card number
  state           text NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
  provider_ref    text,          -- charge or refund id at the provider
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text,
  next_attempt_at timestamptz,   -- pending: when the worker may try again
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX payments_one_charge_per_order ON payments (order_id) WHERE kind = 'charge';
CREATE UNIQUE INDEX payments_one_refund_per_order ON payments (order_id) WHERE kind = 'refund';
CREATE INDEX payments_pending_idx ON payments (next_attempt_at) WHERE state = 'pending';

-- The balance is the sum of the records; nothing stores a balance that could drift. Automatic
-- awards carry their cause, and the unique key makes each cause pay out once.
CREATE TABLE coin_ledger (
  id          bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers (id),
  delta       integer NOT NULL CHECK (delta <> 0),
  reason      text NOT NULL,
  ref_kind    text,
  ref_id      bigint,
  created_by  bigint REFERENCES staff (id),
  created_at  timestamptz NOT NULL,
  UNIQUE (reason, ref_kind, ref_id)
);
CREATE INDEX coin_ledger_customer_idx ON coin_ledger (customer_id, id);

CREATE TABLE coupons (
  id           bigserial PRIMARY KEY,
  code         text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9-]{6,32}$'),
  customer_id  bigint REFERENCES customers (id),
  percent_off  integer CHECK (percent_off BETWEEN 1 AND 100),
  amount_cents bigint CHECK (amount_cents > 0),
  description  text NOT NULL DEFAULT '',
  source       text NOT NULL CHECK (source IN ('donation_reward', 'staff')),
  donation_id  bigint REFERENCES donations (id),
  issued_by    bigint REFERENCES staff (id),
  issued_at    timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  redeemed_at  timestamptz,
  CHECK ((percent_off IS NULL) <> (amount_cents IS NULL))
);
CREATE INDEX coupons_customer_idx ON coupons (customer_id, id);
CREATE UNIQUE INDEX coupons_one_per_donation ON coupons (donation_id) WHERE donation_id IS NOT NULL;

-- Usage records: the unique coupon_id is the "redeemed once" guarantee.
CREATE TABLE coupon_redemptions (
  id          bigserial PRIMARY KEY,
  coupon_id   bigint NOT NULL UNIQUE REFERENCES coupons (id),
  redeemed_by bigint REFERENCES staff (id),
  place       text NOT NULL DEFAULT '',
  redeemed_at timestamptz NOT NULL,
  request_id  text
);

-- Outbox: written in the same transaction as its cause, delivered (at least once) by the
-- notification sender.
CREATE TABLE notifications (
  id              bigserial PRIMARY KEY,
  recipient_kind  text NOT NULL CHECK (recipient_kind IN ('customer', 'staff')),
  recipient_id    bigint NOT NULL,
  kind            text NOT NULL,
  payload         jsonb NOT NULL,
  dedup_key       text UNIQUE,
  created_at      timestamptz NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  last_error      text,
  sent_at         timestamptz
);
CREATE INDEX notifications_unsent_idx ON notifications (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX notifications_recipient_idx ON notifications (recipient_kind, recipient_id, id);
