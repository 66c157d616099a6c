#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages: Dovecot (real IMAP server for the
# tests), Thai fonts (chart labels), PostgreSQL server binaries when no server is reachable, and
# the RUM extension for every installed PostgreSQL (knowledge search ranks in its index).
set -euo pipefail

need=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
fc-list 2>/dev/null | grep -qi "tlwg" || need+=(fonts-thai-tlwg fontconfig)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
   ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  need+=(postgresql)
fi

# RUM for each PostgreSQL major version on this machine (postgresql-NN-rum), looked for again after
# the lines above may have installed PostgreSQL, so the version is whatever the distribution has.
rum_missing() {
  local v
  for v in /usr/lib/postgresql/*/; do
    [ -d "$v" ] || continue
    v="$(basename "$v")"
    [ -f "/usr/share/postgresql/$v/extension/rum.control" ] || echo "postgresql-$v-rum"
  done
}

install_packages() {
  local SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install: $*" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "installing system packages: $*"
  $SUDO apt-get update -qq
  # policy-rc.d style environments refuse to start services; the tests start their own servers.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ${#need[@]} -gt 0 ]; then
  install_packages "${need[@]}"
fi
mapfile -t rum < <(rum_missing)
if [ ${#rum[@]} -gt 0 ]; then
  install_packages "${rum[@]}"
fi
if [ ${#need[@]} -eq 0 ] && [ ${#rum[@]} -eq 0 ]; then
  echo "system packages: all present"
fi
