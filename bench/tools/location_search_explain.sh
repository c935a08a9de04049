#!/usr/bin/env bash
# The location search's first statement (GET /v1/locations, docs/performance.md "Location
# search") on a scratch PostgreSQL cluster with the controller's migrations and 5,000 locations /
# 10,000 active boxes / 120,000 compartments: EXPLAIN ANALYZE execution times, three runs each,
# of the lat/lon-box prefilter (what the store runs; the exact distance is then computed in C++)
# against the exact haversine in SQL with and without the box, and of the point-less queries.
# Not part of scripts/bench (it prints plan times, not a figure with a baseline).
#
#   sudo bench/tools/location_search_explain.sh     # runs initdb/postgres as the postgres user
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
[ -x "$bin/initdb" ] || bin=/usr/lib/postgresql/15/bin
work=$(mktemp -d /tmp/location-search.XXXXXX)
chown postgres "$work"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
runuser -u postgres -- "$bin/initdb" -D "$work/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -o "-p $port -k $work -c listen_addresses=''" -l "$work/pg.log" start >/dev/null
trap 'runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null; rm -rf "$work"' EXIT
P="psql -h $work -p $port -U postgres -q -v ON_ERROR_STOP=1"
for f in "$root"/controller/migrations/*.sql; do $P -f "$f" >/dev/null; done
$P <<'SQL'
INSERT INTO locations (name, lat, lon)
  SELECT 'L' || i, 47 + random() * 8, 6 + random() * 9 FROM generate_series(1, 5000) i;
INSERT INTO boxes (id, location_id, status, online)
  SELECT 'b' || l.id || '-' || k, l.id, 'active', true FROM locations l, generate_series(1, 2) k;
INSERT INTO compartments (box_id, number, size_class)
  SELECT b.id, n, (ARRAY['S','M','L','XL'])[1 + (n % 4)] FROM boxes b, generate_series(1, 12) n;
ANALYZE;
SQL
# free_compartment_sql() of controller/src/domain/store/shared.cpp, with now() for the time.
FREE="(b.status = 'active' AND NOT b.maintenance AND c.state NOT IN ('out_of_service','jammed','forced','ajar','open','unlocked','occupied') AND NOT EXISTS (SELECT 1 FROM compartment_holds h WHERE h.box_id = c.box_id AND h.compartment = c.number) AND NOT EXISTS (SELECT 1 FROM compartment_reservations r WHERE r.box_id = c.box_id AND r.compartment = c.number AND r.until > now()) AND NOT EXISTS (SELECT 1 FROM box_faults f WHERE f.box_id = c.box_id AND f.cleared_at IS NULL AND (f.compartment = c.number OR (f.compartment IS NULL AND f.kind = 'tamper'))))"
# 10 km around Berlin (52.5219, 13.4132): bounds_around() of rules/geo.cpp.
BBOX="l.lat BETWEEN 52.4320 AND 52.6118 AND l.lon BETWEEN 13.2654 AND 13.5610"
HAV="2 * 6371008.8 * asin(sqrt(power(sin(radians(l.lat - 52.5219) / 2), 2) + cos(radians(52.5219)) * cos(radians(l.lat)) * power(sin(radians(l.lon - 13.4132) / 2), 2)))"
SIZE="EXISTS (SELECT 1 FROM compartments c JOIN boxes b ON b.id = c.box_id WHERE b.location_id = l.id AND c.size_class = ANY('{M,L,XL}'::text[]) AND $FREE)"
ACTIVE="EXISTS (SELECT 1 FROM boxes b WHERE b.location_id = l.id AND b.status = 'active')"
q() {
  echo "== $1"
  for _ in 1 2 3; do
    $P -c "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) $2" | grep -E "Execution Time"
  done
}
q "lat/lon box, 10 km (the store's statement; exact distance in C++)" "SELECT l.id, l.lat, l.lon FROM locations l WHERE $ACTIVE AND $BBOX ORDER BY l.id"
q "lat/lon box, 10 km, size M" "SELECT l.id, l.lat, l.lon FROM locations l WHERE $ACTIVE AND $BBOX AND $SIZE ORDER BY l.id"
q "haversine in SQL over every location" "SELECT l.id, $HAV AS d FROM locations l WHERE $ACTIVE AND $HAV <= 10000 ORDER BY d, l.id"
q "haversine in SQL behind the box" "SELECT l.id, $HAV AS d FROM locations l WHERE $ACTIVE AND $BBOX AND $HAV <= 10000 ORDER BY d, l.id"
q "no point: every location" "SELECT l.id, l.lat, l.lon FROM locations l WHERE $ACTIVE ORDER BY l.id"
q "no point, size M: the free condition over the fleet" "SELECT l.id, l.lat, l.lon FROM locations l WHERE $ACTIVE AND $SIZE ORDER BY l.id"
