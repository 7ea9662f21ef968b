"""A newcomer's first `make run`: fresh clone, no package cache, time to the first page.

    python -m bench.first_run                  # 3 runs of this checkout's HEAD
    python -m bench.first_run --runs 1 --baseline 3a8c6e5   # and a run of an older commit

Each run clones the repository into a new temporary folder, points pip's and uv's caches
at empty folders, starts `make run` there on free ports (its own private PostgreSQL, the
Stripe stand-in, the demo data) and polls `http://127.0.0.1:PORT/` until it answers 200;
then `make stop` ends it and the folder is removed. It prints the seconds to the installed
venv and to the first page. The network is the package index: a shared machine or a slow
index moves the figures, so run it several times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_of(url: str) -> int:
    try:
        with _opener.open(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def one_run(rev: str, limit: float) -> dict[str, float | int | str]:
    work = Path(tempfile.mkdtemp(prefix="first-run-"))
    work.chmod(0o755)  # initdb runs as `postgres` when we are root: it must reach .run/
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", rev], check=True)
    web, stripe, pg = free_port(), free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DEVSTACK_", "PLATFORM_", "STRIPE_", "VIRTUAL_ENV"))
        and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        DEVSTACK_WEB_PORT=str(web),
        DEVSTACK_STRIPE_PORT=str(stripe),
        DEVSTACK_PG_PORT=str(pg),
        UV_CACHE_DIR=str(work / "uv-cache"),
        PIP_CACHE_DIR=str(work / "pip-cache"),
        PIP_NO_CACHE_DIR="1",
        PYTHONUNBUFFERED="1",
    )
    log = (work / "run.log").open("wb")
    started = time.monotonic()
    run = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    installed = first_page = None
    code = 0
    phases: dict[str, float] = {}
    markers = {
        "uv ready": "uv pip install",
        "postgres up": "Migrating every schema",
        "demo seeded": "Demo ready",
    }
    try:
        while time.monotonic() - started < limit and run.poll() is None:
            if installed is None and (clone / ".venv" / ".installed").exists():
                installed = time.monotonic() - started
            text = (work / "run.log").read_text(errors="replace")
            for name, marker in markers.items():
                if name not in phases and marker in text:
                    phases[name] = round(time.monotonic() - started, 1)
            code = status_of(f"http://127.0.0.1:{web}/")
            if code == 200:
                first_page = time.monotonic() - started
                break
            time.sleep(0.2)
        # The demo store is seeded while the web server starts: note when it is ready too.
        deadline = time.monotonic() + 120
        while first_page and "demo seeded" not in phases and time.monotonic() < deadline:
            if markers["demo seeded"] in (work / "run.log").read_text(errors="replace"):
                phases["demo seeded"] = round(time.monotonic() - started, 1)
            time.sleep(0.2)
    finally:
        if "\nstop:" in (clone / "Makefile").read_text():
            subprocess.run(
                ["make", "-s", "stop"], cwd=clone, env=env, capture_output=True, timeout=120
            )
        if run.poll() is None:
            os.killpg(run.pid, 15)
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, 9)
        # An older commit has no `make stop`: what it started in sessions of their own
        # (the stand-in, runserver) outlives `make`; end those, found by the clone's path.
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if str(clone).encode() in (proc / "cmdline").read_bytes():
                    os.kill(int(proc.name), 15)
            except (OSError, ValueError):
                pass
        # Its cluster may still be up too.
        pg_ctl = shutil.which("pg_ctl") or next(
            iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))), None
        )
        if pg_ctl and (clone / ".run" / "pg" / "postmaster.pid").exists():
            cmd = [str(pg_ctl), "-D", str(clone / ".run" / "pg"), "-m", "immediate", "stop"]
            if os.geteuid() == 0:
                cmd = ["runuser", "-u", "postgres", "--", *cmd]
            subprocess.run(cmd, capture_output=True, check=False)
        log.close()
        text = (work / "run.log").read_text(errors="replace")
        shutil.rmtree(work, ignore_errors=True)
    return {
        "rev": rev,
        "installed_s": round(installed, 1) if installed else -1,
        "first_page_s": round(first_page, 1) if first_page else -1,
        "status": code,
        "phases": phases,
        "refused_warnings": text.count("Connection refused"),
        "tail": "" if first_page else text[-2000:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--baseline", help="also time this (older) commit, once per run")
    parser.add_argument("--limit", type=float, default=600.0, help="give up after (s)")
    args = parser.parse_args()
    rev = subprocess.run(
        ["git", "rev-parse", "--short", args.rev], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    results: dict[str, list[float]] = {}
    for i in range(args.runs):
        revs = [rev] + ([args.baseline] if args.baseline else [])
        for r in revs:
            result = one_run(r, args.limit)
            print(
                f"run {i + 1} {r}: venv ready {result['installed_s']} s, first page (HTTP "
                f"{result['status']}) {result['first_page_s']} s, 'Connection refused' "
                f"lines {result['refused_warnings']}; phases {result['phases']}",
                flush=True,
            )
            if result["tail"]:
                print(result["tail"])
            if result["first_page_s"] > 0:
                results.setdefault(r, []).append(result["first_page_s"])
    for r, times in results.items():
        print(
            f"{r}: first page in {', '.join(f'{t:.1f}' for t in times)} s "
            f"(median {statistics.median(times):.1f} s)"
        )
    if args.baseline and rev in results and args.baseline in results:
        ratio = statistics.median(results[rev]) / statistics.median(results[args.baseline])
        print(f"ratio {rev} / {args.baseline}: {ratio:.2f}")


if __name__ == "__main__":
    main()
