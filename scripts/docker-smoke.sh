#!/usr/bin/env bash
# Builds the image and proves it works on its embedded defaults: a post sent over SMTP to the
# published port is stored and copied to the demo members, `check --offline` (the HEALTHCHECK)
# passes, and SIGTERM stops it cleanly. Usage: scripts/docker-smoke.sh [PYTHON_IMAGE | --debian-base]
# (PYTHON_IMAGE: a base image to build from instead of python:3.11-slim; --debian-base: first make
# one from Debian 12's own packages with debootstrap, Python 3.11.2, for machines that reach Debian's
# mirror and PyPI but not Docker Hub. Needs root.)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--debian-base" ]; then
  base=mailbot-debian-base:bookworm
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    echo "== make $base with debootstrap (a few minutes)"
    command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    root=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates bookworm "$root" \
      http://deb.debian.org/debian >/dev/null
    # As python:3.11-slim: `python` and `pip` on PATH, pip free to install system-wide, and the
    # host's certificate bundle (the one its pip already trusts for PyPI).
    rm -f "$root"/usr/lib/python3.*/EXTERNALLY-MANAGED "$root"/var/cache/apt/archives/*.deb
    ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
    ln -sf /usr/bin/pip3 "$root/usr/local/bin/pip"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    tar -C "$root" -c . | docker import - "$base" >/dev/null
    rm -rf "$root"
  fi
  set -- "$base"
fi

image=mailbot:smoke
name=mailbot-smoke-$$
port=${SMOKE_PORT:-25250}
build_args=()
[ $# -ge 1 ] && build_args=(--build-arg "PYTHON_IMAGE=$1")

echo "== build"
docker build -q --network host "${build_args[@]}" -t "$image" . >/dev/null

cleanup() { docker rm -f -v "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
echo "== run on embedded defaults, port 127.0.0.1:$port -> 2525"
docker run -d --name "$name" -p "127.0.0.1:$port:2525" "$image" >/dev/null

echo "== post to km-it@localhost"
python3 - "$port" <<'PY'
import smtplib, sys, time
from email.message import EmailMessage
port = int(sys.argv[1])
deadline = time.monotonic() + 60
while True:
    try:
        client = smtplib.SMTP("127.0.0.1", port, timeout=10)
        client.ehlo()
        break
    except (OSError, smtplib.SMTPException):
        if time.monotonic() > deadline:
            sys.exit("the container's SMTP listener did not answer within 60 s")
        time.sleep(0.5)
msg = EmailMessage()
msg["From"] = "Somchai <somchai@localhost>"
msg["To"] = "km-it@localhost"
msg["Subject"] = "ทดสอบจากคอนเทนเนอร์ / container smoke test"
msg.set_content("สวัสดีครับ ทุกคน\nHello from the container smoke test.\n")
client.send_message(msg)
client.quit()
PY

echo "== wait for the members' copies in the outbound maildir"
copies=0
for _ in $(seq 60); do
  copies=$(docker exec "$name" sh -c 'ls mailbot-data/outbound/new 2>/dev/null | wc -l')
  [ "$copies" -gt 0 ] && break
  sleep 0.5
done
[ "$copies" -gt 0 ] || { docker logs "$name"; echo "FAIL: no copy delivered" >&2; exit 1; }
docker exec "$name" mailbot messages | tail -n 3
docker exec "$name" sh -c 'grep -l "^List-Id:" mailbot-data/outbound/new/* | head -1 | xargs grep -m1 "^Subject:"'

echo "== healthcheck command"
docker exec "$name" mailbot check --offline

echo "== a mounted config, as deployed (MAILBOT_CONFIG)"
cfg=$(mktemp -d)
cat > "$cfg/mailbot.toml" <<'TOML'
[inbound_smtp]
enabled = true
[[community]]
slug = "km-net"
address = "km-net@example.org"
name = "ชุมชน KM เครือข่าย"
TOML
chmod -R a+rX "$cfg"
docker run --rm -v "$cfg/mailbot.toml:/etc/mailbot/mailbot.toml:ro" -e MAILBOT_CONFIG=/etc/mailbot/mailbot.toml \
  "$image" check --offline | grep -E '^(ok|FAIL) +config|checks passed'
rm -rf "$cfg"

echo "== SIGTERM"
docker stop -t 30 "$name" >/dev/null
status=$(docker inspect -f '{{.State.ExitCode}}' "$name")
docker logs "$name" 2>&1 | tail -n 2
[ "$status" = 0 ] || { echo "FAIL: exit status $status" >&2; exit 1; }
echo "OK: built, ran on defaults, delivered $copies copies, healthy, stopped cleanly"
