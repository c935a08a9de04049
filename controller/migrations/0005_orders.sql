-- The order domain: donations, buying orders, internal orders (checking, packing, collecting,
-- shipping), products, compartment holds. docs/orders.md explains the state machines; the CHECK
-- constraints below list the states each machine can be in (the transitions are code:
-- controller/src/domain/state_machines.cpp).

-- One id space for every order kind, so that a token's or reservation's order_ref names exactly
-- one order whatever its kind.
CREATE SEQUENCE order_ids;

-- Personal data can be erased (GDPR) while orders, payments and coins stay.
ALTER TABLE customers ADD COLUMN erased_at timestamptz;

CREATE TABLE products (
  id             bigserial PRIMARY KEY,
  title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  description    text NOT NULL DEFAULT '',
  category       text NOT NULL,
  size           text NOT NULL DEFAULT '',
  condition      text NOT NULL DEFAULT '',
  -- NULL: not priced yet, so not listed. Only prices.write changes it (price_history).
  price_cents    bigint CHECK (price_cents > 0),
  status         text NOT NULL DEFAULT 'available'
                   CHECK (status IN ('available', 'reserved', 'sold', 'withdrawn')),
  source_item_id bigint,   -- the donation item it came from, if any
  created_by     bigint REFERENCES staff (id),
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL
);
CREATE INDEX products_listed_idx ON products (category, price_cents)
  WHERE status = 'available' AND price_cents IS NOT NULL;

CREATE TABLE price_history (
  id              bigserial PRIMARY KEY,
  product_id      bigint NOT NULL REFERENCES products (id),
  old_price_cents bigint,
  new_price_cents bigint NOT NULL,
  changed_by      bigint NOT NULL REFERENCES staff (id),
  changed_at      timestamptz NOT NULL
);
CREATE INDEX price_history_product_idx ON price_history (product_id, id);

CREATE TABLE donations (
  id                  bigint PRIMARY KEY DEFAULT nextval('order_ids'),
  customer_id         bigint NOT NULL REFERENCES customers (id),
  location_id         bigint NOT NULL REFERENCES locations (id),
  state               text NOT NULL CHECK (state IN ('reserved', 'deposited', 'collected',
                                                     'completed', 'cancelled', 'expired')),
  size_class          text NOT NULL CHECK (size_class IN ('S', 'M', 'L', 'XL')),
  box_id              text NOT NULL REFERENCES boxes (id),
  compartment         integer NOT NULL,
  token_id            text,
  token_text          text,    -- the deposit token while it is usable; NULL afterwards
  reserved_until      timestamptz NOT NULL,
  expiry_notified     boolean NOT NULL DEFAULT false,
  collecting_order_id bigint,
  checking_order_id   bigint,
  reward              jsonb,
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL,
  deposited_at        timestamptz,
  collected_at        timestamptz,
  completed_at        timestamptz
);
CREATE INDEX donations_customer_idx ON donations (customer_id, id);
CREATE INDEX donations_reserved_idx ON donations (reserved_until) WHERE state = 'reserved';

CREATE TABLE donation_items (
  id              bigserial PRIMARY KEY,
  donation_id     bigint NOT NULL REFERENCES donations (id),
  position        integer NOT NULL CHECK (position BETWEEN 1 AND 20),
  category        text NOT NULL,
  count           integer NOT NULL CHECK (count BETWEEN 1 AND 50),
  condition_notes text NOT NULL DEFAULT '',
  UNIQUE (donation_id, position)
);

CREATE TABLE buying_orders (
  id                 bigint PRIMARY KEY DEFAULT nextval('order_ids'),
  customer_id        bigint NOT NULL REFERENCES customers (id),
  pickup_location_id bigint NOT NULL REFERENCES locations (id),
  state              text NOT NULL CHECK (state IN (
                       'payment_pending', 'payment_failed', 'paid', 'packed', 'shipping',
                       'ready_for_pickup', 'completed', 'cancelled', 'return_requested',
                       'returned', 'return_collected', 'refunded')),
  total_cents        bigint NOT NULL CHECK (total_cents > 0),
  currency           text NOT NULL DEFAULT 'EUR',
  -- Pickup compartment (from packing on) and the customer's pickup token (from loading on).
  box_id             text REFERENCES boxes (id),
  compartment        integer,
  pickup_until       timestamptz,
  pickup_token_id    text,
  pickup_token_text  text,
  -- Return through a box.
  return_box_id      text REFERENCES boxes (id),
  return_compartment integer,
  return_until       timestamptz,
  return_token_id    text,
  return_token_text  text,
  expiry_notified    boolean NOT NULL DEFAULT false,
  failure_reason     text,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  paid_at            timestamptz,
  completed_at       timestamptz,
  cancelled_at       timestamptz
);
CREATE INDEX buying_orders_customer_idx ON buying_orders (customer_id, id);

