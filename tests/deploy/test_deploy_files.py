"""The deployment files: compose, Procfile, nginx, Dockerfile, gunicorn settings.

These tests use no Django and no database themselves (tests/conftest.py still loads
the settings, so run them the usual way):

    make test ARGS="tests/deploy -q"

Checks that need a tool (docker-compose, nginx) skip with the reason when the tool
is not installed (`apt-get install -y docker-compose nginx-light`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import runpy
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROCFILE = ROOT / "Procfile"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"

TEST_DOMAIN = "platform.test"


# --- helpers ------------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def procfile() -> dict[str, str]:
    entries = {}
    for line in PROCFILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        entries[name.strip()] = command.strip()
    return entries


def nginx_template() -> str:
    return NGINX_TEMPLATE.read_text()


def location_block(config: str, prefix: str) -> list[str]:
    """The bodies of every `location <prefix> { ... }` (no nested blocks inside)."""
    return re.findall(rf"location\s+{re.escape(prefix)}\s*\{{([^{{}}]*)\}}", config)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if not found:
        pytest.skip("nginx is not installed (apt-get install -y nginx-light)")
    return found


def compose_upload_limit_mb() -> int:
    """The upload limit compose gives nginx (and Django, which must agree)."""
    services = compose()["services"]
    nginx = re.fullmatch(
        r"\$\{PDF_MAX_UPLOAD_MB:-(\d+)\}", services["nginx"]["environment"]["PDF_MAX_UPLOAD_MB"]
    )
    assert nginx, services["nginx"]["environment"]
    return int(nginx.group(1))


def render_nginx(
    workdir: Path,
    *,
    upstream: str = "127.0.0.1:8000",
    listen_port: int | None = None,
    media_root: Path | None = None,
    upload_limit_mb: int | None = None,
) -> Path:
    """A standalone nginx.conf around the template, everything writable under workdir.

    The template is rendered the way the official image does (envsubst of the three
    variables); only what cannot work outside the container changes: the upstream
    address, the port, the media folder and the cache/temp/pid paths.
    """
    nginx = nginx_binary()
    build = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=False).stderr
    workdir.mkdir(parents=True, exist_ok=True)
    site = (
        nginx_template()
        .replace("${PLATFORM_DOMAIN}", TEST_DOMAIN)
        .replace("${DJANGO_UPSTREAM}", upstream)
        .replace("${PDF_MAX_UPLOAD_MB}", str(upload_limit_mb or compose_upload_limit_mb()))
        .replace("/var/cache/nginx/", f"{workdir}/cache/")
    )
    assert "${" not in site, "the template uses a variable the image does not substitute"
    if listen_port is not None:
        site = re.sub(r"listen 80\b", f"listen 127.0.0.1:{listen_port}", site)
    if media_root is not None:
        site = site.replace("alias /app/media/;", f"alias {media_root}/;")
    (workdir / "site.conf").write_text(site)

    temp_paths = [f"client_body_temp_path {workdir / 'temp' / 'body'};"]
    for module in ("proxy", "fastcgi", "uwsgi", "scgi"):
        if f"--without-http_{module}_module" not in build:
            temp_paths.append(f"{module}_temp_path {workdir / 'temp' / module};")
    mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    # As root, workers would drop to `nobody`, who cannot read pytest's private tmp dirs.
    user = "user root;" if os.geteuid() == 0 else ""
    (workdir / "temp").mkdir(exist_ok=True)
    (workdir / "cache").mkdir(exist_ok=True)  # /var/cache/nginx exists in the image
    main = workdir / "nginx.conf"
    main.write_text(
        f"""
{user}
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    {mime}
    default_type application/octet-stream;
    access_log off;
    {" ".join(temp_paths)}
    include {workdir}/site.conf;
}}
"""
    )
    return main


def nginx_args(main: Path) -> list[str]:
    workdir = main.parent
    return [nginx_binary(), "-p", str(workdir), "-c", str(main), "-e", str(workdir / "error.log")]


@contextlib.contextmanager
def nginx_serving(tmp_path: Path, handler: type[BaseHTTPRequestHandler], **render):
    """The deploy template in a real nginx in front of `handler` (standing in for Django);
    yields the port nginx listens on, and stops both afterwards."""
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    main = render_nginx(
        tmp_path / "nginx",
        upstream=f"127.0.0.1:{upstream.server_address[1]}",
        listen_port=port,
        **render,
    )
    proc = subprocess.Popen(
        [*nginx_args(main), "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "nginx did not start listening"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        upstream.shutdown()
        upstream.server_close()


# --- docker-compose -----------------------------------------------------------------------


def test_compose_file_validates_with_docker_compose_config():
    binary = shutil.which("docker-compose")
    if not binary:
        pytest.skip("docker-compose is not installed (apt-get install -y docker-compose)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_runs_every_service_the_platform_needs():
    services = compose()["services"]
    for name in (
        "postgres",
        "redis",
        "s3",
        "createbucket",
        "migrate",
        "django",
        "celeryworker",
        "celerybeat",
        "nginx",
    ):
        assert name in services, f"docker-compose.yml has no {name!r} service"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")


def test_compose_builds_the_app_services_from_the_deploy_dockerfile():
    services = compose()["services"]
    for name in ("migrate", "django", "celeryworker", "celerybeat"):
        build = services[name]["build"]
        assert build["dockerfile"] == "deploy/Dockerfile"
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_web_and_workers_start_only_after_the_store_migrations_succeeded():
    services = compose()["services"]
    assert "migrate_platform" in services["migrate"]["command"]
    assert services["migrate"]["restart"] == "no"
    for name in ("django", "celeryworker", "celerybeat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_nginx_waits_for_a_healthy_web_and_reads_media_read_only():
    services = compose()["services"]
    nginx = services["nginx"]
    assert nginx["depends_on"]["django"]["condition"] == "service_healthy"
    assert "healthz" in " ".join(services["django"]["healthcheck"]["test"])
    assert "media:/app/media:ro" in nginx["volumes"]
    mounted = [v for v in nginx["volumes"] if v.startswith("./deploy/nginx/")]
    assert mounted and all((ROOT / v.split(":")[0]).exists() for v in mounted)
    assert any(str(p).endswith(":80") for p in nginx["ports"])


def test_compose_keeps_its_state_in_named_volumes():
    data = compose()
    assert {"postgres-data", "redis-data", "media"} <= set(data["volumes"])
    assert "postgres-data:/var/lib/postgresql/data" in data["services"]["postgres"]["volumes"]


# --- Procfile -----------------------------------------------------------------------------


def test_procfile_declares_web_worker_beat_and_release():
    assert set(procfile()) == {"web", "worker", "beat", "release"}


def test_procfile_release_phase_migrates_every_store():
    assert procfile()["release"] == "python manage.py migrate_platform"


def test_procfile_web_runs_gunicorn_with_the_deploy_config():
    web = procfile()["web"]
    assert web.startswith("gunicorn ")
    config = re.search(r"(?:-c|--config)[ =](\S+)", web)
    assert config and (ROOT / config.group(1)).resolve() == GUNICORN_CONF
    assert "config.wsgi:application" in web


def test_procfile_runs_celery_worker_and_beat_for_the_config_app():
    entries = procfile()
    assert entries["worker"].startswith("celery -A config worker")
    assert "--concurrency" in entries["worker"]
    assert entries["beat"].startswith("celery -A config beat")


# --- nginx --------------------------------------------------------------------------------


def test_nginx_protected_location_is_internal_and_aliases_the_media_folder():
    blocks = location_block(nginx_template(), "/_protected/")
    assert len(blocks) == 2, "one internal /_protected/ location in each server"
    for body in blocks:
        directives = {line.strip() for line in body.splitlines()}
        assert "internal;" in directives
        assert "alias /app/media/;" in directives
        # nginx already passes Content-Disposition through; adding it would send it twice.
        assert "Content-Disposition" not in " ".join(
            d for d in directives if d.startswith("add_header")
        )


def test_nginx_serves_the_platform_domain_and_every_subdomain():
    config = nginx_template()
    assert re.search(r"server_name\s+\$\{PLATFORM_DOMAIN\}\s+\*\.\$\{PLATFORM_DOMAIN\};", config)


def test_nginx_sends_custom_domains_to_the_app_through_a_default_server():
    config = nginx_template()
    assert re.search(r"listen\s+80\s+default_server;", config)
    assert re.search(r"server_name\s+_;", config)


def test_nginx_accepts_200_mb_uploads_and_forwards_the_client_details():
    config = nginx_template()
    assert "client_max_body_size ${PDF_MAX_UPLOAD_MB}m;" in config
    for header in ("Host $host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP"):
        assert f"proxy_set_header {header}" in config


def test_nginx_and_django_get_one_upload_limit_from_one_variable():
    services = compose()
    nginx = services["services"]["nginx"]["environment"]
    assert "PDF_MAX_UPLOAD_MB" in nginx["NGINX_ENVSUBST_FILTER"].split("|")
    django_env = services["x-django-environment"]
    assert django_env["PDF_MAX_UPLOAD_MB"] == nginx["PDF_MAX_UPLOAD_MB"]
    settings_py = (ROOT / "config" / "settings.py").read_text()
    default = re.search(r'env\.int\("PDF_MAX_UPLOAD_MB", default=(\d+)\)', settings_py)
    assert default and int(default.group(1)) == compose_upload_limit_mb() == 200
    # In MiB at both ends: nginx's "m", and Django's bytes.
    assert "PDF_MAX_UPLOAD_BYTES = PDF_MAX_UPLOAD_MB * 1024 * 1024" in settings_py
    # Both servers answer a too-large upload with the limit in words.
    assert nginx_template().count("error_page 413 @upload_too_large;") == 2


def test_nginx_accepts_the_configuration_with_nginx_t(tmp_path):
    main = render_nginx(tmp_path / "nginx")
    result = subprocess.run(
        [*nginx_args(main), "-t"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


class _Upstream(BaseHTTPRequestHandler):
    """Stands in for Django: answers /download with X-Accel-Redirect, echoes headers."""

    seen: list[dict[str, str]] = []

    def do_GET(self):
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        if self.path == "/download":
            self.send_header("X-Accel-Redirect", "/_protected/tenants/alice/products/book.pdf")
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Disposition", 'attachment; filename="Book.pdf"')
            self.send_header("Cache-Control", "private, no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"app"
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _get(port: int, path: str, host: str, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def test_nginx_sends_paid_files_only_through_x_accel_redirect(tmp_path):
    media = tmp_path / "media"
    (media / "tenants" / "alice" / "products").mkdir(parents=True)
    (media / "tenants" / "alice" / "products" / "book.pdf").write_bytes(b"%PDF-1.4 paid\n")

    _Upstream.seen = []
    with nginx_serving(tmp_path, _Upstream, media_root=media) as port:
        # The app said yes: nginx sends the file with the app's headers, once each.
        status, headers, body = _get(port, "/download", f"alice.{TEST_DOMAIN}")
        assert status == 200
        assert body == b"%PDF-1.4 paid\n"
        names = [name.lower() for name, _ in headers]
        assert names.count("content-disposition") == 1
        assert {k.lower(): v for k, v in headers}["content-disposition"] == (
            'attachment; filename="Book.pdf"'
        )
        assert ("x-content-type-options", "nosniff") in [(k.lower(), v) for k, v in headers]

        # Nobody reaches the files directly, on the platform or on a custom domain.
        for host in (f"alice.{TEST_DOMAIN}", TEST_DOMAIN, "shop.example.org"):
            status, _, body = _get(port, "/_protected/tenants/alice/products/book.pdf", host)
            assert status == 404, host
            assert b"PDF" not in body

        # Custom domains reach the app with their Host and the proxy headers;
        # a client's own X-Accel-Redirect is not passed on.
        _Upstream.seen = []
        status, _, body = _get(port, "/", "shop.example.org", {"X-Accel-Redirect": "/_protected/x"})
        assert (status, body) == (200, b"app")
        seen = _Upstream.seen[-1]
        assert seen["host"] == "shop.example.org"
        assert seen["x-forwarded-proto"] == "http"
        assert seen["x-real-ip"] == "127.0.0.1"
        assert seen["x-forwarded-for"] == "127.0.0.1"
        assert "x-accel-redirect" not in seen


class _TextUpstream(BaseHTTPRequestHandler):
    """Stands in for Django: a page, a stylesheet, a script and a PDF, each 4 kB."""

    types = {
        "/page": "text/html; charset=utf-8",
        "/app.css": "text/css",
        "/app.js": "text/javascript",
        "/old.js": "application/javascript",
        "/file.pdf": "application/pdf",
    }

    def do_GET(self):
        body = (b"<p>Sell your PDFs from your own store.</p>\n" * 100)[:4096]
        self.send_response(200)
        self.send_header("Content-Type", self.types[self.path])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_nginx_compresses_pages_styles_and_scripts_but_not_pdfs(tmp_path):
    import gzip

    with nginx_serving(tmp_path, _TextUpstream) as port:
        accept = {"Accept-Encoding": "gzip"}
        for host in (f"alice.{TEST_DOMAIN}", "shop.example.org"):  # both servers
            for path in ("/page", "/app.css", "/app.js", "/old.js"):
                status, headers, body = _get(port, path, host, accept)
                found = {k.lower(): v for k, v in headers}
                assert status == 200
                assert found.get("content-encoding") == "gzip", (host, path, found)
                assert "Accept-Encoding" in found.get("vary", ""), (host, path)
                assert len(body) < 1024 and gzip.decompress(body).startswith(b"<p>Sell")
            # PDFs are already compressed; clients that do not ask get plain bytes.
            _, headers, body = _get(port, "/file.pdf", host, accept)
            assert "content-encoding" not in {k.lower() for k, _ in headers}
            assert len(body) == 4096
            _, headers, body = _get(port, "/page", host)
            assert "content-encoding" not in {k.lower() for k, _ in headers}
            assert body.startswith(b"<p>Sell")
        # Behind a load balancer (Via header) pages are compressed all the same.
        _, headers, _ = _get(port, "/page", TEST_DOMAIN, {**accept, "Via": "1.1 lb"})
        assert ("content-encoding", "gzip") in [(k.lower(), v) for k, v in headers]


class _Counting(BaseHTTPRequestHandler):
    """Stands in for Django: counts the requests that reach it."""

    posts = 0

    def do_POST(self):
        type(self).posts += 1
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_nginx_refuses_an_upload_over_the_limit_before_the_body_with_the_limit_in_words(
    tmp_path,
):
    _Counting.posts = 0
    with nginx_serving(tmp_path, _Counting, upload_limit_mb=1) as port:
        for host in (f"alice.{TEST_DOMAIN}", "shop.example.org"):
            # Headers only: a 1 MiB + 1 byte body is announced, not one byte of it is sent.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(
                    b"POST /dashboard/products/new/ HTTP/1.1\r\nHost: %s\r\n"
                    b"Content-Type: multipart/form-data; boundary=x\r\n"
                    b"Content-Length: %d\r\n\r\n" % (host.encode(), 1024 * 1024 + 1)
                )
                answer = b""
                while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"again."):
                    data = sock.recv(65536)
                    if not data:
                        break
                    answer += data
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
            assert b"This upload is larger than 1 MB, the most a product PDF may be." in answer
        # Just under the limit goes through to the app.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/x", body=b"a" * (1024 * 1024 - 200), headers={"Host": TEST_DOMAIN})
        assert conn.getresponse().status == 200
        conn.close()
        assert _Counting.posts == 1


# --- Dockerfile ---------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """Instructions per stage (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_on_python_3_11_slim():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    assert all("python:${PYTHON_VERSION}-slim" in stage[0] for stage in stages)
    assert re.search(r"^ARG PYTHON_VERSION=3\.11$", DOCKERFILE.read_text(), re.M)
    assert any("requirements.lock" in line for line in stages[0])


def test_dockerfile_final_stage_runs_as_the_non_root_app_user():
    final = dockerfile_stages()[-1]
    users = [line.split(None, 1)[1].strip() for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage sets no USER, so it runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert users[-1] == "app"


def test_dockerfile_collects_static_at_build_and_checks_healthz():
    final = dockerfile_stages()[-1]
    text = "\n".join(final)
    collect = next(line for line in final if "collectstatic" in line)
    assert "--noinput" in collect
    assert "DJANGO_SECRET_KEY=" in collect
    # collectstatic must run after USER app so the files belong to the app user.
    assert final.index(collect) > max(i for i, line in enumerate(final) if line.startswith("USER "))
    assert re.search(r"^EXPOSE 8000$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*/healthz", text, re.M)
    cmd = next(line for line in final if line.startswith("CMD "))
    assert "gunicorn" in cmd and "gunicorn.conf.py" in cmd


# --- gunicorn -----------------------------------------------------------------------------


def test_gunicorn_config_reads_port_and_web_concurrency(monkeypatch):
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    settings = runpy.run_path(str(GUNICORN_CONF))
    assert settings["bind"] == "0.0.0.0:9123"
    assert settings["workers"] == 3
    assert settings["worker_class"] == "gthread"
    assert settings["threads"] >= 2
    assert settings["max_requests"] > 0 and settings["max_requests_jitter"] > 0
    assert settings["forwarded_allow_ips"]
    assert "%(M)s" in settings["access_log_format"]


def test_gunicorn_config_defaults_to_port_8000_and_2_cpus_plus_1_workers(monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    settings = runpy.run_path(str(GUNICORN_CONF))
    assert settings["bind"].endswith(":8000")
    assert settings["workers"] == (os.cpu_count() or 1) * 2 + 1


def test_gunicorn_keeps_connections_longer_than_nginx_does():
    nginx_keepalive = re.search(r"keepalive_timeout (\d+)s;", nginx_template())
    assert nginx_keepalive
    settings = runpy.run_path(str(GUNICORN_CONF))
    assert settings["keepalive"] > int(nginx_keepalive.group(1))


def test_dockerfile_exec_form_commands_are_valid_json():
    # Docker silently falls back to a shell string when the JSON array is malformed.
    final = dockerfile_stages()[-1]
    for line in final:
        keyword, _, rest = line.partition(" ")
        if keyword == "HEALTHCHECK":
            rest = rest.split(" CMD ", 1)[1]
        elif keyword != "CMD":
            continue
        command = json.loads(rest)
        assert isinstance(command, list) and all(isinstance(part, str) for part in command)
        if keyword == "HEALTHCHECK":
            # The one-liner itself must at least compile.
            compile(command[-1], "<healthcheck>", "exec")


# --- Prometheus -----------------------------------------------------------------------------

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool is not installed (apt-get install -y prometheus)")
    return found


def test_prometheus_config_and_alert_rules_pass_promtool():
    tool = promtool()
    for args in (
        ["check", "config", str(PROMETHEUS_DIR / "prometheus.yml")],
        ["check", "rules", str(PROMETHEUS_DIR / "alerts.yml")],
    ):
        result = subprocess.run(
            [tool, *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_cover_lag_failures_5xx_and_queue_depth():
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    by_name = {r["alert"]: r for group in rules["groups"] for r in group["rules"]}
    lag = by_name["WebhookLagHigh"]["expr"]
    assert "product_purchase_webhook_event_lag_seconds_bucket" in lag and "> 300" in lag
    assert 'result="failed"' in by_name["WebhookFailuresRising"]["expr"]
    assert 'status=~"5.."' in by_name["HighServerErrorRate"]["expr"]
    assert "product_purchase_celery_queue_length" in by_name["CeleryQueueBacklog"]["expr"]
    for rule in by_name.values():
        assert rule.get("for") and rule["annotations"]["summary"]
        assert "store" not in rule["expr"]  # no per-store series to aggregate


def test_prometheus_scrapes_the_web_app_and_the_worker_from_compose():
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    services = compose()["services"]
    assert targets["product_purchase_web"] == ["django:8000"]
    worker_port = services["celeryworker"]["environment"]["CELERY_METRICS_PORT"]
    assert targets["product_purchase_worker"] == [f"celeryworker:{worker_port}"]
    # The app answers /metrics for the Host Prometheus sends, and nothing publishes the
    # worker's unauthenticated exporter.
    assert "django" in services["django"]["environment"]["METRICS_HOSTS"]
    assert "ports" not in services["celeryworker"]
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert all(p.startswith("127.0.0.1:") for p in prometheus["ports"])
    mounted = " ".join(prometheus["volumes"])
    assert (
        "deploy/prometheus/prometheus.yml" in mounted and "deploy/prometheus/alerts.yml" in mounted
    )


def test_gunicorn_counts_every_worker_in_one_multiprocess_directory():
    services = compose()["services"]
    assert services["django"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in services["celerybeat"].get("environment", {})
    settings = runpy.run_path(str(GUNICORN_CONF))
    assert callable(settings["on_starting"]) and callable(settings["child_exit"])
    assert settings["logger_class"].__name__ == "ScrubbedLogger"
    assert "x-request-id" in settings["access_log_format"]


def test_compose_pools_connections_in_session_mode_only():
    """Stores' schemas are session-level search_paths: a transaction-mode pooler would
    serve one store's queries in another's schema (tenants/pooling.py refuses it)."""
    data = compose()
    services = data["services"]
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "session"
    assert "@pgbouncer:5432/" in data["x-django-environment"]["DATABASE_URL"]
    for name in ("django", "celeryworker"):
        assert services[name]["depends_on"]["pgbouncer"]["condition"] == "service_healthy"
    # The one-shot migration goes straight to the server; stores can move out of it.
    assert "@postgres:5432/" in services["migrate"]["environment"]["DATABASE_URL"]
    assert "wal_level=logical" in services["postgres"]["command"]
