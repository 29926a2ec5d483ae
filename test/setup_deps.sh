#!/usr/bin/env bash
# Installs the Debian packages fs_backfill builds and tests with, if missing.
# Runs as root on a fresh Debian machine; does nothing when all are present.
set -euo pipefail

packages=(postgresql-15 postgresql-server-dev-15 postgresql-15-cron
          postgresql-15-pgtap pgtap redis-server libhiredis-dev
          build-essential libipc-run-perl jq tmux)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}; run as root or install them" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
