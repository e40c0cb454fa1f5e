#!/usr/bin/env bash
# Fuzzes warden's parsers with AFL++ (cargo-afl, stable toolchain) for a set time per target.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   scripts/fuzz.sh minimise TARGET...   (the queue of a run into fuzz/corpus/TARGET)
# Targets: bearer token jwks discovery challenge dpop security_event (default: all). Findings land in
# fuzz/out/<target>/default/crashes; the summary prints executions and crashes per target.
# A run starts from the target's minimised corpus in fuzz/corpus/<target> when there is one (kept
# in the repository; refreshed with `scripts/fuzz.sh minimise`, see docs/security.md), else from
# its seeds.
# A target whose fuzz/out/<target> holds an earlier run resumes it (AFL_AUTORESUME): its counts
# add up across runs, so an hour can be spent in several sittings. Delete the folder to start over.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = minimise ]; then
    shift
    # AFL++'s awk afl-cmin, from cargo-afl's build (its Python variant finds no tuples here);
    # files are renamed to their SHA-1 so that any file system takes them.
    bin=$(ls -d "$HOME"/.local/share/afl.rs/*/*/afl/bin | head -1)
    for target in "$@"; do
        rm -rf "fuzz/corpus/$target"
        AFL_SKIP_CPUFREQ=1 "$bin/afl-cmin.awk" -i "fuzz/out/$target/default/queue" \
            -o "fuzz/corpus/$target" -- "fuzz/target/release/$target" >/dev/null 2>&1
        for file in "fuzz/corpus/$target"/*; do
            mv "$file" "fuzz/corpus/$target/$(sha1sum "$file" | cut -c1-16)"
        done
        chmod 644 "fuzz/corpus/$target"/*
        echo "$target: $(ls "fuzz/corpus/$target" | wc -l) files kept"
    done
    exit 0
fi
seconds="${1:-60}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(bearer token jwks discovery challenge dpop security_event)

command -v cargo-afl >/dev/null || cargo install cargo-afl --locked
cargo afl config --build >/dev/null 2>&1 || true   # builds AFL++ once per toolchain

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_AUTORESUME=1
(cd fuzz && cargo afl build --release)

for target in "${targets[@]}"; do
    out="fuzz/out/$target"
    mkdir -p "$out"
    input="fuzz/seeds/$target"
    [ -d "fuzz/corpus/$target" ] && input="fuzz/corpus/$target"
    timeout --preserve-status "$seconds" cargo afl fuzz -i "$input" -o "$out" \
        "fuzz/target/release/$target" >"$out/afl.log" 2>&1 || true
done

printf '%-14s %8s %12s %8s %8s\n' target seconds executions paths crashes
for target in "${targets[@]}"; do
    stats="fuzz/out/$target/default/fuzzer_stats"
    [ -f "$stats" ] || { printf '%-14s (no stats: see fuzz/out/%s/afl.log)\n' "$target" "$target"; continue; }
    execs=$(awk -F' *: *' '$1=="execs_done"{print $2}' "$stats")
    paths=$(awk -F' *: *' '$1=="corpus_count"{print $2}' "$stats")
    crashes=$(awk -F' *: *' '$1=="saved_crashes"{print $2}' "$stats")
    run_time=$(awk -F' *: *' '$1=="run_time"{print $2}' "$stats")
    printf '%-14s %8s %12s %8s %8s\n' "$target" "$run_time" "$execs" "$paths" "$crashes"
done
