-- The customer's own account (issue 17): one-time codes for a password reset and for an email
-- change, and the code requests counted for their limits. Times are written by the controller
-- from its injected clock (never now()).

-- A code is stored only as an Argon2id hash (like a password); the customer gets it through the
-- notification outbox (kinds password_reset and email_change). At most one open code per customer
-- and purpose: a new request closes the open one (closed_reason superseded).
CREATE TABLE account_codes (
  id            bigserial PRIMARY KEY,
  customer_id   bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  purpose       text NOT NULL CHECK (purpose IN ('password_reset', 'email_change')),
  code_hash     text NOT NULL CHECK (code_hash LIKE '$argon2id$%'),
  -- email_change only: the address the code was sent to and that the account switches to.
  new_email     text CHECK (new_email = lower(new_email) AND length(new_email) BETWEEN 3 AND 254),
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),  -- wrong codes tried
  used_at       timestamptz,
  closed_at     timestamptz,
  closed_reason text CHECK (closed_reason IN ('used', 'superseded', 'password_changed')),
  CHECK ((purpose = 'email_change') = (new_email IS NOT NULL)),
  CHECK ((closed_at IS NULL) = (closed_reason IS NULL)),
  CHECK (used_at IS NULL OR closed_reason = 'used')
);
CREATE UNIQUE INDEX account_codes_open_key ON account_codes (customer_id, purpose)
  WHERE closed_at IS NULL;
CREATE INDEX account_codes_customer_idx ON account_codes (customer_id, purpose, id);

-- Every code request, known address or not (so the limit answers the same for both), counted in
-- a sliding window per email and per client address. Rows older than twice the window go.
CREATE TABLE account_code_requests (
  id        bigserial PRIMARY KEY,
  purpose   text NOT NULL CHECK (purpose IN ('password_reset', 'email_change')),
  email_key text NOT NULL,  -- the lower-cased email asked for (email_change: the new address)
  address   text NOT NULL,
  at        timestamptz NOT NULL
);
CREATE INDEX account_code_requests_email_idx ON account_code_requests (purpose, email_key, at);
CREATE INDEX account_code_requests_address_idx ON account_code_requests (purpose, address, at);
