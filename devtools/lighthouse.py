"""Lighthouse's four scores for the storefront, a product page and the dashboard of the
demo store, against a running `make run` (same DEVSTACK_* ports):

    DATABASE_URL=postgres://postgres@127.0.0.1:<pg port>/product_purchase \\
        .venv/bin/python -m devtools.lighthouse --web-port 8000 [--preset desktop]

Needs node/npm: Lighthouse 12 is installed once under .run/node (git-ignored). The
dashboard is audited as the demo seller: a session is made for it in the database, as
logging in would. Reports (JSON) go to .run/lighthouse/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / ".run" / "node"
LIGHTHOUSE = NODE / "node_modules" / ".bin" / "lighthouse"
OUT = ROOT / ".run" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")


def demo_targets(web_port: int) -> tuple[list[tuple[str, str]], str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.test import Client
    from django_tenants.utils import schema_context

    from catalog.models import Product
    from sellers.management.commands.seed_demo import SELLER
    from sellers.models import User
    from tenants.models import Store

    store = Store.objects.get(subdomain="demo")
    with schema_context(store.schema_name):
        product = Product.objects.for_storefront().first()
    client = Client()
    client.force_login(User.objects.get(email=SELLER[0]))
    base = f"http://{store.host.split(':')[0]}:{web_port}"
    pages = [("storefront", f"{base}/"), ("dashboard", f"{base}/dashboard/")]
    if product is not None:
        pages.insert(1, ("product", f"{base}{product.get_absolute_url()}"))
    return pages, client.cookies["sessionid"].value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--web-port", type=int, default=int(os.environ.get("DEVSTACK_WEB_PORT", 8000))
    )
    parser.add_argument("--preset", choices=("mobile", "desktop"), default="mobile")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        subprocess.run(
            ["npm", "install", "--prefix", str(NODE), "--no-audit", "--no-fund", "lighthouse@12"],
            check=True,
        )
    OUT.mkdir(parents=True, exist_ok=True)
    pages, session = demo_targets(args.web_port)
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    print(f"{'page':<12}" + "".join(f"{c:>16}" for c in CATEGORIES) + "   (" + args.preset + ")")
    for name, url in pages:
        report = OUT / f"{name}-{args.preset}.json"
        command = [
            str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={report}",
            "--chrome-flags=--headless --no-sandbox --disable-gpu",
        ]  # fmt: skip
        if name == "dashboard":
            command.append("--extra-headers=" + json.dumps({"Cookie": f"sessionid={session}"}))
        if args.preset == "desktop":
            command.append("--preset=desktop")
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        scores = json.loads(report.read_text())["categories"]
        print(f"{name:<12}" + "".join(f"{round(scores[c]['score'] * 100):>16}" for c in CATEGORIES))


if __name__ == "__main__":
    main()
