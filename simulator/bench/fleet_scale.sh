#!/bin/sh
# How many simulated boxes one reclothes-sim process runs on this machine, and what a box costs.
#
#   simulator/bench/fleet_scale.sh [RECLOTHES_SIM] [SIZES] [SECONDS]
#   e.g. simulator/bench/fleet_scale.sh build/rel/simulator/reclothes-sim "100 1000 2000 3000" 60
#
# Measures the raw baseline in the same run (mosquitto_pub QoS 1 messages per second, as
# DESIGN.md asks: figures beside a raw baseline, because these machines are shared and noisy),
# then runs `reclothes-sim fleet` at each size against its own fresh Mosquitto on a free loopback
# port and prints one row per size. A size "keeps up" when every box is connected, no box failed,
# and the worst step lag stays under 2 s. Use a Release or RelWithDebInfo build: a Debug build
# measures the compiler, not the design. Extra fleet options go in FLEET_OPTS.
set -eu

sim="${1:-build/h-sim-release/simulator/reclothes-sim}"
sizes="${2:-100 500 1000 2000 3000}"
seconds="${3:-45}"
fleet_opts="${FLEET_OPTS:---step-hz 1 --events-per-minute 2 --state-interval 60 --ack}"
[ -x "$sim" ] || { echo "fleet_scale: $sim is not an executable (build reclothes-sim)" >&2; exit 2; }
command -v mosquitto >/dev/null || { echo "fleet_scale: mosquitto is not installed" >&2; exit 2; }

work="$(mktemp -d /tmp/reclothes-fleet-bench-XXXXXX)"
chmod 755 "$work"
broker_pid=""
port=0
broker=""

start_broker() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  {
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "max_queued_messages 100000"
  } > "$work/mosquitto.conf"
  mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
  broker_pid=$!
  sleep 0.5
  broker="tcp://127.0.0.1:$port"
}

stop_broker() {
  if [ -n "$broker_pid" ]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  broker_pid=""
}

cleanup() {
  stop_broker
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Every box holds a broker connection and 3 journal files: use the whole hard limit (the fleet
# refuses to start, saying so, when a size needs more).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Raw baseline: QoS 1 publishes per second through a broker, 32-byte payloads.
start_broker
n=20000
start=$(date +%s.%N)
mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t bench/raw -m 0123456789abcdef0123456789abcdef --repeat $n
end=$(date +%s.%N)
raw=$(python3 -c "print(round($n / ($end - $start)))")
stop_broker
echo "baseline: mosquitto_pub QoS 1: $raw msg/s; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); fleet options: $fleet_opts; ${seconds}s per size"
echo "boxes | connected | setup s | RSS MB | RSS/box KB | CPU % (of 1 core) | steps/s | max lag ms | events/s | visits | backlog | keeps up"
echo "---|---|---|---|---|---|---|---|---|---|---|---"

for boxes in $sizes; do
  # A fresh broker per size: persistent sessions of the previous size must not load this one.
  start_broker
  # shellcheck disable=SC2086
  "$sim" fleet --boxes "$boxes" --broker "$broker" --duration "$seconds" --progress 3600 \
      --box-prefix "s$boxes-" --json-out "$work/summary.json" --log-level error $fleet_opts \
      > /dev/null 2> "$work/fleet.err" || true
  stop_broker
  if [ ! -s "$work/summary.json" ]; then
    echo "$boxes | fleet failed: $(tail -1 "$work/fleet.err")"
    continue
  fi
  python3 - "$work/summary.json" "$boxes" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
boxes = int(sys.argv[2])
r = s["resources"]
keeps_up = s["connected"] == boxes and s["boxes_failed"] == 0 and s["max_step_lag_ms"] < 2000
print(f'{boxes} | {s["connected"]} | {s["setup_s"]} | {r["rss_kb"] // 1024} | {r["rss_per_box_kb"]} | '
      f'{r["cpu_percent"]} | {s["steps_per_s"]} | {s["max_step_lag_ms"]} | '
      f'{round(s["events"]["journaled"] / s["elapsed_s"], 1)} | {s["visits"]["completed"]} | '
      f'{s["events"]["backlog"]} | {"yes" if keeps_up else "NO"}')
PY
  rm -f "$work/summary.json"
done
