-- Alarms (issue 18, item 7; docs/orders.md, "Alarms"): open faults notify the staff on call for
-- their box's location, once per fault and staff member, with a reminder while nobody has
-- acknowledged them; staff acknowledge and resolve faults; a box not seen for too long has a fault
-- of kind offline.

-- Any fault kind: the alarms have no per-kind code, and kinds come from events (jammed, forced,
-- ajar, tamper, out_of_service, unlock_unknown), the worker (offline) and the domain
-- (late_deposit_conflict, ...). Whatever CHECK on kind an earlier migration left (0003 lists the
-- event kinds; another may have widened it) gives way to a check of the name's form.
DO $$
DECLARE
  c record;
BEGIN
  FOR c IN
    SELECT conname FROM pg_constraint
    WHERE conrelid = 'box_faults'::regclass AND contype = 'c'
      AND pg_get_constraintdef(oid) LIKE '%kind%'
  LOOP
    EXECUTE format('ALTER TABLE box_faults DROP CONSTRAINT %I', c.conname);
  END LOOP;
END
$$;
ALTER TABLE box_faults ADD CONSTRAINT box_faults_kind_form CHECK (kind ~ '^[a-z][a-z_]{0,39}$');
-- An offline fault has no event behind it.
ALTER TABLE box_faults ALTER COLUMN event_seq DROP NOT NULL;

-- The fault's state: open (cleared_at and acknowledged_at null), acknowledged (acknowledged_at
-- set, still open), resolved (cleared_at set: by the box, or by staff when resolved_by is set).
ALTER TABLE box_faults ADD COLUMN acknowledged_at timestamptz;
ALTER TABLE box_faults ADD COLUMN acknowledged_by bigint REFERENCES staff (id);
ALTER TABLE box_faults ADD COLUMN acknowledge_note text;
ALTER TABLE box_faults ADD COLUMN resolved_by bigint REFERENCES staff (id);
ALTER TABLE box_faults ADD COLUMN resolve_note text;
-- The alarm bookkeeping: when the first alarm was queued, how many reminders went out and when the
-- last alarm or reminder was queued, and when the closing notice was queued.
ALTER TABLE box_faults ADD COLUMN alarmed_at timestamptz;
ALTER TABLE box_faults ADD COLUMN last_alarm_at timestamptz;
ALTER TABLE box_faults ADD COLUMN reminders_sent integer NOT NULL DEFAULT 0;
ALTER TABLE box_faults ADD COLUMN close_notified_at timestamptz;
-- Faults resolved before alarms existed were never alarmed (alarmed_at null): no closing notice for
-- them. Open ones are alarmed by the next worker pass.
CREATE INDEX box_faults_list_idx ON box_faults (opened_at DESC, id DESC);
CREATE INDEX box_faults_closing_idx ON box_faults (id)
  WHERE cleared_at IS NOT NULL AND alarmed_at IS NOT NULL AND close_notified_at IS NULL;

-- Staff on call per location; optionally only within a daily window (UTC minutes of the day,
-- from inclusive, until exclusive; a window may span midnight: 22:00-06:00).
CREATE TABLE staff_on_call (
  location_id  bigint NOT NULL REFERENCES locations (id),
  staff_id     bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
  from_minute  integer CHECK (from_minute BETWEEN 0 AND 1439),
  until_minute integer CHECK (until_minute BETWEEN 0 AND 1439),
  created_at   timestamptz NOT NULL,
  created_by   bigint REFERENCES staff (id),
  PRIMARY KEY (location_id, staff_id),
  CHECK ((from_minute IS NULL) = (until_minute IS NULL)),
  CHECK (from_minute IS NULL OR from_minute <> until_minute)
);
CREATE INDEX staff_on_call_staff_idx ON staff_on_call (staff_id);

-- Who was alarmed about which fault: one row per (fault, staff member, kind, n) with the
-- time its notification was queued. kind: opened (n 0), reminder (n 1, 2, ...), closed (n 0).
CREATE TABLE fault_alarms (
  fault_id        bigint NOT NULL REFERENCES box_faults (id),
  staff_id        bigint NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
  kind            text NOT NULL CHECK (kind IN ('opened', 'reminder', 'closed')),
  n               integer NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (fault_id, staff_id, kind, n)
);

-- At most one open offline fault per box, also with several controller replicas sweeping.
CREATE UNIQUE INDEX box_faults_one_open_offline_idx ON box_faults (box_id)
  WHERE kind = 'offline' AND cleared_at IS NULL;
