#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages: Dovecot (real IMAP server for the
# tests), Thai fonts (chart labels), and PostgreSQL server binaries when no server is reachable.
set -euo pipefail

need=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
fc-list 2>/dev/null | grep -qi "tlwg" || need+=(fonts-thai-tlwg fontconfig)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
   ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  need+=(postgresql)
fi
if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "installing system packages: ${need[*]}"
$SUDO apt-get update -qq
# policy-rc.d style environments refuse to start services; the tests start their own servers.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
