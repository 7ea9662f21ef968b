"""Product page views, counted in Redis without cookies, personal data or a database write.

A counted view is ONE Redis round trip (a pipeline, no transaction) on the store's hash
for the day, `views:<schema>:<YYYY-MM-DD>`:

    HSETNX epoch <random>        the hash's epoch (see below); only the first one sticks
    HINCRBY p|<slug> 1           the product page's views
    HINCRBY r|<slug>|<host> 1    …from this referring site (Referer's host, not our own)
    HINCRBY u|<slug>|<source> 1  …with this utm_source
    EXPIRE, SADD views:days:<day> <schema>, EXPIRE   so the rollup knows which stores to read

Nothing about the visitor is kept: no IP, no user agent, no cookie; only the product's
slug (slugs never change once made), a host name and a utm_source. Not counted: HEAD,
bots (common user-agent words), prefetches and prerenders (`Sec-Purpose`/`Purpose`), and
the store's owner (or a platform admin) looking at their own pages. Counting wraps the
page cache (catalog.page_cache), so a page served from the cache is counted too and
still costs no database query.

`views_rollup` (Celery beat) copies the counters into ProductViewDay/ProductReferrerDay in
each store's schema. It SETS counts, never adds them, so running it twice changes
nothing. Redis keeps nothing on disk: when a hash comes back with a new epoch, what the
row counted under the old epoch is kept (`settled`) and the new count is added on top.
Days before yesterday are final once rolled up: their hashes are deleted.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

logger = logging.getLogger(__name__)

TTL = 8 * 24 * 3600  # a stopped beat can catch up for a week
KEEP_DAYS = 7
# Per product and day, the sites (and utm sources) with the most views are kept apart;
# the rest are added up under OTHER, so junk Referer headers cannot grow the tables.
TOP_SOURCES = 50
OTHER = "(other)"

# Lower-case pieces of user agents that are not people. An empty user agent is a script.
BOT_WORDS = (
    "bot", "crawl", "spider", "slurp", "scrape", "fetch", "preview", "monitor", "check",
    "curl", "wget", "python", "httpx", "aiohttp", "okhttp", "java/", "go-http", "node-fetch",
    "axios", "libwww", "headless", "phantomjs", "lighthouse", "pingdom", "uptime",
    "facebookexternalhit", "embedly", "quora link", "whatsapp", "telegram", "discord",
    "skype", "bitly", "mediapartners", "adsbot", "feedfetcher",
)  # fmt: skip
_SOURCE = re.compile(r"[^a-z0-9._~-]+")


# --- where the counters live ------------------------------------------------------------------


def _prefix() -> str:
    return settings.CACHES["default"].get("KEY_PREFIX", "")


def day_key_prefix(schema_name: str) -> str:
    """A store's day hashes are this and the day (config.edge builds the key in Redis)."""
    return f"{_prefix()}:views:{schema_name}:"


def day_key(schema_name: str, day: date) -> str:
    return day_key_prefix(schema_name) + day.isoformat()


def days_key(day: date) -> str:
    return f"{_prefix()}:views:days:{day.isoformat()}"


class _LocalRedis:
    """Development without Redis: the few commands used here, in this process's memory."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: dict[str, dict | set] = {}

    def pipeline(self, transaction: bool = False) -> _LocalRedis:
        return self

    def execute(self) -> list:
        return []

    def hsetnx(self, key: str, field: str, value: str) -> None:
        with self.lock:
            self.data.setdefault(key, {}).setdefault(field, value)  # type: ignore[union-attr]

    def hincrby(self, key: str, field: str, amount: int) -> None:
        with self.lock:
            table = self.data.setdefault(key, {})
            table[field] = int(table.get(field, 0)) + amount  # type: ignore[union-attr]

    def sadd(self, key: str, member: str) -> None:
        with self.lock:
            self.data.setdefault(key, set()).add(member)  # type: ignore[union-attr]

    def expire(self, key: str, seconds: int) -> None:
        pass

    def hgetall(self, key: str) -> dict[bytes, bytes]:
        with self.lock:
            found = dict(self.data.get(key) or {})
        return {str(k).encode(): str(v).encode() for k, v in found.items()}

    def smembers(self, key: str) -> set[bytes]:
        with self.lock:
            return {str(m).encode() for m in (self.data.get(key) or set())}

    def srem(self, key: str, member: str) -> None:
        with self.lock:
            self.data.get(key, set()).discard(member)  # type: ignore[union-attr]

    def delete(self, key: str) -> None:
        with self.lock:
            self.data.pop(key, None)


_local = _LocalRedis()


def _redis():
    if not settings.REDIS_URL:
        return _local
    from django_redis import get_redis_connection

    return get_redis_connection("default")


# --- counting ---------------------------------------------------------------------------------


def person_looking(agent: str, purpose: str, x_moz: str) -> bool:
    """From a GET's User-Agent, Sec-Purpose (or Purpose) and X-Moz headers: not a bot, not
    a prefetch or prerender. Also config.edge's test, which sees headers, not a request."""
    agent = agent.lower()
    if not agent or any(word in agent for word in BOT_WORDS):
        return False
    purpose = purpose.lower()
    return not ("prefetch" in purpose or "prerender" in purpose or x_moz)


