"""`make run` and `make test` on a fresh machine: start what the product needs, then run it.

    python -m devtools.devstack run     # private PostgreSQL (if DATABASE_URL is unset), the
                                      # Stripe stand-in (if STRIPE_SECRET_KEY is unset),
                                      # migrations, demo data, web server (+ Celery with Redis)
    python -m devtools.devstack test    # the same services for the suite, then the quality gates
                                      # and pytest on every core (pytest_workers)
    python -m devtools.devstack stop    # stop a `run` going on in the background (make stop)

Everything it starts lives under .run/ (git-ignored) and stops on Ctrl-C, or on SIGTERM
(what `stop` sends to the pid in .run/devstack.pid): a background `make run` gets no Ctrl-C.
DEVSTACK_WEB_PORT is the port of the web server and of every URL the platform prints or
redirects to (it becomes PLATFORM_PORT); DEVSTACK_STRIPE_PORT the stand-in's,
DEVSTACK_PG_PORT the private PostgreSQL's. `test` also starts a second private cluster, a
second store database ("cell" b, tenants/cells.py) on DEVSTACK_PG_CELL_PORT (default
DEVSTACK_PG_PORT + 10), for the tests that run stores in two cells.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where it keeps its state (pid file, PostgreSQL data, stand-in state): .run/ by default.
RUN = Path(os.environ.get("DEVSTACK_RUN_DIR") or ROOT / ".run")
PYTHON = sys.executable
PG_PORT = int(os.environ.get("DEVSTACK_PG_PORT", "54329"))
PG_CELL_PORT = int(os.environ.get("DEVSTACK_PG_CELL_PORT", str(PG_PORT + 10)))
STANDIN_PORT = int(os.environ.get("DEVSTACK_STRIPE_PORT", "12111"))
WEB_PORT = int(os.environ.get("DEVSTACK_WEB_PORT", "8000"))
PID_FILE = RUN / "devstack.pid"


def say(message: str) -> None:
    print(f"\033[1;34m[devstack]\033[0m {message}", flush=True)


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_bindir() -> Path:
    """The system's PostgreSQL binaries, else the ones bundled in the pgserver wheel."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if candidates:
        return candidates[0].parent
    try:
        import pgserver  # bundles PostgreSQL binaries

        return Path(pgserver.__file__).parent / "pginstall" / "bin"
    except ImportError:
        sys.exit("No PostgreSQL binaries found: install PostgreSQL or set DATABASE_URL.")


