#!/usr/bin/env bash
# What `make bench` needs beyond the venv and Docker: wrk, the C load generator bench.api uses
# (a Python load takes a core of its own from the servers it measures; bench/README.md).
# Installed from Debian's packages when missing and this runs as root; otherwise bench.api
# falls back to Python threads and says so in its header.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[bench] installing wrk (Debian package)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
else
  echo "[bench] wrk is not installed (apt-get install wrk): bench.api loads from Python threads"
fi
