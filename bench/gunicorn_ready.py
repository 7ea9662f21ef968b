"""gunicorn settings for the benchmarks' servers (``-c bench/gunicorn_ready.py``).

Each worker, once it has loaded the app, leaves a file named after its pid in
BENCH_READY_DIR: bench.common.gunicorn() waits for one per worker before anything is
measured. The port alone answers as soon as the master listens, while the workers may
still be importing Django (seconds each on a busy machine), and a measurement that starts
then counts their start-up as the page's cost (on a loaded machine the one-query baseline
of bench.load fell to ~12 requests/s that way).
"""

from __future__ import annotations

import os
from pathlib import Path

# As deploy/gunicorn.conf.py: no control socket (gunicorn >= 25 opens one under $HOME,
# one path for every gunicorn on the machine).
control_socket_disable = True


def post_worker_init(worker) -> None:
    # The URLconfs (and the views they import) load on a worker's first request; load
    # them now, as that first request would, so no measured request pays for it.
    from django.conf import settings
    from django.urls import get_resolver

    for urlconf in {settings.ROOT_URLCONF, getattr(settings, "PUBLIC_SCHEMA_URLCONF", None)}:
        if urlconf:
            get_resolver(urlconf).url_patterns  # noqa: B018
    ready = os.environ.get("BENCH_READY_DIR")
    if ready:
        Path(ready, str(os.getpid())).touch()