def _as_pg_user(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the `postgres` user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


# A store moves between cells by logical replication: the publisher needs wal_level=logical
# (a restart to change) and a slot and a WAL sender per move; the subscriber a worker per
# subscription plus table-sync workers (SCALE-FACTS 4.7).
LOGICAL_REPLICATION = (
    "-c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20 "
    "-c max_logical_replication_workers=8 -c max_worker_processes=16"
)


def _needs_restart_for_logical(datadir: Path, port: int) -> bool:
    """True when the cluster on `port` is this checkout's own and runs without
    wal_level=logical (started by an older devstack): restart it with the setting."""
    if not (datadir / "postmaster.pid").exists():
        return False  # someone else's server: leave it alone
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        with conn.cursor() as cur:
            cur.execute("SHOW wal_level")
            level = cur.fetchone()[0]
        conn.close()
    except Exception:  # not ours to diagnose: start as before
        return False
    return level != "logical"


def _let_the_server_user_in(folder: Path) -> None:
    """As root the server runs as `postgres`, which must pass through every folder above
    its data: a checkout in a `mktemp -d` folder (mode 0700) stops it. Folders of this
    checkout or of the state folder get the traverse bit (o+x: enter, not list)."""
    for parent in [folder, *folder.parents]:
        if not (parent.is_relative_to(ROOT) or parent.is_relative_to(RUN)):
            continue
        mode = parent.stat().st_mode
        if not mode & 0o001:
            say(f"Letting the postgres user through {parent} (o+x)")
            parent.chmod(mode | 0o001)


def postgres_start(datadir: Path, port: int = PG_PORT) -> str:
    """Start (or reuse) a private cluster in `datadir` on `port`; return its DATABASE_URL
    base. Several clusters share the socket folder (each socket is named by its port)."""
    bindir = _pg_bindir()
    sockdir = datadir.parent / "pg-socket"  # socket and log: folders the server user owns
    sockdir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(sockdir, pg.pw_uid, pg.pw_gid)
        _let_the_server_user_in(datadir.parent)
    if not (datadir / "PG_VERSION").exists():
        say(f"Creating a private PostgreSQL cluster in {datadir}")
        datadir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(datadir, pg.pw_uid, pg.pw_gid)
        subprocess.run(
            _as_pg_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(datadir),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if port_open("127.0.0.1", port) and _needs_restart_for_logical(datadir, port):
        say(f"Restarting PostgreSQL on :{port} with wal_level=logical")
        postgres_stop(datadir)
    if not port_open("127.0.0.1", port):
        say(f"Starting PostgreSQL on 127.0.0.1:{port}")
        options = (
            f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            # Store moves between cells use logical replication (tenants.moves).
            f"{LOGICAL_REPLICATION}"
        )
        subprocess.run(
            _as_pg_user(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(datadir),
                    "-o",
                    options,
                    "-l",
                    str(sockdir / ("postgres.log" if port == PG_PORT else f"postgres-{port}.log")),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return f"postgres://postgres@127.0.0.1:{port}"


def postgres_stop(datadir: Path) -> None:
    bindir = _pg_bindir()
    subprocess.run(
        _as_pg_user([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"]),
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def database_ensure(base_url: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{base_url}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


# --- Processes ----------------------------------------------------------------------------


class Supervisor:
    """Start processes, stream their output, stop them all on Ctrl-C or when one dies."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def wait(self) -> int:
        try:
            while True:
                for name, proc in self.procs:
                    if proc.poll() is not None:
                        say(f"{name} exited with {proc.returncode}; stopping the rest")
                        return proc.returncode or 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            say("Stopping…")
            return 0
        finally:
            self.stop()

    def stop(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def base_env() -> tuple[dict[str, str], Path | None]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    datadir = None
    if not env.get("DATABASE_URL"):
        datadir = RUN / "pg"
        try:
            base = postgres_start(datadir)
        except (subprocess.CalledProcessError, KeyError, OSError) as exc:
            # No private cluster possible here (no `postgres` user, a folder it cannot
            # reach…): fall back to a server already listening locally, if any.
            if not port_open("127.0.0.1", 5432):
                raise
            say(f"Could not start a private PostgreSQL ({exc}); using the one on 127.0.0.1:5432")
            base, datadir = "postgres://postgres@127.0.0.1:5432", None
        database_ensure(base, "product_purchase")
        env["DATABASE_URL"] = f"{base}/product_purchase"
    return env, datadir


def run_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of everything `run` starts: the web port is the platform's port."""
    env = dict(env)
    # One setting decides the port of every printed URL, redirect and form: the one the
    # web server listens on.
    env["PLATFORM_PORT"] = str(WEB_PORT)
    if not env.get("STRIPE_SECRET_KEY"):
        env["STRIPE_API_BASE"] = f"http://127.0.0.1:{STANDIN_PORT}"
        env.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_standin_dev_secret")
    return env


def standin_command(env: dict[str, str]) -> list[str]:
    return [
        PYTHON,
        "-m",
        "devtools.stripe_standin",
        "--host",
        "127.0.0.1",
        "--port",
        str(STANDIN_PORT),
        "--public-url",
        f"http://localhost:{STANDIN_PORT}",
        "--webhook-url",
        f"http://127.0.0.1:{WEB_PORT}/stripe/webhook/",
        "--webhook-host",
        f"localhost:{WEB_PORT}",
        "--webhook-secret",
        env["STRIPE_WEBHOOK_SECRET"],
        "--state-file",
        str(RUN / "stripe-standin.json"),
    ]


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # A background `make run` gets no Ctrl-C: SIGTERM (`make stop`) takes the same path.
    # Once: a second signal must not interrupt the clean-up.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    raise KeyboardInterrupt


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid() -> int | None:
    """The pid of a `run` going on in this checkout, if any."""
    try:
        pid = int(PID_FILE.read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    # A stale file may name a pid since reused by another program: leave that one alone.
    with contextlib.suppress(OSError):
        if b"devtools.devstack" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    return pid


def cmd_run() -> int:
    RUN.mkdir(exist_ok=True)
    other = running_pid()
    if other is not None:
        say(f"Already running (pid {other}); `make stop` stops it.")
        return 1
    PID_FILE.write_text(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGHUP, _stop_on_sigterm)
    sup = Supervisor()
    datadir = None
    try:
        env, datadir = base_env()
        env = run_env(env)
        if not os.environ.get("STRIPE_SECRET_KEY"):
            say(f"No STRIPE_SECRET_KEY: using the local Stripe stand-in on :{STANDIN_PORT}")
            sup.start("stripe-standin", standin_command(env), env)
            for _ in range(50):
                if port_open("127.0.0.1", STANDIN_PORT):
                    break
                time.sleep(0.1)
        say("Migrating every schema")
        manage("migrate_platform", "-v", "0", env=env)
        # The web server starts (a few seconds of imports) while the demo is seeded: the
        # two overlap on a 2-core machine. migrate has just run the system checks.
        web = [PYTHON, "manage.py", "runserver", "--skip-checks", f"0.0.0.0:{WEB_PORT}"]
        sup.start("web", web, env)
        manage("seed_demo", env=env)
        if env.get("REDIS_URL"):
            sup.start(
                "worker",
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-l",
                    "info",
                    "--concurrency",
                    "2",
                ],
                env,
            )
            sup.start(
                "beat",
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "-l",
                    "info",
                    "--schedule",
                    str(RUN / "celerybeat-schedule"),
                ],
                env,
            )
        say(f"Platform: http://localhost:{WEB_PORT}   Demo store: http://demo.localhost:{WEB_PORT}")
        say("Ctrl-C stops everything (or `make stop` from another shell)")
        return sup.wait()
    except KeyboardInterrupt:
        say("Stopping…")
        return 0
    finally:
        sup.stop()
        if datadir is not None:
            say("Stopping PostgreSQL")
            postgres_stop(datadir)
        with contextlib.suppress(OSError):
            if PID_FILE.read_text().strip() == str(os.getpid()):
                PID_FILE.unlink()


def cmd_stop(timeout: float = 60.0) -> int:
    """Stop the `run` of this checkout (its processes and private PostgreSQL) and wait."""
    pid = running_pid()
    if pid is None:
        PID_FILE.unlink(missing_ok=True)
        left = [d for d in (RUN / "pg", RUN / "pg-cell-b") if (d / "postmaster.pid").exists()]
        for datadir in left:
            # A `run` killed outright (or a `test`) left its cluster behind.
            say(f"No devstack run; stopping the private PostgreSQL in {datadir.name}")
            postgres_stop(datadir)
        if not left:
            say("Nothing to stop")
        return 0
    say(f"Stopping the devstack run (pid {pid})")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            say(f"pid {pid} still running after {timeout:.0f}s")
            return 1
        time.sleep(0.2)
    say("Stopped")
    return 0


# Debian packages some tests drive for real: the browser journey (chromium), the nginx
# config check (nginx-light), the compose file check (docker-compose) and the Prometheus
# config and alert rules check (promtool, in Debian's prometheus package).
SYSTEM_TOOLS = {
    "chromium": "chromium",
    "nginx": "nginx-light",
    "docker-compose": "docker-compose",
    "promtool": "prometheus",
    # The pooling check drives a real PgBouncer in transaction mode (tests/tenants/test_pooling.py).
    "pgbouncer": "pgbouncer",
}


def ensure_system_tools() -> None:
    """Install what the suite drives, when we can (root with apt); else those tests skip."""
    missing = [pkg for tool, pkg in SYSTEM_TOOLS.items() if not shutil.which(tool)]
    if not missing or os.environ.get("SKIP_SYSTEM_INSTALL"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"Installing Debian packages for the suite: {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        result = subprocess.run(
            ["apt-get", "install", "-y", "-q", *missing],
            check=False,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        if result.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL)
            subprocess.run(
                ["apt-get", "install", "-y", "-q", *missing],
                check=False,
                stdout=subprocess.DEVNULL,
                env=env,
            )


def redis_url_for_tests() -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if port_open("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/15"
    server = shutil.which("redis-server")
    if server:
        port = 16379
        if not port_open("127.0.0.1", port):
            say(f"Starting a private Redis on :{port}")
            subprocess.run(
                [
                    server,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "yes",
                    "--pidfile",
                    str(RUN / "redis.pid"),
                    "--logfile",
                    str(RUN / "redis.log"),
                ],
                check=True,
            )
        return f"redis://127.0.0.1:{port}/15"
    return ""


def cell_env(env: dict[str, str]) -> Path | None:
    """A second private cluster as the store database "b" (STORE_CELLS) for the two-cell
    tests; returns its data folder (None when STORE_CELLS is given). Cell b takes no new
    stores by itself (cap 0): only the tests that ask for it put stores there."""
    if env.get("STORE_CELLS"):
        return None
    datadir = RUN / "pg-cell-b"
    base = postgres_start(datadir, PG_CELL_PORT)
    database_ensure(base, "product_purchase_b")
    env["STORE_CELLS"] = f"b={base}/product_purchase_b"
    env.setdefault("STORE_CELL_CAPS", "b=0")
    return datadir


def pytest_workers(pytest_args: list[str]) -> list[str]:
    """`-n N --dist loadgroup`: the suite on every core (pytest-xdist), each worker on
    databases of its own (pytest-django suffixes every test database, cells' included, with
    the worker's id: test_product_purchase_gw0, ..._cell_b_gw0). DEVSTACK_TEST_WORKERS
    sets N (1: one process, as before); arguments that choose it themselves (`-n`, `-p
    no:xdist`, `--pdb`) win. Tests that must share a worker say so with
    `pytest.mark.xdist_group`."""
    chosen = os.environ.get("DEVSTACK_TEST_WORKERS", "")
    if chosen and not chosen.isdigit():
        sys.exit(f"DEVSTACK_TEST_WORKERS={chosen!r}: give a number of worker processes (1: none).")
    workers = int(chosen) if chosen else (os.cpu_count() or 1)
    own = ("-n", "--numprocesses", "--pdb", "--trace", "no:xdist", "-pno:xdist")
    if workers <= 1 or any(arg.startswith(own) for arg in pytest_args):
        return []
    try:
        import xdist  # noqa: F401 - the dev extra installs it
    except ImportError:
        return []
    return ["-n", str(workers), "--dist", "loadgroup"]


def cmd_test(pytest_args: list[str]) -> int:
    RUN.mkdir(exist_ok=True)
    env, datadir = base_env()
    cell_datadir = cell_env(env)
    env["DJANGO_TESTING"] = "1"
    env["TEST_REDIS_URL"] = redis_url_for_tests()
    env.pop("REDIS_URL", None)  # the suite decides per test where Redis is used
    ensure_system_tools()
    gates = [
        ("ruff check", [PYTHON, "-m", "ruff", "check", "."]),
        ("ruff format", [PYTHON, "-m", "ruff", "format", "--check", "."]),
        ("missing migrations", [PYTHON, "manage.py", "makemigrations", "--check", "--dry-run"]),
        # Stripe parameters are typed (stripe.params.*): a misspelled one fails here.
        ("mypy payments/", [PYTHON, "-m", "mypy"]),
    ]
    try:
        if not pytest_args:
            for name, cmd in gates:
                say(name)
                if subprocess.run(cmd, cwd=ROOT, env=env).returncode != 0:
                    say(f"{name} failed")
                    return 1
        say("pytest")
        cmd = [PYTHON, "-m", "pytest", *pytest_workers(pytest_args), *pytest_args]
        return subprocess.run(cmd, cwd=ROOT, env=env).returncode
    finally:
        if os.environ.get("CI"):
            for folder in (datadir, cell_datadir):
                if folder is not None:
                    postgres_stop(folder)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test", "stop"):
        print(__doc__)
        return 2
    if sys.argv[1] == "run":
        return cmd_run()
    if sys.argv[1] == "stop":
        return cmd_stop()
    return cmd_test(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
