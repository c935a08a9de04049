-- Idempotency-Key of the customer POSTs that create something (docs/controller.md, "Safe
-- retries"). A request claims its (customer, key) row before its handler runs: state
-- 'in_progress', owned by the request id until claimed_until. The first response that may be
-- replayed (2xx, 4xx except 429) is written into the row, for a handler that works in the
-- request's transaction in that same transaction, so an order never commits without its key's
-- response nor the other way round. A 5xx, a 429 or a crash leaves no finished row: the retry
-- runs again (a crashed owner's claim is taken over once claimed_until has passed).
CREATE TABLE idempotency_keys (
  customer_id bigint NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  request_hash text NOT NULL,  -- SHA-256 hex of method, path, customer and canonical body
  state text NOT NULL CHECK (state IN ('in_progress', 'done')),
  owner text NOT NULL,  -- request id of the request that holds or held the claim
  status integer,       -- set when done
  content_type text,
  body text,
  created_at timestamptz NOT NULL,
  claimed_until timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (customer_id, key)
);

-- The worker deletes expired keys in batches by this index.
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
