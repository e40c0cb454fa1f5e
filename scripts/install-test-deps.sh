#!/usr/bin/env bash
# Installs what warden's tests need beyond the Rust toolchain: Debian's redis-server, for the
# fleet tests (warden-redis), and chromium with chromium-driver, for the browser tests of the
# fake issuer's pages. Run as root (CI does, from .ci/run). Without root, install the packages
# yourself (`sudo apt-get install redis-server chromium chromium-driver`); for Redis you may
# instead build Redis or Valkey from source and set WARDEN_REDIS_SERVER to the binary. The tests
# start and stop their own servers and browsers either way.
set -euo pipefail
missing=()
if [ -z "${WARDEN_REDIS_SERVER:-}" ] && ! command -v redis-server >/dev/null \
    && [ ! -x /usr/bin/redis-server ] && [ ! -x /usr/sbin/redis-server ]; then
    missing+=(redis-server)
fi
if ! command -v chromedriver >/dev/null && [ ! -x /usr/bin/chromedriver ]; then
    missing+=(chromium chromium-driver)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "missing: run 'sudo apt-get install ${missing[*]}'" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
# The package may start a server of its own where an init system runs; the tests start theirs.
if command -v service >/dev/null; then service redis-server stop >/dev/null 2>&1 || true; fi
