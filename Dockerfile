# skyhop team API server: N processes on one port, state on PostgreSQL (docs/team-server.md).
#
#   docker build -t skyhop-server .
#   # /etc/skyhop/server.env (0600): SKYHOP_DB_URL=postgresql+psycopg://skyhop:...@db.internal/skyhop
#   docker run -d --name skyhop -p 127.0.0.1:46580:46580 --stop-timeout 30 \
#     --env-file /etc/skyhop/server.env \
#     -v skyhop-home:/home/skyhop/.skyhop skyhop-server --workers 4
#
# TLS is the reverse proxy's job (nginx or Caddy in front: docs/team-server.md); the container speaks
# plain HTTP on 46580. Request logs live under /home/skyhop/.skyhop: keep that a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The launches' SSH and rsync (clusters on clouds and on your own machines).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client rsync \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/skyhop
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install ".[postgres]"

# Never root: the server and everything it starts run as this user, in its own home.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin skyhop \
    && install -d -m 0700 -o skyhop -g skyhop /home/skyhop/.skyhop
USER skyhop
WORKDIR /home/skyhop
ENV HOME=/home/skyhop SKYHOP_HOME=/home/skyhop/.skyhop
VOLUME ["/home/skyhop/.skyhop"]

EXPOSE 46580

# Ready, not merely alive: the database answers, the schema is at head, the process is not draining.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:46580/api/v1/ready', timeout=2)"]

# SIGTERM drains (ready 503, hand-over to the other processes); give it drain_notice_seconds + drain_seconds
# (2 + 10 by default) before a SIGKILL: `docker run --stop-timeout 30`, compose `stop_grace_period: 30s`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["skyhop", "api", "start", "--team", "--foreground", "--host", "0.0.0.0", "--port", "46580"]
CMD ["--workers", "2"]
