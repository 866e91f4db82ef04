#!/usr/bin/env bash
# Installs the system packages tailflow builds against, unless they are there:
# the SQLite and zlib headers; the time zone database (--tz); python3, curl and
# openssl for the server tests; chromium and a font for the web pages' tests in
# a real headless browser; clickhouse-server for the ClickHouse backend's tests
# (they start private servers of their own; the system service is not used). An `apt-get update` that fails (an unsigned mirror,
# say) does not stop an install that can still succeed.
set -euo pipefail
packages=(libsqlite3-dev zlib1g-dev python3 curl openssl tzdata chromium fonts-dejavu-core clickhouse-server)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq || echo "install-deps: apt-get update failed; trying the install anyway" >&2
$SUDO apt-get install -y -qq "${missing[@]}"
