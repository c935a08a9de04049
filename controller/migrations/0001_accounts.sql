-- Customers, staff, roles, sessions and login throttling.
-- Every timestamp is written by the controller from its injected clock (never now()), so tests
-- can move time; defaults only cover rows written by hand.

CREATE TABLE customers (
  id            bigserial PRIMARY KEY,
  email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
  password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  display_name  text NOT NULL DEFAULT '',
  phone         text,
  status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_email_key ON customers (lower(email));

CREATE TABLE staff (
  id            bigserial PRIMARY KEY,
  email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
  password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  display_name  text NOT NULL DEFAULT '',
  active        boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX staff_email_key ON staff (lower(email));

CREATE TABLE staff_roles (
  staff_id bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
  role     text NOT NULL CHECK (role IN ('checker', 'packer', 'delivery', 'manager',
                                         'user_admin', 'super_admin')),
  PRIMARY KEY (staff_id, role)
);

-- Opaque session tokens: only the SHA-256 of the token is stored, so a database leak does not
-- hand out live sessions.
CREATE TABLE sessions (
  id           bigserial PRIMARY KEY,
  token_sha256 bytea NOT NULL UNIQUE,
  account_kind text NOT NULL CHECK (account_kind IN ('customer', 'staff')),
  account_id   bigint NOT NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  revoked_at   timestamptz,
  address      text
);
CREATE INDEX sessions_account_idx ON sessions (account_kind, account_id) WHERE revoked_at IS NULL;

-- Failed logins, one row each; counted in a sliding window per account and per address. Kept in
-- the database so every replica sees the same counts.
CREATE TABLE login_failures (
  id          bigserial PRIMARY KEY,
  scope       text NOT NULL CHECK (scope IN ('customer', 'staff')),
  account_key text NOT NULL,   -- the lower-cased email tried, whether or not it exists
  address     text NOT NULL,
  at          timestamptz NOT NULL,
  -- A successful login clears the account's count but the row still counts for its address.
  account_cleared boolean NOT NULL DEFAULT false
);
CREATE INDEX login_failures_account_idx ON login_failures (scope, account_key, at);
CREATE INDEX login_failures_address_idx ON login_failures (address, at);
