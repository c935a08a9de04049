-- Token signing keys (public half and status; the private half lives in the key directory) and
-- the tokens issued with them.

CREATE TABLE signing_keys (
  key_id     integer PRIMARY KEY CHECK (key_id BETWEEN 1 AND 65535),
  public_pem text NOT NULL,
  status     text NOT NULL CHECK (status IN ('active', 'retiring', 'retired')),
  created_at timestamptz NOT NULL,
  retired_at timestamptz
);
-- At most one active key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE status = 'active';

CREATE TABLE issued_tokens (
  token_id     text PRIMARY KEY CHECK (token_id ~ '^[0-9a-f]{16}$'),
  key_id       integer NOT NULL REFERENCES signing_keys (key_id),
  action       text NOT NULL,
  box_id       text NOT NULL REFERENCES boxes (id),
  compartments integer[] NOT NULL,
  order_ref    bigint NOT NULL DEFAULT 0,
  not_before   timestamptz NOT NULL,
  expires      timestamptz NOT NULL,
  issued_by    bigint REFERENCES staff (id),
  issued_at    timestamptz NOT NULL
);
CREATE INDEX issued_tokens_box_idx ON issued_tokens (box_id, expires);
