#!/usr/bin/env bash
# End-to-end proof that the shipped Prometheus pieces work: the exporter in demo mode, a real
# Prometheus server (Debian's prometheus package) with the shipped scrape config and rules, and
# assertions through Prometheus' HTTP API:
#   - the demo's failed cluster raises AtlasSnapshotFailed and the stale one AtlasBackupStale
#     (pending or firing);
#   - the demo's Cluster0 raises AtlasBackupAlertOpen (its open CPS_OPLOG_BEHIND) and
#     AtlasExportOverdue (its auto export 40 days behind);
#   - the healthy demo clusters raise nothing else;
#   - every query of the Grafana dashboard returns data;
#   - promtool checks the config, the rules, the rule unit tests and a live scrape.
#
# Usage: deploy/e2e.sh [path/to/atlas-snapshot-exporter]   (default: target/debug/...)
# Bounded: gives up after E2E_TIMEOUT seconds (default 180).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/debug/atlas-snapshot-exporter}
timeout=${E2E_TIMEOUT:-180}

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "e2e: missing $1 ($2)" >&2; exit 1; }
}
need prometheus "Debian package prometheus"
need promtool "Debian package prometheus"
need curl "Debian package curl"
need python3 "Debian package python3"
[ -x "$bin" ] || { echo "e2e: no exporter binary at $bin (cargo build first)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
exporter_port=$(free_port)
prometheus_port=$(free_port)
prom="http://127.0.0.1:$prometheus_port"

echo "e2e: static checks"
bash deploy/prometheus/check.sh
python3 deploy/grafana/queries.py --check deploy/grafana/atlas-snapshot-exporter.json >/dev/null

echo "e2e: exporter demo on 127.0.0.1:$exporter_port"
"$bin" demo --web.listen-address "127.0.0.1:$exporter_port" >"$work/exporter.out" 2>"$work/exporter.err" &
pids+=($!)

# The shipped scrape config and rules, with the target pointed at the demo and the intervals
# shortened so the test ends in seconds instead of minutes. Nothing else changes.
cp deploy/prometheus/*.yml "$work/"
sed -e "s/localhost:9930/127.0.0.1:$exporter_port/" \
    -e 's/^\(\s*scrape_interval:\).*/\1 5s/' \
    -e 's/^\(\s*evaluation_interval:\).*/\1 5s/' \
    -e 's/^\(\s*scrape_timeout:\).*/\1 4s/' \
    deploy/prometheus/prometheus.yml >"$work/prometheus.yml"
promtool check config "$work/prometheus.yml"

echo "e2e: prometheus on $prom"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn \
  >"$work/prometheus.out" 2>&1 &
pids+=($!)

deadline=$((SECONDS + timeout))
until curl -fsS "http://127.0.0.1:$exporter_port/-/ready" >/dev/null 2>&1 && curl -fsS "$prom/-/ready" >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || { echo "e2e: not ready in time"; cat "$work"/*.err "$work/prometheus.out"; exit 1; }
  sleep 0.5
done

echo "e2e: promtool check metrics on a live scrape"
curl -fsS "http://127.0.0.1:$exporter_port/metrics" >"$work/scrape.prom"
lint=$(promtool check metrics <"$work/scrape.prom" 2>&1) || { echo "$lint"; exit 1; }
[ -z "$lint" ] || { echo "promtool check metrics: $lint"; exit 1; }

echo "e2e: waiting for the alerts (at most ${timeout}s)"
python3 - "$prom" "$((deadline - SECONDS))" <<'PY'
import json, sys, time, urllib.request

prom, remaining = sys.argv[1], int(sys.argv[2])
start = time.monotonic()
limit = start + max(remaining, 10)

def alerts():
    with urllib.request.urlopen(f"{prom}/api/v1/alerts", timeout=5) as r:
        return json.load(r)["data"]["alerts"]

# Cluster0's snapshots are healthy, but the demo gives it an open Atlas CPS_OPLOG_BEHIND alert
# and a weekly auto export 40 days behind: those two are expected, any other alert on the
# healthy clusters is not.
want = {
    ("AtlasSnapshotFailed", "staging-flex"),
    ("AtlasBackupStale", "staging-m2"),
    ("AtlasBackupAlertOpen", "Cluster0"),
    ("AtlasExportOverdue", "Cluster0"),
}
healthy = {"orders", "catalog", "Cluster0", "nightly-import", "warehouse"}
while True:
    raised = {(a["labels"].get("alertname"), a["labels"].get("cluster_name")) for a in alerts()}
    if want <= raised:
        break
    if time.monotonic() > limit:
        sys.exit(f"e2e: expected alerts {sorted(want - raised)} never raised; raised: {sorted(raised)}")
    time.sleep(2)
# Give every rule a few more evaluations before judging the healthy clusters.
time.sleep(12)
current = alerts()
bad = [
    a for a in current
    if a["labels"].get("cluster_name") in healthy
    and (a["labels"].get("alertname"), a["labels"].get("cluster_name")) not in want
]
if bad:
    sys.exit("e2e: healthy clusters raised alerts:\n" + json.dumps(bad, indent=2))
for a in sorted(current, key=lambda a: (a["labels"].get("alertname", ""), a["labels"].get("cluster_name", ""))):
    print(f'  {a["state"]:8} {a["labels"].get("alertname")} {a["labels"].get("cluster_name", "")}')
print(f"e2e: alerts as expected after {time.monotonic() - start:.0f}s")
PY

echo "e2e: every dashboard query returns data"
python3 deploy/grafana/queries.py deploy/grafana/atlas-snapshot-exporter.json >"$work/queries.jsonl"
python3 - "$prom" "$work/queries.jsonl" <<'PY'
import json, sys, time, urllib.parse, urllib.request

prom, path = sys.argv[1], sys.argv[2]
queries = [json.loads(line) for line in open(path)]

def missing():
    failures = []
    for q in queries:
        url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": q["expr"]})
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                result = json.load(r)["data"]["result"]
        except Exception as e:  # a 400 is a broken query
            failures.append(f'{q["title"]}: {q["expr"]}: {e}')
            continue
        if not result:
            failures.append(f'{q["title"]}: {q["expr"]}: no data')
    return failures

# rate() and increase() need two scrapes inside their window: allow a little time.
limit = time.monotonic() + 60
while (failures := missing()) and time.monotonic() < limit:
    time.sleep(5)
if failures:
    sys.exit("e2e: dashboard queries without data:\n  " + "\n  ".join(failures))
print(f"e2e: {len(queries)} dashboard queries, all with data")
PY

echo "e2e: passed"
