#!/usr/bin/env bash
# What `make test` needs from the machine besides Python: a running PostgreSQL (127.0.0.1:5432),
# Debian's Chromium (the dashboard and HTML reports in a real browser) and nginx (three replicas
# behind a load balancer). Installs or starts what is missing when it can (root or passwordless
# sudo, apt-get); otherwise says what is missing and how to get it. Without them those tests skip,
# and under CI they fail.
set -uo pipefail

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi
}

missing=()

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start \
      >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 1; done
  fi
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null \
    || missing+=("PostgreSQL on 127.0.0.1:5432 (trust auth, database 'test'): apt-get install postgresql, then pg_ctlcluster <version> main start")
fi

packages=()
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || packages+=(nginx)
if [ ${#packages[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && as_root true 2>/dev/null; then
    echo "make test: installing Debian's ${packages[*]} (the browser and load-balancer tests use them)"
    as_root apt-get update -qq >/dev/null && as_root apt-get install -y -qq "${packages[@]}" >/dev/null
  fi
  command -v chromium >/dev/null 2>&1 \
    || missing+=("Chromium (the dashboard and report tests): apt-get install chromium")
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] \
    || missing+=("nginx (the replicas test): apt-get install nginx")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "make test: these are missing, so the tests that need them will be skipped (they fail under CI):" >&2
  for item in "${missing[@]}"; do echo "  - $item" >&2; done
fi
exit 0
