#!/usr/bin/env bash
# Fan-in and fan-out throughput of the STOMP, MQTT-SN and CoAP front-ends publishing to MQTT
# subscribers, next to MQTT publishing (issue 7), measured with gwload (perf/gwload).
#
#   perf/compare-frontends.sh                      # from anywhere; REPS=3 DURATION=5
#   REPS=5 DURATION=8 OUT=perf/x.jsonl perf/compare-frontends.sh
#
# Builds the release gateway and gwload, then for each repetition, scenario and protocol starts
# a fresh gateway (etc/gateway.toml, every front-end on its default port), runs one gwload and
# stops the gateway. JSON lines are appended to $OUT; a markdown table of medians is printed
# (each protocol's delivered msg/s and its ratio to the MQTT row of the same scenario).
#
# Scenarios: fan-in 100 publishers -> 1 subscriber (window FANIN_WINDOW, default 20000 messages
# per subscriber, as mqload's fan-in); fan-out 1 publisher -> 100 subscribers (window
# FANOUT_WINDOW, default 200 per subscriber, as mqload's fan-out). PROTOS, SIZE narrow a run.
# The gateway's output (it logs to stdout) goes to a temporary log; its warnings are
# summarised at the end.
# Needs: cargo, python3, bash; ports 1883, 61613, 1884/udp, 5683/udp free. Fits a 2-core machine
# (broker and generator share the cores; run it on a quiet machine for figures worth keeping).
set -euo pipefail

cd "$(dirname "$0")/.."
REPS=${REPS:-3}
DURATION=${DURATION:-5}
SIZE=${SIZE:-64}
PROTOS=${PROTOS:-mqtt stomp mqttsn coap}
FANIN_WINDOW=${FANIN_WINDOW:-20000}
FANOUT_WINDOW=${FANOUT_WINDOW:-200}
OUT=${OUT:-perf/frontends-$(date +%F).jsonl}

cargo build --release -p gw-server -p gw-load
GATEWAY=${CARGO_TARGET_DIR:-target}/release/gateway
GWLOAD=${CARGO_TARGET_DIR:-target}/release/gwload
LOG=$(mktemp /tmp/compare-frontends-gateway.XXXXXX.log)
mkdir -p "$(dirname "$OUT")"
touch "$OUT"
FIRST_LINE=$(($(wc -l <"$OUT") + 1)) # the table covers this run's lines only

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if port_open 1883 || port_open 61613; then
    echo "compare-frontends: something already listens on port 1883 or 61613; stop it first" >&2
    exit 1
fi

GW_PID=
start_gateway() {
    echo "--- gateway for: $*" >>"$LOG"
    "$GATEWAY" --config etc/gateway.toml >>"$LOG" 2>&1 &
    GW_PID=$!
    for _ in $(seq 200); do
        if port_open 1883; then
            sleep 0.2 # the other listeners bind alongside; let them settle
            return 0
        fi
        if ! kill -0 "$GW_PID" 2>/dev/null; then
            echo "compare-frontends: the gateway exited at start-up; see $LOG" >&2
            exit 1
        fi
        sleep 0.05
    done
    echo "compare-frontends: the gateway did not open port 1883 within 10 s; see $LOG" >&2
    exit 1
}
stop_gateway() {
    if [ -n "$GW_PID" ]; then
        kill "$GW_PID" 2>/dev/null || true
        wait "$GW_PID" 2>/dev/null || true
        GW_PID=
    fi
}
trap stop_gateway EXIT

failures=0
for rep in $(seq "$REPS"); do
    for scenario in fanin fanout; do
        if [ "$scenario" = fanin ]; then
            shape=(--pubs 100 --subs 1 --window "$FANIN_WINDOW")
        else
            shape=(--pubs 1 --subs 100 --window "$FANOUT_WINDOW")
        fi
        for proto in $PROTOS; do
            start_gateway "$proto $scenario rep $rep"
            echo "rep $rep/$REPS: $proto $scenario" >&2
            if ! line=$("$GWLOAD" "$proto" "${shape[@]}" --size "$SIZE" --duration "$DURATION" --broker-pid "$GW_PID"); then
                echo "compare-frontends: gwload $proto $scenario failed (gateway log: $LOG)" >&2
                failures=$((failures + 1))
            fi
            stop_gateway
            if [ -n "$line" ]; then
                echo "$line" | tee -a "$OUT" >&2
            fi
        done
    done
done

echo
echo "Medians of $REPS runs of ${DURATION}s, ${SIZE} B payloads, QoS 0; raw lines in $OUT"
echo
python3 - "$OUT" "$FIRST_LINE" <<'EOF'
import json, statistics, sys

path, first = sys.argv[1], int(sys.argv[2])
runs = {}
for raw in open(path).readlines()[first - 1:]:
    raw = raw.strip()
    if not raw.startswith("{"):
        continue
    r = json.loads(raw)
    if r.get("tool") != "gwload":
        continue
    runs.setdefault(((r["pubs"], r["subs"]), r["proto"]), []).append(r)

def med(rs, key):
    vs = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(vs) if vs else None

order = ["mqtt", "stomp", "mqttsn", "coap"]
print("| scenario | publishing protocol | delivered msg/s | vs MQTT | loss % | gateway cores | gwload cores | runs |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for shape in sorted({s for s, _ in runs}, key=lambda s: (-s[0], s[1])):
    pubs, subs = shape
    name = f"fan-in {pubs}→{subs}" if pubs >= subs else f"fan-out {pubs}→{subs}"
    base = med(runs.get((shape, "mqtt"), []), "recv_per_s")
    protos = sorted({p for s, p in runs if s == shape}, key=lambda p: order.index(p) if p in order else 99)
    for proto in protos:
        rs = runs[(shape, proto)]
        rate = med(rs, "recv_per_s")
        ratio = f"{rate / base:.2f}x" if base else "-"
        cores = lambda k: "-" if med(rs, k) is None else f"{med(rs, k):.2f}"
        print(f"| {name} | {proto} | {rate:,.0f} | {ratio} | {med(rs, 'loss_pct'):.2f} | "
              f"{cores('broker_cpu_cores')} | {cores('gen_cpu_cores')} | {len(rs)} |")
EOF

warnings=$(grep -c -E 'WARN|ERROR' "$LOG" || true)
echo
echo "gateway log: $LOG ($warnings WARN/ERROR lines)"
if [ "$warnings" -gt 0 ]; then
    grep -E 'WARN|ERROR' "$LOG" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-200 | sort | uniq -c | sort -rn | head -5
fi
exit $((failures > 0))
