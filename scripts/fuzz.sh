#!/usr/bin/env bash
# Fuzzes warden's parsers with AFL++ (cargo-afl, stable toolchain) for a set time per target.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Targets: bearer token jwks discovery challenge dpop security_event (default: all). Findings land in
# fuzz/out/<target>/default/crashes; the summary prints executions and crashes per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(bearer token jwks discovery challenge dpop security_event)

command -v cargo-afl >/dev/null || cargo install cargo-afl --locked
cargo afl config --build >/dev/null 2>&1 || true   # builds AFL++ once per toolchain

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
(cd fuzz && cargo afl build --release)

for target in "${targets[@]}"; do
    out="fuzz/out/$target"
    mkdir -p "$out"
    timeout --preserve-status "$seconds" cargo afl fuzz -i "fuzz/seeds/$target" -o "$out" \
        "fuzz/target/release/$target" >"$out/afl.log" 2>&1 || true
done

printf '%-10s %12s %8s %8s\n' target executions paths crashes
for target in "${targets[@]}"; do
    stats="fuzz/out/$target/default/fuzzer_stats"
    [ -f "$stats" ] || { printf '%-10s (no stats: see fuzz/out/%s/afl.log)\n' "$target" "$target"; continue; }
    execs=$(awk -F' *: *' '$1=="execs_done"{print $2}' "$stats")
    paths=$(awk -F' *: *' '$1=="corpus_count"{print $2}' "$stats")
    crashes=$(awk -F' *: *' '$1=="saved_crashes"{print $2}' "$stats")
    printf '%-10s %12s %8s %8s\n' "$target" "$execs" "$paths" "$crashes"
done
