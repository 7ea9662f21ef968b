"""gunicorn settings for product_purchase (``gunicorn -c deploy/gunicorn.conf.py``).

Every knob can be overridden from the environment, so the same file serves the
Docker image, docker-compose and a Heroku-style platform (which sets PORT and
WEB_CONCURRENCY).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

from gunicorn.glogging import Logger

# The project's modules (config.logs, config.observability) for the hooks below.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in {"1", "true", "yes", "on"}


# The WSGI app, so `gunicorn -c deploy/gunicorn.conf.py` alone is enough.
wsgi_app = "config.wsgi:application"

# --- Socket -------------------------------------------------------------------
bind = f"{os.environ.get('GUNICORN_BIND_HOST', '0.0.0.0')}:{_env_int('PORT', 8000)}"
backlog = _env_int("GUNICORN_BACKLOG", 2048)

# --- Workers --------------------------------------------------------------------
# Processes: WEB_CONCURRENCY (Heroku-style platforms set it per dyno size),
# else the classic 2 * CPUs + 1. Inside a container cpu_count() is the host's
# CPU count, not the container's limit: set WEB_CONCURRENCY there.
workers = _env_int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)

# Threads per process. The app waits on Postgres, Redis, S3 and Stripe, so
# threads give cheap concurrency. With gthread the worker's heartbeat runs in
# the main thread, so one long request (a 200 MB upload going on to S3) does
# not get the whole worker killed by `timeout`.
worker_class = "gthread"
threads = _env_int("GUNICORN_THREADS", 4)

# A worker whose main loop has not checked in for this long is killed and
# replaced (with gthread that means a wedged process, not a slow request).
timeout = _env_int("GUNICORN_TIMEOUT", 60)
# On SIGTERM (deploy, scale-down) requests in flight get this long to finish.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Idle keep-alive connections from the proxy. Longer than nginx's upstream
# keepalive_timeout (60 s) so nginx closes first and never reuses a socket
# gunicorn has just closed (a source of random 502s).
keepalive = _env_int("GUNICORN_KEEPALIVE", 75)

# Recycle each worker after about this many requests (the jitter keeps all
# workers from restarting at once) to bound slow memory growth, e.g. from PDF
# handling with pypdf/pypdfium2 and Pillow.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 100)

# The heartbeat file is touched constantly; on Docker's overlay filesystem
# that can block, so use the in-memory /dev/shm when it exists.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# preload_app: loading Django once in the master before forking saves memory
# (copy-on-write) and makes a broken import fail at boot instead of in every
# worker. It stays off by default because:
#   * anything opened at import time (a DB connection, a Redis/Celery client,
#     a boto3 session, a Stripe HTTP client) would be shared by every forked
#     worker, which corrupts those connections;
#   * a HUP reload then no longer picks up new code (workers are forked from
#     the already-loaded master).
# Django opens its connections lazily, so turning it on is usually safe; check
# the app's import-time side effects first.
preload_app = _env_bool("GUNICORN_PRELOAD", False)

# --- Behind the proxy -----------------------------------------------------------
# Which peers may set X-Forwarded-Proto & co. gunicorn is only ever reached
# through nginx (docker-compose: a private network, the port is not published)
# or a platform router whose addresses are not fixed, so trust any peer by
# default; narrow it (e.g. "10.0.0.0/8") where the port is reachable otherwise.
# Django itself decides "is this HTTPS" from SECURE_PROXY_SSL_HEADER.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")

# gunicorn >= 25 opens a control socket under $HOME by default; the image's
# user has no writable home and nothing here uses `gunicornc`. Set
# GUNICORN_CONTROL_SOCKET to a path to turn it on.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# --- Logging --------------------------------------------------------------------
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")  # stdout
errorlog = "-"  # stderr
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
capture_output = True
# X-Forwarded-For (the client), the peer (the proxy), the Host (the store),
# the request, status, size, referrer, user agent and the time taken in ms.
access_log_format = (
    '%({x-forwarded-for}i)s %(h)s host=%({host}i)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
)

proc_name = "product_purchase"


# The request id the app returned (X-Request-ID), to match access lines with app lines.
access_log_format += " rid=%({x-request-id}o)s"


class ScrubbedLogger(Logger):
    """gunicorn's logs, scrubbed (a download link's token is in its path) and, in production
    (DJANGO_LOG_FORMAT=json, the default when DJANGO_DEBUG is off), one JSON line each."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        from config.logs import JsonFormatter, ScrubFilter

        if not any(isinstance(f, ScrubFilter) for f in self.access_log.filters):
            self.access_log.addFilter(ScrubFilter())
            self.error_log.addFilter(ScrubFilter())
        debug = os.environ.get("DJANGO_DEBUG", "True").lower() in {"1", "true", "yes", "on"}
        if os.environ.get("DJANGO_LOG_FORMAT", "plain" if debug else "json") == "json":
            for log in (self.access_log, self.error_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())


logger_class = ScrubbedLogger


# --- Metrics: prometheus_client's multiprocess mode ----------------------------------------------
# Every worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR and /metrics adds
# them up; without it each worker would answer with its own counts only. Unset, the master
# makes a private directory before forking (set it yourself with GUNICORN_PRELOAD: the app,
# and prometheus_client's choice of mode, then load before this hook runs). The directory is
# emptied when the master starts (a previous run's files would be counted again) and a
# worker's live gauges go when it exits.


def on_starting(server) -> None:
    import tempfile

    from config.observability import multiprocess_dir_reset

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # In memory when possible (/dev/shm): every request writes to these mmap'ed files.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="product_purchase-metrics-", dir=worker_tmp_dir
        )
    multiprocess_dir_reset()


def child_exit(server, worker) -> None:
    from config.observability import multiprocess_process_dead

    multiprocess_process_dead(worker.pid)
