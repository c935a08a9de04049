-- Drop-off locations, boxes, compartments, the applied event log, faults and commands.

CREATE TABLE locations (
  id         bigserial PRIMARY KEY,
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  address    text NOT NULL DEFAULT '',
  lat        double precision CHECK (lat BETWEEN -90 AND 90),
  lon        double precision CHECK (lon BETWEEN -180 AND 180),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE boxes (
  id                       text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,32}$'),
  location_id              bigint REFERENCES locations (id),
  status                   text NOT NULL DEFAULT 'registered'
                             CHECK (status IN ('registered', 'active', 'decommissioned')),
  maintenance              boolean NOT NULL DEFAULT false,
  online                   boolean NOT NULL DEFAULT false,
  last_seen                timestamptz,
  firmware_version         text,
  last_state               jsonb,
  last_state_at            timestamptz,
  last_applied_seq         bigint NOT NULL DEFAULT 0 CHECK (last_applied_seq >= 0),
  config_revision          bigint NOT NULL DEFAULT 0,
  config_published_revision bigint NOT NULL DEFAULT 0,
  created_at               timestamptz NOT NULL DEFAULT now(),
  decommissioned_at        timestamptz
);

CREATE TABLE compartments (
  box_id       text NOT NULL REFERENCES boxes (id),
  number       integer NOT NULL CHECK (number BETWEEN 1 AND 255),
  size_class   text NOT NULL CHECK (size_class IN ('S', 'M', 'L', 'XL')),
  state        text NOT NULL DEFAULT 'unknown',
  door_open    boolean NOT NULL DEFAULT false,
  fill_percent integer CHECK (fill_percent BETWEEN 0 AND 100),
  updated_at   timestamptz,
  PRIMARY KEY (box_id, number)
);

-- Each (box, seq) at most once: the primary key is what makes redelivery harmless.
CREATE TABLE box_events (
  box_id      text NOT NULL REFERENCES boxes (id),
  seq         bigint NOT NULL CHECK (seq >= 1),
  kind        text NOT NULL,
  at          timestamptz NOT NULL,       -- box wall clock
  compartment integer,
  payload     jsonb NOT NULL,
  applied_at  timestamptz NOT NULL,       -- controller clock
  PRIMARY KEY (box_id, seq)
);

CREATE TABLE box_faults (
  id          bigserial PRIMARY KEY,
  box_id      text NOT NULL REFERENCES boxes (id),
  compartment integer,
  kind        text NOT NULL CHECK (kind IN ('jammed', 'forced', 'ajar', 'tamper', 'out_of_service',
                                            'unlock_unknown')),
  event_seq   bigint NOT NULL,
  opened_at   timestamptz NOT NULL,
  cleared_at  timestamptz,
  detail      text
);
CREATE INDEX box_faults_open_idx ON box_faults (box_id) WHERE cleared_at IS NULL;

CREATE TABLE box_commands (
  id             text PRIMARY KEY,
  box_id         text NOT NULL REFERENCES boxes (id),
  op             text NOT NULL,
  compartment    integer,
  reason         text,
  requested_by   bigint REFERENCES staff (id),
  created_at     timestamptz NOT NULL,
  published_at   timestamptz,
  executed_seq   bigint,
  result_ok      boolean,
  result_code    text,
  result_message text,
  result_at      timestamptz
);
CREATE INDEX box_commands_box_idx ON box_commands (box_id, created_at);

-- What goes into each box's retained config besides keys and maintenance. The order domain
-- writes reservations; the token service writes revocations.
CREATE TABLE compartment_reservations (
  box_id      text NOT NULL REFERENCES boxes (id),
  compartment integer NOT NULL,
  order_ref   bigint NOT NULL,
  action      text NOT NULL,
  until       timestamptz NOT NULL,
  PRIMARY KEY (box_id, compartment),
  FOREIGN KEY (box_id, compartment) REFERENCES compartments (box_id, number)
);

CREATE TABLE revoked_tokens (
  token_id   text PRIMARY KEY CHECK (token_id ~ '^[0-9a-f]{16}$'),
  box_id     text REFERENCES boxes (id),
  expires    timestamptz NOT NULL,
  revoked_at timestamptz NOT NULL
);
