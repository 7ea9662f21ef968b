"""Request ids, request metrics and the /metrics endpoint (a middleware); Celery's hooks.

The middleware is the outermost one: it times everything after it, answers /metrics before
the store routing (no database round trip; HTTPS redirects do not apply to a scraper on the
private network) and sets X-Request-ID on every response, including the pages the store
routing answers by itself.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port

from config import metrics
from config.logs import log_bind, log_context_clear, request_id_from


def _metrics_host(request: HttpRequest) -> bool:
    """/metrics is the main domain's (or an internal scrape name in METRICS_HOSTS)."""
    try:
        host, _ = split_domain_port(request.get_host())
    except DisallowedHost:
        return False
    host = host.lower()
    return host in (settings.PLATFORM_DOMAIN, "127.0.0.1") or host in settings.METRICS_HOSTS


def metrics_endpoint(request: HttpRequest) -> HttpResponse:
    if not (settings.METRICS_TOKEN or settings.METRICS_ALLOWED_NETWORKS):
        return HttpResponse("Not found\n", status=404, content_type="text/plain")
    if request.method not in ("GET", "HEAD"):
        return HttpResponse("GET only\n", status=405, content_type="text/plain")
    forwarded = bool(request.META.get("HTTP_X_FORWARDED_FOR") or request.META.get("HTTP_X_REAL_IP"))
    if not metrics.scrape_allowed(
        authorization=request.META.get("HTTP_AUTHORIZATION", ""),
        remote_addr=request.META.get("REMOTE_ADDR"),
        forwarded=forwarded,
    ):
        response = HttpResponse(
            "A bearer token (METRICS_TOKEN) or an allowed network is needed.\n",
            status=403,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        # Cleared when the response is closed (request_finished), not on the way out: Django
        # logs 4xx/5xx responses ("Not Found: …") after the middleware chain has returned.
        log_bind(request_id=request_id, event_id="")
        if request.path_info == "/metrics" and _metrics_host(request):
            response = metrics_endpoint(request)
            view = "metrics"
        else:
            response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            view = match.view_name if match is not None else "unmatched"
        response["X-Request-ID"] = request_id
        metrics.request_observed(
            view=view,
            method=request.method or "",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response


def _request_finished(**_kwargs) -> None:
    log_context_clear()


request_finished.connect(_request_finished, dispatch_uid="config.observability.clear_ids")


# --- Multiprocess mode -------------------------------------------------------------------------


def multiprocess_dir_reset() -> None:
    """Empty PROMETHEUS_MULTIPROC_DIR when the process group (gunicorn's master, the Celery
    worker's parent) starts: files left by a previous run would be counted again."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    folder = Path(path)
    if folder.exists():
        for child in folder.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)


def multiprocess_process_dead(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


# --- Celery ------------------------------------------------------------------------------------


def celery_connect() -> None:
    """Hook the worker: ids in logs, task counters, a metrics exporter (CELERY_METRICS_PORT)."""
    from celery import signals

    signals.before_task_publish.connect(_before_publish, weak=False)
    signals.task_prerun.connect(_task_prerun, weak=False)
    signals.task_postrun.connect(_task_postrun, weak=False)
    signals.task_success.connect(_task_success, weak=False)
    signals.task_failure.connect(_task_failure, weak=False)
    signals.task_retry.connect(_task_retry, weak=False)
    signals.worker_ready.connect(_worker_ready, weak=False)
    signals.worker_process_shutdown.connect(_worker_process_shutdown, weak=False)


def _before_publish(headers=None, **_kwargs) -> None:
    from config.logs import current_request_id

    request_id = current_request_id()
    if headers is not None and request_id:
        headers.setdefault("request_id", request_id)


def _task_prerun(task=None, **_kwargs) -> None:
    if task is None or getattr(task.request, "is_eager", False):
        return  # an eager task runs inside the request: its ids stay
    log_context_clear()
    log_bind(request_id=str(getattr(task.request, "request_id", "") or task.request.id or ""))


def _task_postrun(task=None, **_kwargs) -> None:
    if task is not None and not getattr(task.request, "is_eager", False):
        log_context_clear()


def _task_success(sender=None, **_kwargs) -> None:
    metrics.task_finished(task=getattr(sender, "name", "unknown"), state="success")


def _task_failure(sender=None, **_kwargs) -> None:
    metrics.task_finished(task=getattr(sender, "name", "unknown"), state="failure")


def _task_retry(sender=None, **_kwargs) -> None:
    metrics.task_finished(task=getattr(sender, "name", "unknown"), state="retry")


def _worker_ready(**_kwargs) -> None:
    """Serve this worker's counters (all its pool processes) for Prometheus to scrape.

    Bind it to the private network only (CELERY_METRICS_ADDR); it has no authentication.
    """
    port = os.environ.get("CELERY_METRICS_PORT")
    if not port:
        return
    from prometheus_client import start_http_server

    start_http_server(
        int(port),
        addr=os.environ.get("CELERY_METRICS_ADDR", "127.0.0.1"),
        registry=metrics.process_registry(),
    )


def _worker_process_shutdown(pid=None, **_kwargs) -> None:
    multiprocess_process_dead(pid or os.getpid())
