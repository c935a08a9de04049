-- Issue 18, items 4 and 5: donor returns (a donor asks for a donated item back) and coins that
-- follow refunds (take-backs, debts). docs/orders.md, "Donor returns" and "Coins follow refunds".

-- A buying order is a purchase, or the delivery of a donated item back to its donor: the same
-- packing, shipping and pickup, with nothing to pay (total 0, no charge, no refund, no coins).
ALTER TABLE buying_orders ADD COLUMN kind text NOT NULL DEFAULT 'purchase'
  CHECK (kind IN ('purchase', 'donor_return'));
ALTER TABLE buying_orders DROP CONSTRAINT buying_orders_total_cents_check;
ALTER TABLE buying_orders ADD CONSTRAINT buying_orders_total_cents_check
  CHECK (total_cents > 0 OR (kind = 'donor_return' AND total_cents = 0));
ALTER TABLE buying_order_items DROP CONSTRAINT buying_order_items_price_cents_check;
ALTER TABLE buying_order_items ADD CONSTRAINT buying_order_items_price_cents_check
  CHECK (price_cents >= 0);

-- A donor's request to get one donated item back. States (controller/src/domain/rules/
-- state_machines.cpp): requested -> approved (a buying order of kind donor_return delivers it)
-- or refused (with the staff member's reason).
CREATE TABLE donor_returns (
  id               bigserial PRIMARY KEY,
  customer_id      bigint NOT NULL REFERENCES customers (id),
  donation_id      bigint NOT NULL REFERENCES donations (id),
  donation_item_id bigint NOT NULL REFERENCES donation_items (id),
  product_id       bigint NOT NULL REFERENCES products (id),
  location_id      bigint NOT NULL REFERENCES locations (id),  -- where the donor picks it up
  state            text NOT NULL CHECK (state IN ('requested', 'approved', 'refused')),
  note             text NOT NULL DEFAULT '',  -- the donor's
  refusal_reason   text,
  decided_by       bigint REFERENCES staff (id),
  buying_order_id  bigint REFERENCES buying_orders (id),
  coins_taken      integer NOT NULL DEFAULT 0,  -- reward coins taken back (ledger + debt)
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  decided_at       timestamptz
);
-- One live request per item (a refused one may be asked again).
CREATE UNIQUE INDEX donor_returns_one_per_item ON donor_returns (donation_item_id)
  WHERE state <> 'refused';
CREATE INDEX donor_returns_customer_idx ON donor_returns (customer_id, id);
CREATE INDEX donor_returns_state_idx ON donor_returns (state, id);

-- Coins taken back that the balance could not cover: the ledger never goes below zero, the rest
-- is owed here and later credits pay it off first (a 'debt_repayment' ledger record each).
-- coins_store.cpp is the one place that writes both.
CREATE TABLE coin_debts (
  id          bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers (id),
  amount      integer NOT NULL CHECK (amount > 0),
  outstanding integer NOT NULL CHECK (outstanding >= 0 AND outstanding <= amount),
  reason      text NOT NULL,
  ref_kind    text NOT NULL,
  ref_id      bigint NOT NULL,
  created_at  timestamptz NOT NULL,
  settled_at  timestamptz,
  UNIQUE (reason, ref_kind, ref_id)
);
CREATE INDEX coin_debts_open_idx ON coin_debts (customer_id, id) WHERE outstanding > 0;
