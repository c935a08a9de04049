-- Issue 18, items 3 and 8: stuck internal orders and offline conflicts (docs/orders.md, "Stuck
-- internal orders" and "Offline conflicts").

-- Which token a box consumed, at which of its seqs and when: one row per unlocked event that
-- carried a token (a courier token has one per compartment it opened). Written in the event's
-- own transaction, so it holds exactly what was applied.
CREATE TABLE token_consumptions (
  box_id       text NOT NULL REFERENCES boxes (id),
  seq          bigint NOT NULL,
  token_id     text NOT NULL,
  compartment  integer,
  action       text,
  order_ref    bigint,
  consumed_at  timestamptz NOT NULL,  -- box wall clock (the event's at)
  applied_at   timestamptz NOT NULL,  -- controller clock
  fill_percent integer,               -- the compartment's last fill reading when it was opened
  PRIMARY KEY (box_id, seq)
);
CREATE INDEX token_consumptions_token_idx ON token_consumptions (token_id, seq);

-- A late offline deposit into a compartment another order holds is a fault of its own.
ALTER TABLE box_faults DROP CONSTRAINT IF EXISTS box_faults_kind_check;
ALTER TABLE box_faults ADD CONSTRAINT box_faults_kind_check
  CHECK (kind IN ('jammed', 'forced', 'ajar', 'tamper', 'out_of_service', 'unlock_unknown',
                  'late_deposit_conflict'));
-- Structured details of a fault (late_deposit_conflict: both orders, the token, the seq).
ALTER TABLE box_faults ADD COLUMN IF NOT EXISTS details jsonb;

-- What became of a collecting order's compartment that was not emptied: the door jammed, the
-- compartment was empty, or the order ended without it (cancelled or force-completed).
ALTER TABLE collecting_items ADD COLUMN outcome text
  CHECK (outcome IN ('jammed', 'empty', 'skipped'));

-- A note for the staff on an internal order (the offline conflict a collecting order resolves),
-- and the order that took over a cancelled one's work.
ALTER TABLE internal_orders ADD COLUMN note text;
ALTER TABLE internal_orders ADD COLUMN replaced_by bigint REFERENCES internal_orders (id);