def view_countable(request: HttpRequest) -> bool:
    """A person looking at the page: a GET, not a bot, not a prefetch, not the owner."""
    if request.method != "GET":
        return False
    headers = request.headers
    if not person_looking(
        headers.get("User-Agent", ""),
        headers.get("Sec-Purpose") or headers.get("Purpose") or "",
        headers.get("X-Moz", ""),
    ):
        return False
    # Only a visitor with a session can be the owner; looking costs no query otherwise.
    if settings.SESSION_COOKIE_NAME in request.COOKIES:
        from tenants.decorators import is_store_owner

        user = request.user
        if is_store_owner(request) or (user.is_authenticated and user.is_staff):
            return False
    return True


def _source(value: str) -> str:
    return _SOURCE.sub("-", value.strip().lower())[:100].strip("-")


def utm_source(value: str) -> str:
    """A utm_source as it is counted: lower case, junk characters folded, 100 at most."""
    return _source(value)


def referrer_site(referer: str, own_host: str) -> str:
    """The Referer's host when it is another site than `own_host` ("" for none, our own,
    or junk)."""
    if not referer:
        return ""
    try:
        host = (urlsplit(referer).hostname or "").lower()
    except ValueError:
        return ""
    if host.startswith("www."):
        host = host[4:]
    own = own_host.split(":")[0].lower()
    if not host or host == own or host == f"www.{own}":
        return ""
    return _source(host)


def referrer_host(request: HttpRequest) -> str:
    """The Referer's host when it is another site ("" for none, our own, or junk)."""
    return referrer_site(request.headers.get("Referer", ""), request.get_host())


# product_view_count's pipeline as a Lua function, for config.edge: the page read and the
# count in one round trip. Same commands, same keys; tests/catalog/test_page_edge.py counts
# through both and compares the hashes.
COUNT_VIEW_LUA = """
local function count_view(day, index, schema, slug, site, utm, epoch, ttl)
  redis.call('HSETNX', day, 'epoch', epoch)
  redis.call('HINCRBY', day, 'p|' .. slug, 1)
  if site ~= '' then redis.call('HINCRBY', day, 'r|' .. slug .. '|' .. site, 1) end
  if utm ~= '' then redis.call('HINCRBY', day, 'u|' .. slug .. '|' .. utm, 1) end
  redis.call('EXPIRE', day, ttl)
  redis.call('SADD', index, schema)
  redis.call('EXPIRE', index, ttl)
end
"""


def product_view_count(request: HttpRequest, slug: str) -> None:
    """Count one view of the product page `slug`: one Redis round trip, never an error."""
    schema = request.tenant.schema_name
    day = timezone.localdate()
    key, index = day_key(schema, day), days_key(day)
    site = referrer_host(request)
    utm = utm_source(request.GET.get("utm_source", ""))
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.hsetnx(key, "epoch", secrets.token_hex(8))
        pipe.hincrby(key, f"p|{slug}", 1)
        if site:
            pipe.hincrby(key, f"r|{slug}|{site}", 1)
        if utm:
            pipe.hincrby(key, f"u|{slug}|{utm}", 1)
        pipe.expire(key, TTL)
        pipe.sadd(index, schema)
        pipe.expire(index, TTL)
        pipe.execute()
    except Exception:  # a counter must never cost the buyer the page
        logger.warning("Could not count a view of %s in %s", slug, schema, exc_info=True)


