# mailbot as a container: `mailbot run` as a non-root user. With nothing mounted it runs on the
# embedded defaults (a demo community, the SMTP listener on port 2525, outbound mail kept in the
# volume); for real use mount a TOML file and point MAILBOT_CONFIG at it, and pass secrets as
# MAILBOT_SECTION__KEY variables (MAILBOT_IMAP__PASSWORD, MAILBOT_SMTP__PASSWORD, ...). README, "Container".

# The base is an argument so the image can also be built where Docker Hub is out of reach, from any
# Debian-based image whose `python` (3.11+) and `pip` are on PATH (scripts/docker-smoke.sh).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAILBOT_INBOUND_SMTP__HOST=0.0.0.0
# Listening on the container's loopback would reach nobody: the listener takes every interface
# of the container's own network namespace (override with MAILBOT_INBOUND_SMTP__HOST).

# Thai fonts for the weekly chart; tzdata for community time zones.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-thai-tlwg fontconfig tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/mailbot --uid 10001 mailbot

WORKDIR /opt/mailbot
COPY pyproject.toml README.md ./
COPY mailbot ./mailbot
COPY rules ./rules
COPY digests ./digests
COPY tips ./tips
# Editable install keeps rules/, digests/ and tips/ beside the package, where mailbot looks for them.
# Byte-compiled now: the non-root user cannot write __pycache__ here, and would compile on every start.
RUN pip install -e . && python -m compileall -q mailbot

USER mailbot
# A relative data_dir (the default "mailbot-data") lands in the volume.
WORKDIR /var/lib/mailbot
VOLUME ["/var/lib/mailbot"]
EXPOSE 2525
HEALTHCHECK --interval=60s --timeout=20s CMD mailbot check --offline || exit 1
ENTRYPOINT ["mailbot"]
CMD ["run"]
