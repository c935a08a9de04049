-- Customer service acts on a customer's orders (issue 18, item 1; docs/orders.md "Orders on a
-- customer's behalf"): an order may have several refunds (partial ones, each with the reason and
-- the staff member who issued it), and every state change of a buying order or a donation is kept
-- with its time and, where the change says so, its actor.

-- Several refunds per order. The idempotency key stays unique: the automatic refund of a cancel
-- or a return keeps its key order-<id>-refund (so at most one of those), a staff refund gets
-- order-<id>-refund-staff-<n>. What may still be refunded is the succeeded charge minus the
-- refunds that are not failed; the store checks it under the order's row lock.
DROP INDEX payments_one_refund_per_order;
ALTER TABLE payments ADD COLUMN reason text;
ALTER TABLE payments ADD COLUMN requested_by bigint REFERENCES staff (id);
CREATE INDEX payments_order_idx ON payments (order_id, id);

-- The state history, written by triggers so that no code path can change a state unrecorded.
-- actor and reason come from the transaction's settings reclothes.actor ("staff:<id>") and
-- reclothes.reason (set_config(..., true)) when the writer set them; NULL otherwise (the view
-- then names the usual actor of that transition).
CREATE TABLE order_transitions (
  id         bigserial PRIMARY KEY,
  order_kind text NOT NULL CHECK (order_kind IN ('buying', 'donating')),
  order_id   bigint NOT NULL,
  from_state text,            -- NULL: the order was created in to_state
  to_state   text NOT NULL,
  actor      text,
  reason     text,
  at         timestamptz NOT NULL  -- the row's updated_at (created_at): the controller's clock
);
CREATE INDEX order_transitions_order_idx ON order_transitions (order_kind, order_id, id);

CREATE FUNCTION record_order_transition() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  from_state text;
  at_time timestamptz;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.state IS NOT DISTINCT FROM NEW.state THEN
      RETURN NULL;
    END IF;
    from_state := OLD.state;
    at_time := NEW.updated_at;
  ELSE
    from_state := NULL;
    at_time := NEW.created_at;
  END IF;
  INSERT INTO order_transitions (order_kind, order_id, from_state, to_state, actor, reason, at)
  VALUES (TG_ARGV[0], NEW.id, from_state, NEW.state,
          NULLIF(current_setting('reclothes.actor', true), ''),
          NULLIF(current_setting('reclothes.reason', true), ''), at_time);
  RETURN NULL;
END;
$$;

CREATE TRIGGER buying_orders_transitions AFTER INSERT OR UPDATE OF state ON buying_orders
  FOR EACH ROW EXECUTE FUNCTION record_order_transition('buying');
CREATE TRIGGER donations_transitions AFTER INSERT OR UPDATE OF state ON donations
  FOR EACH ROW EXECUTE FUNCTION record_order_transition('donating');

-- The staff search: by state and box (the customer and id indexes exist).
CREATE INDEX buying_orders_state_idx ON buying_orders (state, id);
CREATE INDEX donations_state_idx ON donations (state, id);
