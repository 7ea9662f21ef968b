"""Run every benchmark in turn (`make bench`); each prints its own figures."""

from __future__ import annotations

import subprocess
import sys

BENCHES = [
    ["bench.provisioning", "--stores", "1000"],
    ["bench.tenancy_overhead"],
    ["bench.webhook_intake"],
    ["bench.download_auth"],
    ["bench.load"],
    ["bench.migrations", "--stores", "1000"],
    ["bench.stripe_client_reuse", "--calls", "500"],
]


def main() -> int:
    failed = 0
    for bench in BENCHES:
        print(f"\n=== python -m {' '.join(bench)}", flush=True)
        failed += subprocess.run([sys.executable, "-m", *bench], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
