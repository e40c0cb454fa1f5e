#!/usr/bin/env bash
# Load over HTTP on loopback: the Orders demo's GET /orders protected by warden against the same
# route and handler served without warden (examples/load_baseline.rs: same router, no layer, no
# extractor; sent the same Authorization header, so the difference is warden's work), and a run
# in which the JWKS endpoint fails midway (no valid request may fail).
# Installs wrk from Debian if missing.
# The baseline and warden runs alternate, ROUNDS pairs back to back (default 3): a shared machine
# drifts by tens of per cent between runs, so each pair's ratio is reported, and their median.
#   scripts/load.sh [SECONDS_PER_RUN] [CONNECTIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"; connections="${2:-32}"; rounds="${3:-3}"
issuer_port=4400; api_port=4401; baseline_port=4402

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build -q --release --example orders_api --example load_baseline
cargo build -q --release -p warden-testing --bin fake-issuer

log=$(mktemp -d)
cleanup() { kill "${issuer_pid:-0}" "${api_pid:-0}" "${baseline_pid:-0}" 2>/dev/null || true; }
trap cleanup EXIT

target/release/fake-issuer --port "$issuer_port" >"$log/issuer.out" 2>&1 & issuer_pid=$!
for _ in $(seq 50); do grep -q '^eyJ' "$log/issuer.out" 2>/dev/null && break; sleep 0.1; done
token=$(grep '^eyJ' "$log/issuer.out" | head -1)

# Key freshness of 1 s: background refreshes happen all through the runs.
WARDEN_ISSUER="http://127.0.0.1:$issuer_port" WARDEN_AUDIENCE=api://warden-demo \
WARDEN_JWKS_TTL_SECS=1 WARDEN_DEMO_ADDR="127.0.0.1:$api_port" RUST_LOG=warn \
    target/release/examples/orders_api >"$log/api.out" 2>&1 & api_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$api_port/health" >/dev/null && break; sleep 0.1; done
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$api_port/orders" >/dev/null
WARDEN_BASELINE_ADDR="127.0.0.1:$baseline_port" target/release/examples/load_baseline \
    >"$log/baseline.out" 2>&1 & baseline_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$baseline_port/orders" >/dev/null && break; sleep 0.1; done

run() { # name, port, path, extra wrk args...
    local name=$1 port=$2 path=$3; shift 3
    wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" "http://127.0.0.1:$port$path" >"$log/$name.txt"
}
for round in $(seq "$rounds"); do
    run "baseline$round" "$baseline_port" /orders -H "Authorization: Bearer $token"
    run "with$round" "$api_port" /orders -H "Authorization: Bearer $token"
done
(sleep $((seconds / 2)); for endpoint in jwks discovery; do
    curl -sf -X POST -H 'content-type: application/json' -d '{"status":503}' \
        "http://127.0.0.1:$issuer_port/_fake/faults/$endpoint"
done) & faults_pid=$!
run outage "$api_port" /orders -H "Authorization: Bearer $token"
wait "$faults_pid"
refreshes=$(grep -c 'signing key fetch failed' "$log/api.out" || true)

summary() { # name, label
    local file="$log/$1.txt"
    local rps p50 p99 errors
    rps=$(awk '/Requests\/sec/ {print $2}' "$file")
    p50=$(awk '$1=="50%" {print $2}' "$file")
    p99=$(awk '$1=="99%" {print $2}' "$file")
    errors=$(awk '/Non-2xx/ {print $5}' "$file"); errors=${errors:-0}
    printf '| %s | %s | %s | %s | %s |\n' "$2" "$rps" "$p50" "$p99" "$errors"
}
echo "| run | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
for round in $(seq "$rounds"); do
    summary "baseline$round" "GET /orders, no warden (same router and handler, fixed owner), round $round"
    summary "with$round" "GET /orders, warden (valid token seen before, scope check), round $round"
done
summary outage "GET /orders, JWKS and discovery fail midway"
rps() { awk '/Requests\/sec/ {print $2}' "$log/$1.txt"; }
p99us() { awk '$1=="99%" { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); print v } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v*1000 } else { sub(/s$/,"",v); print v*1000000 } }' "$log/$1.txt"; }
ratios=$(for round in $(seq "$rounds"); do
    awk -v w="$(rps "with$round")" -v b="$(rps "baseline$round")" \
        -v pw="$(p99us "with$round")" -v pb="$(p99us "baseline$round")" \
        'BEGIN { printf "%.1f %.2f\n", 100 * w / b, pw / pb }'
done)
echo "$ratios" | awk '{ printf "round %d: warden at %s %% of the baseline'"'"'s requests/s, p99 %s × the baseline'"'"'s\n", NR, $1, $2 }'
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median over $rounds rounds: $(echo "$ratios" | awk '{print $1}' | median) % of the baseline's requests/s, p99 $(echo "$ratios" | awk '{print $2}' | median) × the baseline's"
errors=$(awk '/Non-2xx/ {print $5}' "$log/outage.txt"); errors=${errors:-0}
socket=$(awk '/Socket errors/ {print}' "$log/outage.txt")
if [ "$errors" != 0 ] || [ -n "$socket" ]; then
    echo "FAILED: valid requests failed during the JWKS outage ($errors non-2xx) $socket" >&2
    exit 1
fi
echo "no valid request failed during the JWKS outage ($refreshes failed background refreshes logged)"
