#!/usr/bin/env bash
# A real Prometheus server scrapes example_metrics_server, and its HTTP API must show the tick
# counter rising.
#   prometheus_scrape.sh <example_metrics_server> <work dir>
# Everything listens on 127.0.0.1 only. Prometheus gets a temporary config and data directory
# under <work dir>; both processes are stopped and the directory removed on every exit path.
set -euo pipefail
server_bin=$1
work=$2
for tool in prometheus curl; do
  command -v "$tool" >/dev/null || { echo "prometheus_scrape: $tool is not installed (bash cmake/setup-deps.sh --report)" >&2; exit 1; }
done

rm -rf "$work"
mkdir -p "$work/data"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The example picks its own port and prints it.
"$server_bin" --port 0 --seconds 120 >"$work/server.out" 2>&1 &
pids+=($!)
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "prometheus_scrape: the example did not start:"; cat "$work/server.out"; exit 1; }
echo "example serving http://127.0.0.1:$port/metrics"
curl -fsS "http://127.0.0.1:$port/metrics" >/dev/null
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/elsewhere")
[ "$status" = 404 ] || { echo "prometheus_scrape: /elsewhere answered $status, not 404"; exit 1; }

# A free port for Prometheus: ask the kernel for one, then let it go (a small race, retried).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tickflow
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
promport=""
for attempt in 1 2 3; do
  promport=$(free_port)
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$promport" --log.level=warn >"$work/prometheus.log" 2>&1 &
  ppid_=$!
  ready=0
  for _ in $(seq 150); do
    if curl -fsS "http://127.0.0.1:$promport/-/ready" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$ppid_" 2>/dev/null || break
    sleep 0.2
  done
  if [ $ready = 1 ]; then pids+=("$ppid_"); break; fi
  kill "$ppid_" 2>/dev/null || true; wait "$ppid_" 2>/dev/null || true
  echo "prometheus_scrape: Prometheus did not come up on $promport (attempt $attempt):"; tail -5 "$work/prometheus.log"
  promport=""
done
[ -n "$promport" ] || exit 1
echo "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') on 127.0.0.1:$promport"

query="tickflow_ticks_total{job=\"tickflow\"}"
url="http://127.0.0.1:$promport/api/v1/query"
value() {
  curl -fsS --get --data-urlencode "query=$query" "$url" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); res=r["data"]["result"]; print(res[0]["value"][1] if r["status"]=="success" and res else "")'
}
first=""
for _ in $(seq 60); do
  first=$(value)
  [ -n "$first" ] && break
  sleep 0.5
done
[ -n "$first" ] || { echo "prometheus_scrape: no sample of $query after 30 s"; tail -20 "$work/prometheus.log"; exit 1; }
echo "GET $url?query=$query -> $first"
for _ in $(seq 60); do
  later=$(value)
  if [ -n "$later" ] && [ "$later" -gt "$first" ]; then
    echo "GET $url?query=$query -> $later (rose by $((later - first)))"
    # The scrape target's health, as Prometheus saw it.
    curl -fsS "http://127.0.0.1:$promport/api/v1/targets" |
      python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; print("target", t[0]["scrapeUrl"], "health", t[0]["health"]); sys.exit(0 if t[0]["health"]=="up" else 1)'
    exit 0
  fi
  sleep 0.5
done
echo "prometheus_scrape: $query did not rise above $first in 30 s"
exit 1
