"""axe-core in the browser tests: every page the journey visits is checked, and a serious
or critical violation fails the test.

axe is vendored (tests/e2e/axe/, see its README for why and how to update) and added to
each browser context with `add_init_script`, which runs before the page's own scripts
and is not subject to the page's Content-Security-Policy, so the pages are checked with
the CSP they ship. Every finding, minor ones included, is written next to the
screenshots (axe-<page>.json) for whoever wants to do better than "no serious ones".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

AXE = Path(__file__).parent / "axe" / "axe.min.js"
AXE_VERSION = "4.14.1"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
FAILING = ("serious", "critical")

_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return {
    version: axe.version,
    violations: result.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html.slice(0, 200),
                                summary: n.failureSummary})),
    })),
  };
}"""


def axe_source() -> str:
    data = AXE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == AXE_SHA256, f"{AXE} is not axe-core {AXE_VERSION}"
    return data.decode()


def add_axe(context) -> None:
    """Make axe available on every page this browser context opens."""
    context.add_init_script(script=axe_source())


def axe_violations(page) -> list[dict]:
    page.wait_for_load_state("load")
    result = page.evaluate(_RUN)
    assert result["version"] == AXE_VERSION
    return result["violations"]


def assert_accessible(page, name: str, *, report_dir: Path | None = None) -> list[dict]:
    """No serious or critical axe violation on the page as it is now. Returns them all."""
    violations = axe_violations(page)
    if report_dir is not None:
        report = {"url": page.url, "violations": violations}
        (report_dir / f"axe-{name}.json").write_text(json.dumps(report, indent=2))
    bad = [v for v in violations if v["impact"] in FAILING]
    lines = [
        f"  {v['impact']} {v['id']}: {v['help']} ({v['helpUrl']})\n"
        + "\n".join(f"    at {n['target']}: {n['html']}" for n in v["nodes"][:5])
        for v in bad
    ]
    assert not bad, f"axe on {name} ({page.url}):\n" + "\n".join(lines)
    return violations
