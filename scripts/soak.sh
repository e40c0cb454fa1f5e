#!/usr/bin/env bash
# The soak and chaos scenario (docs/reliability.md): demo replicas sharing one Redis, the fake
# issuer as provider and Shared Signals transmitter, a realistic mix of traffic, and on a
# schedule key rotations, issuer outages, Redis and a replica killed and restarted, revocations.
# Loopback only, bounded in time. Fails (exit 1) on any violated guarantee; writes report.md and
# memory.svg to target/soak.
#   scripts/soak.sh [SECONDS] [REPLICAS] [CONNECTIONS]   (default 600 s, 3 replicas, 16)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"; replicas="${2:-3}"; connections="${3:-16}"
cargo build -q --release --example orders_api --example soak
target/release/examples/soak --seconds "$seconds" --replicas "$replicas" \
    --connections "$connections" --out target/soak
