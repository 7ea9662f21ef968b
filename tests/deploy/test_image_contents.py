"""What the production image holds: the runtime lock only, and no tools or tests.

No Docker needed: the Dockerfile's own instructions are read and, for the source stage,
run on a copy of the repository (`.dockerignore` applied, then the stage's RUN line), so
what lands in /app is what the image would get.

    make test ARGS="tests/deploy -q"
"""

from __future__ import annotations

import ast
import fnmatch
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"

# Never in the image, whatever pyproject says: test runners, browsers, mocks, linters,
# type checkers and the dev stack's bundled PostgreSQL.
TEST_TOOLS = {
    "pytest",
    "pytest-django",
    "pytest-timeout",
    "pytest-xdist",
    "pytest-cov",
    "coverage",
    "playwright",
    "moto",
    "ruff",
    "pgserver",
    "factory-boy",
    "faker",
    "mypy",
    "pyright",
    "django-stubs",
    "responses",
    "flask",
}
# Folders that serve development and tests only.
NOT_IN_IMAGE = ("devtools/", "tests/", "bench/")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    found = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)", line)
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def requirement_name(spec: str) -> str:
    return canonical(re.match(r"[A-Za-z0-9._-]+", spec).group(0))


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def stages() -> dict[str, list[str]]:
    """Instructions per named stage (continuations joined, comments dropped), in order."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result: dict[str, list[str]] = {}
    current = None
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.I)
        if match:
            current = match.group(1) or f"stage{len(result)}"
            result[current] = []
        if current:
            result[current].append(line)
    return result


def stages_behind(target: str) -> list[str]:
    """The stage and every stage it copies from or builds on: what the image is made of."""
    all_stages = stages()
    seen: list[str] = []
    todo = [target]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        for line in all_stages[name]:
            todo += re.findall(r"--from=(\S+)", line)
            base = re.match(r"FROM\s+(\S+)", line, re.I)
            if base and base.group(1) in all_stages:
                todo.append(base.group(1))
    return seen


def dockerignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = any(
            fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, pattern.lstrip("*/"))
            for prefix in prefixes
        )
        if hit:
            ignored = not negate
    return ignored


def test_the_image_installs_the_runtime_lock_and_nothing_else():
    runtime = stages_behind(list(stages())[-1])
    lines = [line for name in runtime for line in stages()[name]]
    copied = {
        Path(src).name
        for line in lines
        if line.upper().startswith("COPY ") and "--from" not in line
        for src in line.split()[1:-1]
        if "requirements" in src or src.endswith(".lock")
    }
    assert copied == {"requirements.lock"}
    installs = [line for line in lines if re.search(r"\bpip install\b", line)]
    assert installs and all(
        "-r /tmp/requirements.lock" in line for line in installs if "-r" in line
    )
    assert not any(re.search(r"pip install .*(pytest|playwright|moto|ruff)", i) for i in installs)


def test_the_runtime_lock_holds_no_test_or_dev_tool():
    runtime = set(pins(RUNTIME_LOCK))
    dev_extra = {
        requirement_name(spec) for spec in pyproject()["project"]["optional-dependencies"]["dev"]
    }
    assert not runtime & TEST_TOOLS, sorted(runtime & TEST_TOOLS)
    assert not runtime & dev_extra, sorted(runtime & dev_extra)
    # and the lock really is the runtime set: every product dependency is pinned
    for spec in pyproject()["project"]["dependencies"]:
        assert requirement_name(spec) in runtime, spec


def test_the_dev_lock_is_the_runtime_lock_plus_the_tools_at_the_same_versions():
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    for name, version in runtime.items():
        assert dev.get(name) == version, f"{name}: {version} at run time, {dev.get(name)} in dev"
    for spec in pyproject()["project"]["optional-dependencies"]["dev"]:
        assert requirement_name(spec) in dev, spec
    assert "-c requirements.lock" in DEV_LOCK.read_text().splitlines()[1]


def test_the_image_copy_step_leaves_out_devtools_tests_and_bench(tmp_path):
    source = stages()["source"]
    assert "COPY . /src" in source
    runs = [line[4:] for line in source if line.startswith("RUN ")]
    assert len(runs) == 1 and runs[0].startswith("cd /src ")
    # The build context: the repository's files less what .dockerignore names.
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    src = tmp_path / "src"
    for path in tracked:
        if dockerignored(path, patterns) or not (ROOT / path).is_file():
            continue
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / path, src / path)
    assert (src / "devtools" / "devstack.py").exists(), "the context still has devtools/"
    # The stage's own RUN line, on that copy.
    subprocess.run(["bash", "-c", runs[0].replace("/src", str(src))], check=True)

    shipped = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()}
    leaked = sorted(p for p in shipped if p.startswith(NOT_IN_IMAGE))
    assert not leaked, leaked[:10]
    assert "requirements-dev.lock" not in shipped
    for needed in (
        "manage.py",
        "config/settings.py",
        "deploy/gunicorn.conf.py",
        "requirements.lock",
    ):
        assert needed in shipped, needed
    for app in ("tenants", "catalog", "payments", "sellers", "console"):
        assert f"{app}/models.py" in shipped


def test_product_code_imports_no_dev_tool():
    dev_modules = {
        "pytest",
        "playwright",
        "moto",
        "ruff",
        "pgserver",
        "factory",
        "faker",
        "devtools",
        "tests",
        "bench",
    }
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((*NOT_IN_IMAGE, ".venv/", ".run/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{relative}: {n}" for n in names if n.split(".")[0] in dev_modules]
    assert not offenders, offenders


def test_compose_runs_the_stand_in_from_its_own_dev_stage():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    stripe = services["stripe"]
    assert stripe["build"]["target"] == "stripe-standin"
    assert "devtools.stripe_standin" in stripe["command"]
    assert stripe["image"] != services["django"]["image"]
    assert "stripe-standin" in stages() and list(stages())[-1] != "stripe-standin"
    # The stand-in stage takes the stand-in only: no product code, no requirements.
    copies = [line for line in stages()["stripe-standin"] if line.startswith("COPY ")]
    assert copies and all(line.split()[1].startswith("devtools/") for line in copies)
    # No other service runs a development tool from the product image.
    for name, service in services.items():
        if name != "stripe" and service.get("build"):
            assert "target" not in service["build"] or service["build"]["target"] == "runtime"
            assert "devtools" not in str(service.get("command", "")), name


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_each_lock_says_how_make_lock_made_it(lock):
    command = lock.read_text().splitlines()[1].strip("# ").strip()
    makefile = (ROOT / "Makefile").read_text()
    flags = command.replace("uv pip compile ", "")
    assert flags in makefile.replace("-q $(UPGRADE) ", ""), command