CREATE TABLE buying_order_items (
  order_id    bigint NOT NULL REFERENCES buying_orders (id),
  position    integer NOT NULL,
  product_id  bigint NOT NULL REFERENCES products (id),
  price_cents bigint NOT NULL CHECK (price_cents > 0),
  -- false once the sale is off (payment failed, order cancelled): the product may sell again.
  active      boolean NOT NULL DEFAULT true,
  PRIMARY KEY (order_id, position)
);
-- No double selling: a product is in at most one live order.
CREATE UNIQUE INDEX buying_order_items_one_live_sale ON buying_order_items (product_id)
  WHERE active;

CREATE TABLE cart_items (
  customer_id bigint NOT NULL REFERENCES customers (id),
  product_id  bigint NOT NULL REFERENCES products (id),
  added_at    timestamptz NOT NULL,
  PRIMARY KEY (customer_id, product_id)
);

CREATE TABLE internal_orders (
  id            bigint PRIMARY KEY DEFAULT nextval('order_ids'),
  kind          text NOT NULL CHECK (kind IN ('checking', 'packing', 'collecting', 'shipping')),
  state         text NOT NULL CHECK (state IN ('open', 'assigned', 'in_progress', 'done',
                                               'cancelled')),
  assignee_id   bigint REFERENCES staff (id),
  -- checking: 'donation' or 'return'; packing and shipping: 'buying'; collecting: NULL
  source_kind   text CHECK (source_kind IN ('donation', 'return', 'buying')),
  source_id     bigint,
  box_id        text REFERENCES boxes (id),      -- collecting, shipping
  compartments  integer[],                       -- collecting, shipping
  tracking_code text UNIQUE,                     -- collecting, shipping (the label)
  token_id      text,                            -- courier token of the current assignee
  token_text    text,
  trigger       text,                            -- collecting: count, fill_level, schedule, manual
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  assigned_at   timestamptz,
  done_at       timestamptz
);
CREATE INDEX internal_orders_kind_state_idx ON internal_orders (kind, state, id);
CREATE INDEX internal_orders_assignee_idx ON internal_orders (assignee_id, id);

-- What a checking order grades: donation items, or the products of a returned order.
CREATE TABLE checking_items (
  order_id         bigint NOT NULL REFERENCES internal_orders (id),
  position         integer NOT NULL,
  donation_item_id bigint REFERENCES donation_items (id),
  product_id       bigint REFERENCES products (id),
  grade            text CHECK (grade IN ('publish', 'recycle')),
  graded_by        bigint REFERENCES staff (id),
  graded_at        timestamptz,
  PRIMARY KEY (order_id, position)
);

-- The domain's claim on a compartment, from its reservation until it is emptied again. The
-- primary key is what keeps two orders out of one compartment.
CREATE TABLE compartment_holds (
  box_id              text NOT NULL,
  compartment         integer NOT NULL,
  order_id            bigint NOT NULL,
  purpose             text NOT NULL CHECK (purpose IN ('donation', 'pickup', 'return')),
  phase               text NOT NULL CHECK (phase IN ('reserved', 'filled')),
  since               timestamptz NOT NULL,
  filled_at           timestamptz,
  collecting_order_id bigint REFERENCES internal_orders (id),
  PRIMARY KEY (box_id, compartment),
  FOREIGN KEY (box_id, compartment) REFERENCES compartments (box_id, number)
);
CREATE UNIQUE INDEX compartment_holds_order_idx ON compartment_holds (order_id, purpose);

CREATE TABLE collecting_items (
  order_id     bigint NOT NULL REFERENCES internal_orders (id),
  compartment  integer NOT NULL,
  source_kind  text NOT NULL CHECK (source_kind IN ('donation', 'return')),
  source_id    bigint NOT NULL,
  collected_at timestamptz,
  PRIMARY KEY (order_id, compartment)
);

-- Boxes whose retained config must be republished because an event hook changed what goes into
-- it (hooks run inside the event transaction and cannot publish; the domain worker does).
CREATE TABLE domain_config_dirty (
  box_id text PRIMARY KEY REFERENCES boxes (id)
);
