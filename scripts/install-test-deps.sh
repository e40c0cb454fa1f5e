#!/usr/bin/env bash
# Installs what warden's tests need beyond the Rust toolchain: Debian's redis-server, for the
# fleet tests (warden-redis). Run as root (CI does, from .ci/run). Without root, install the
# package yourself (`sudo apt-get install redis-server`), or build Redis or Valkey from source and
# set WARDEN_REDIS_SERVER to the binary; the tests start and stop their own servers either way.
set -euo pipefail
if [ -n "${WARDEN_REDIS_SERVER:-}" ] || command -v redis-server >/dev/null \
    || [ -x /usr/bin/redis-server ] || [ -x /usr/sbin/redis-server ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "redis-server is missing: run 'sudo apt-get install redis-server' (or set WARDEN_REDIS_SERVER)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
# The package may start a server of its own where an init system runs; the tests start theirs.
if command -v service >/dev/null; then service redis-server stop >/dev/null 2>&1 || true; fi