def counts_views(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Count the product page's views; wraps the cached page, so cache hits count too."""

    @wraps(view)
    def wrapper(request: HttpRequest, slug: str, *args, **kwargs) -> HttpResponse:
        response = view(request, slug, *args, **kwargs)
        if response.status_code == 200 and view_countable(request):
            product_view_count(request, slug)
        edge = getattr(response, "page_edge", None)
        if edge is not None:
            edge["counts"] = slug  # the edge counts its own hits of this page (config.edge)
        return response

    return wrapper


# --- rolling up -------------------------------------------------------------------------------


def _parse(raw: dict[bytes, bytes]) -> tuple[str, dict[str, int], dict[tuple[str, str, str], int]]:
    """(epoch, views per slug, views per (slug, kind, source)) from a day's hash."""
    epoch = ""
    views: dict[str, int] = {}
    sources: dict[tuple[str, str, str], int] = {}
    for field_b, value_b in raw.items():
        field, value = field_b.decode(), value_b.decode()
        if field == "epoch":
            epoch = value[:16]
            continue
        parts = field.split("|")
        try:
            count = int(value)
        except ValueError:
            continue
        if parts[0] == "p" and len(parts) == 2:
            views[parts[1]] = count
        elif parts[0] in ("r", "u") and len(parts) == 3:
            kind = "site" if parts[0] == "r" else "utm"
            sources[(parts[1], kind, parts[2][:100])] = count
    return epoch, views, sources


def _top_sources(
    sources: dict[tuple[str, str, str], int],
) -> dict[tuple[str, str, str], int]:
    grouped: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for (slug, kind, source), count in sources.items():
        grouped[(slug, kind)].append((source, count))
    kept: dict[tuple[str, str, str], int] = {}
    for (slug, kind), items in grouped.items():
        items.sort(key=lambda item: (-item[1], item[0]))
        for source, count in items[:TOP_SOURCES]:
            kept[(slug, kind, source)] = count
        rest = sum(count for _, count in items[TOP_SOURCES:])
        if rest:
            kept[(slug, kind, OTHER)] = rest
    return kept


# Same epoch: the count only goes up (a late, smaller read never lowers it). New epoch
# (Redis lost the hash): what was counted stays, the new count adds to it.
_UPSERT = """
INSERT INTO {table} AS t ({columns}, views, settled, epoch) VALUES {values}
ON CONFLICT ({columns}) DO UPDATE SET
  settled = CASE WHEN t.epoch = EXCLUDED.epoch THEN t.settled ELSE t.views END,
  views = CASE WHEN t.epoch = EXCLUDED.epoch
               THEN t.settled + GREATEST(t.views - t.settled, EXCLUDED.views)
               ELSE t.views + EXCLUDED.views END,
  epoch = EXCLUDED.epoch
"""


def _upsert(table: str, columns: list[str], rows: list[tuple]) -> None:
    width = len(columns) + 3
    placeholder = "(" + ", ".join(["%s"] * width) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            sql = _UPSERT.format(
                table=connection.ops.quote_name(table),
                columns=", ".join(columns),
                values=", ".join([placeholder] * len(chunk)),
            )
            cursor.execute(sql, [value for row in chunk for value in row])


def store_views_save(*, day: date, raw: dict[bytes, bytes]) -> int:
    """Write one store-day's counters into the active store's schema; how many rows."""
    from .models import Product, ProductReferrerDay, ProductViewDay

    epoch, views, sources = _parse(raw)
    ids = dict(Product.objects.filter(slug__in=set(views)).values_list("slug", "pk"))
    view_rows = [(ids[slug], day, n, 0, epoch) for slug, n in views.items() if slug in ids]
    source_rows = [
        (ids[slug], day, kind, source, n, 0, epoch)
        for (slug, kind, source), n in _top_sources(sources).items()
        if slug in ids
    ]
    with transaction.atomic():
        if view_rows:
            _upsert(ProductViewDay._meta.db_table, ["product_id", "day"], view_rows)
        if source_rows:
            _upsert(
                ProductReferrerDay._meta.db_table,
                ["product_id", "day", "kind", "source"],
                source_rows,
            )
    return len(view_rows) + len(source_rows)


def views_rollup(*, today: date | None = None) -> int:
    """Every store's counters of the last KEEP_DAYS days into its tables; rows written."""
    from django_tenants.utils import schema_context

    from tenants.models import Store

    today = today or timezone.localdate()
    client = _redis()
    written = 0
    for back in range(KEEP_DAYS + 1):
        day = today - timedelta(days=back)
        final = back >= 2  # nothing counts into it any more
        schemas = sorted(m.decode() for m in client.smembers(days_key(day)))
        known = set(
            Store.objects.filter(schema_name__in=schemas).values_list("schema_name", flat=True)
        )
        for schema in schemas:
            key = day_key(schema, day)
            if schema in known:
                raw = client.hgetall(key)
                with schema_context(schema):
                    written += store_views_save(day=day, raw=raw)
            if final or schema not in known:
                client.delete(key)
                client.srem(days_key(day), schema)
    return written


# --- reading (the dashboard) ------------------------------------------------------------------


def views_per_product(*, start: date | None) -> dict[int, int]:
    """Rolled-up views per product since `start` (all time for None); one query."""
    from django.db.models import Sum

    from .models import ProductViewDay

    rows = ProductViewDay.objects.all()
    if start is not None:
        rows = rows.filter(day__gte=start)
    return dict(rows.values("product_id").annotate(n=Sum("views")).values_list("product_id", "n"))


def views_per_product_day(*, start: date) -> dict[int, dict[date, int]]:
    from .models import ProductViewDay

    found: dict[int, dict[date, int]] = defaultdict(dict)
    for product_id, day, views in ProductViewDay.objects.filter(day__gte=start).values_list(
        "product_id", "day", "views"
    ):
        found[product_id][day] = views
    return found


def top_referrers(*, start: date | None, limit: int = 10) -> list[dict]:
    """The sites and utm sources that brought the most views since `start`."""
    from django.db.models import Sum

    from .models import ProductReferrerDay

    rows = ProductReferrerDay.objects.all()
    if start is not None:
        rows = rows.filter(day__gte=start)
    labels = dict(ProductReferrerDay.Kind.choices)
    return [
        {**row, "kind_label": labels.get(row["kind"], row["kind"])}
        for row in rows.values("kind", "source")
        .annotate(views=Sum("views"))
        .order_by("-views", "kind", "source")[:limit]
    ]
