# mailbot as a container: `mailbot run` as a non-root user, settings from a mounted TOML file
# (MAILBOT_CONFIG) and secrets from the environment (MAILBOT_IMAP__PASSWORD, MAILBOT_SMTP__PASSWORD, ...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAILBOT_CONFIG=/etc/mailbot/mailbot.toml

# Thai fonts for the weekly chart fallback; tzdata for community time zones.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-thai-tlwg tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/mailbot --uid 10001 mailbot

WORKDIR /opt/mailbot
COPY pyproject.toml README.md ./
COPY mailbot ./mailbot
COPY rules ./rules
COPY digests ./digests
COPY tips ./tips
# Editable install keeps rules/, digests/ and tips/ beside the package, where mailbot looks for them.
RUN pip install -e .

USER mailbot
WORKDIR /var/lib/mailbot
VOLUME ["/var/lib/mailbot"]
# The SMTP/LMTP listener, when enabled in the config (bind 0.0.0.0 inside the container).
EXPOSE 2525
HEALTHCHECK --interval=60s --timeout=20s CMD mailbot check --offline || exit 1
ENTRYPOINT ["mailbot"]
CMD ["run"]
