"""The pages a browser sees instead of Stripe's: onboarding, checkout, and an overview.

They look enough like Stripe's that a demo or a browser test reads naturally, and every
button does what the real flow does to the objects and events. Everything user-supplied
is escaped; there is no JavaScript beyond a double-submit guard.
"""

from __future__ import annotations

import re
import time
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from . import bank, tax
from .money import format_amount
from .params import StripeError
from .responses import Response, html_response, redirect
from .store import Effects, Settings, Store, now

CSS = """
:root{--brand:#635bff;--brand-dark:#4b45c6;--ink:#1a1f36;--muted:#697386;--line:#e3e8ee;
--bg:#f6f9fc;--danger:#df1b41;--ok:#0e7c3a}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,
sans-serif;color:var(--ink);background:var(--bg)}
a{color:var(--brand)}
.testbar{background:#ffde92;color:#7a4d00;text-align:center;font-size:12px;font-weight:600;
letter-spacing:.06em;padding:6px;text-transform:uppercase}
.wrap{max-width:980px;margin:0 auto;padding:48px 24px}
.narrow{max-width:560px}
.card{background:#fff;border-radius:12px;padding:32px;
box-shadow:0 2px 5px rgba(50,50,93,.1),0 1px 2px rgba(0,0,0,.08)}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:64px;align-items:start}
@media (max-width:760px){.grid{grid-template-columns:1fr;gap:32px}}
.back{color:var(--muted);text-decoration:none;font-size:14px;display:inline-block;margin-bottom:24px}
.back:hover{color:var(--ink)}
.merchant{font-weight:600;color:var(--muted);font-size:15px}
.price{font-size:36px;font-weight:700;margin:2px 0 24px;letter-spacing:-.02em}
.item{display:flex;justify-content:space-between;gap:16px;padding:12px 0;
border-top:1px solid var(--line)}
.item .desc{color:var(--muted);font-size:13px;margin-top:2px}
.muted{color:var(--muted)}
h1{font-size:22px;margin:0 0 8px}
h2{font-size:17px;margin:0 0 4px}
label{display:block;font-size:13px;color:var(--muted);margin:16px 0 6px;font-weight:500}
input,select{width:100%;padding:10px 12px;border:1px solid var(--line);border-radius:6px;font-size:15px;
color:var(--ink);background:#fff;box-shadow:0 1px 1px rgba(0,0,0,.03)}
input:focus{outline:none;border-color:var(--brand);box-shadow:0 0 0 3px rgba(99,91,255,.25);
position:relative;z-index:1}
.cardgroup input{border-radius:0}
.cardgroup .top{border-radius:6px 6px 0 0}
.cardgroup .row{display:flex}
.cardgroup .row input{flex:1;margin-top:-1px}
.cardgroup .bl{border-radius:0 0 0 6px}
.cardgroup .br{border-radius:0 0 6px 0;margin-left:-1px}
button{font:inherit;cursor:pointer}
.primary{width:100%;margin-top:24px;background:var(--brand);color:#fff;border:0;border-radius:6px;
padding:12px;font-size:16px;font-weight:600}
.primary:hover{background:var(--brand-dark)}
.secondary{width:100%;margin-top:12px;background:#fff;color:var(--ink);border:1px solid var(--line);
border-radius:6px;padding:11px;font-size:15px;font-weight:600}
.secondary:hover{border-color:#c1c9d2}
.linkish{background:none;border:0;color:var(--muted);text-decoration:underline;padding:0;
font-size:13px;margin-top:20px}
.error{background:#fff0f3;color:var(--danger);border:1px solid #ffd1da;padding:10px 12px;
border-radius:6px;margin:0 0 12px;font-size:14px}
.note{background:#f0f4ff;border:1px solid #dbe3ff;padding:10px 12px;border-radius:6px;
font-size:14px}
.hint{font-size:12.5px;color:var(--muted);margin:6px 0 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:20px 0;font-size:14px}
dt{color:var(--muted)}dd{margin:0}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f3f7;padding:1px 5px;
border-radius:4px}
details{margin-top:16px}summary{cursor:pointer}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0 32px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:500}
.pill{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;background:#eef0f3}
.pill.good{background:#d7f7e0;color:var(--ok)}.pill.bad{background:#ffe1e6;color:var(--danger)}
.footer{text-align:center;font-size:12px;color:var(--muted);margin-top:24px}
"""


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        "<div class=testbar>Test mode · local Stripe stand-in</div>"
        f"{body}</body></html>"
    )


def message_page(
    status: int, title: str, text: str, link: tuple[str, str] | None = None
) -> Response:
    action = f'<p><a href="{escape(link[0])}">{escape(link[1])}</a></p>' if link else ""
    body = (
        f'<div class="wrap narrow"><div class=card><h1>{escape(title)}</h1>'
        f"<p class=muted>{escape(text)}</p>{action}</div></div>"
    )
    return html_response(status, page(title, body))


def merchant_name(store: Store, account_id: str) -> str:
    acct = store.get("accounts", account_id) or {}
    profile = acct.get("business_profile") or {}
    dashboard = (acct.get("settings") or {}).get("dashboard") or {}
    return profile.get("name") or dashboard.get("display_name") or acct.get("email") or account_id


# --- onboarding -------------------------------------------------------------------------


def onboarding_get(store: Store, token: str) -> Response:
    link = store.get("account_links", token)
    if link is None:
        return message_page(404, "Link not found", "This onboarding link does not exist.")
    # Single use and short-lived, like Stripe's: the app must mint a fresh one.
    if link["_state"] != "new" or now() >= link["expires_at"]:
        return redirect(link["_refresh_url"])
    link["_state"] = "opened"
    store.mark_dirty()
    acct = store.get("accounts", link["_account"]) or {}
    title = "Stripe test onboarding (local stand-in)"
    body = f"""
<div class="wrap narrow"><div class=card>
<h1>{escape(title)}</h1>
<p class=muted>This page stands in for Stripe's hosted onboarding. Choose how the business
finishes: the account is updated, an <code>account.updated</code> event is sent to the
platform, and you return to the platform.</p>
<dl>
<dt>Account</dt><dd><code>{escape(acct.get("id", ""))}</code></dd>
<dt>Email</dt><dd>{escape(acct.get("email") or "—")}</dd>
<dt>Country</dt><dd>{escape(acct.get("country") or "—")}</dd>
<dt>Type</dt><dd>{escape(acct.get("type") or "—")}</dd>
</dl>
<form method=post>
<button class=primary type=submit name=action value=complete>Complete onboarding</button>
<p class=hint>Charges and payouts become enabled and nothing is left due.</p>
<button class=secondary type=submit name=action value=requirements_due>
Submit with requirements still due</button>
<p class=hint>Details are submitted, but identity verification is still due: charges stay
disabled.</p>
<button class=linkish type=submit name=action value=leave>
Return to the platform without submitting</button>
</form>
</div><p class=footer>Link expires {escape(_clock(link["expires_at"]))} · single use</p></div>"""
    return html_response(200, page(title, body))


def onboarding_post(
    store: Store, settings: Settings, fx: Effects, token: str, form: dict[str, str]
) -> Response:
    link = store.get("account_links", token)
    if link is None:
        return message_page(404, "Link not found", "This onboarding link does not exist.")
    if link["_state"] != "opened":
        return redirect(link["_refresh_url"])
    action = form.get("action", "")
    acct = store.get("accounts", link["_account"])
    if acct is None or acct.get("_deauthorized"):
        return message_page(410, "Account unavailable", "This account is no longer connected.")
    if action in bank.ONBOARDING_OUTCOMES:
        bank.set_onboarding_outcome(store, settings, fx, acct, action)
    elif action != "leave":
        return message_page(400, "Unknown action", f"Unknown onboarding action {action!r}.")
    link["_state"] = "used"
    store.mark_dirty()
    return redirect(link["_return_url"])


def _clock(timestamp: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


# --- checkout ---------------------------------------------------------------------------


def checkout_get(store: Store, settings: Settings, fx: Effects, session_id: str) -> Response:
    session = store.get("sessions", session_id)
    if session is None:
        return message_page(404, "Page not found", "This checkout page does not exist.")
    bank.expire_if_due(store, settings, fx, session)
    closed = _closed(store, session)
    if closed:
        return closed
    return html_response(200, _checkout_html(store, session, {}, None))


def checkout_post(
    store: Store, settings: Settings, fx: Effects, session_id: str, form: dict[str, str]
) -> Response:
    session = store.get("sessions", session_id)
    if session is None:
        return message_page(404, "Page not found", "This checkout page does not exist.")
    bank.expire_if_due(store, settings, fx, session)
    closed = _closed(store, session)
    if closed:
        return closed
    card = bank.CardInput(
        email=form.get("email", ""),
        number=form.get("card", ""),
        exp=form.get("exp", ""),
        cvc=form.get("cvc", ""),
        name=form.get("name", ""),
        country=form.get("country", ""),
        state=form.get("state", ""),
        postal_code=form.get("postal_code", ""),
    )
    try:
        bank.pay_session(store, settings, fx, session_id, card)
    except bank.PayFormError as exc:
        return html_response(400, _checkout_html(store, session, form, str(exc)))
    except StripeError as exc:
        return html_response(402, _checkout_html(store, session, form, exc.message))
    target = bank.success_redirect(session)
    if target:
        return redirect(target)
    return message_page(200, "Payment complete", "Thanks for your payment.")


def _closed(store: Store, session: dict[str, Any]) -> Response | None:
    if session["status"] == "complete":
        target = bank.success_redirect(session)
        return message_page(
            410, "Already paid", "This payment has already been completed. Nothing more to do.",
            (target, "Return to the store") if target else None,
        )  # fmt: skip
    if session["status"] == "expired":
        target = session.get("cancel_url")
        return message_page(
            410, "Session expired",
            "This checkout session has expired. Go back to the store to start again.",
            (target, "Return to the store") if target else None,
        )  # fmt: skip
    return None


def _checkout_html(
    store: Store, session: dict[str, Any], form: dict[str, str], error: str | None
) -> str:
    merchant = merchant_name(store, session["_account"])
    currency = session["currency"]
    total = format_amount(session["amount_total"], currency)
    items = []
    for item in session["_line_items"]:
        product = item["_product"]
        desc = (
            f"<div class=desc>{escape(_shorten(product['description']))}</div>"
            if product.get("description")
            else ""
        )
        qty = f"Qty {item['quantity']} · " if item["quantity"] > 1 else ""
        items.append(
            f"<div class=item><div><strong>{escape(product['name'])}</strong>{desc}</div>"
            f"<div class=muted>{qty}{escape(format_amount(item['amount_total'], currency))}"
            f"</div></div>"
        )
    cancel = session.get("cancel_url")
    back = f'<a class=back href="{escape(cancel)}">← Back</a>' if cancel else ""
    email = form.get("email") if form else (session.get("customer_email") or "")
    values = {
        "email": email or "",
        "card": form.get("card", "4242 4242 4242 4242"),
        "exp": form.get("exp", "12 / 34"),
        "cvc": form.get("cvc", "123"),
        "name": form.get("name", ""),
    }
    error_html = f"<div class=error role=alert>{escape(error)}</div>" if error else ""
    address_html = _address_html(session, form) if bank.needs_address(session) else ""
    tax_line = (
        "<div class=item><div class=muted>Tax</div><div class=muted>Calculated from your "
        "address</div></div>"
        if session["automatic_tax"]["enabled"]
        else ""
    )
    cancel_link = f' · <a href="{escape(cancel)}">Cancel</a>' if cancel else ""
    body = f"""
<div class=wrap><div class=grid>
<section>
{back}
<div class=merchant>{escape(merchant)}</div>
<div class=price>{escape(total)}</div>
{"".join(items)}
{tax_line}
</section>
<section class=card>
<form method=post onsubmit="this.querySelector('button').disabled=true">
{error_html}
<h2>Pay with card</h2>
<label for=email>Email</label>
<input id=email name=email type=email autocomplete=email required value="{escape(values["email"])}">
<label for=card>Card information</label>
<div class=cardgroup>
<input id=card class=top name=card inputmode=numeric autocomplete=cc-number
 aria-label="Card number" placeholder="1234 1234 1234 1234" value="{escape(values["card"])}">
<div class=row>
<input class=bl name=exp aria-label="Expiration (MM / YY)" placeholder="MM / YY" autocomplete=cc-exp
 value="{escape(values["exp"])}">
<input class=br name=cvc aria-label=CVC placeholder=CVC autocomplete=cc-csc
 value="{escape(values["cvc"])}">
</div></div>
<label for=name>Cardholder name</label>
<input id=name name=name autocomplete=cc-name value="{escape(values["name"])}">
{address_html}
<button class=primary type=submit>Pay {escape(total)}{" + tax" if tax_line else ""}</button>
<details class=hint><summary>Test cards</summary>
<p><code>4242 4242 4242 4242</code> succeeds · <code>4000 0000 0000 0002</code> is declined ·
<code>4000 0000 0000 9995</code> has insufficient funds · any future date, any CVC.</p>
</details>
</form>
</section>
</div><p class=footer>Local Stripe stand-in · no real payment is made{cancel_link}</p></div>"""
    return page(f"Pay {merchant}", body)


def _address_html(session: dict[str, Any], form: dict[str, str]) -> str:
    """Billing address: the country (and a US state), as Checkout asks for tax."""
    chosen = (form.get("country") or "").upper()
    state = (form.get("state") or "").upper()
    countries = "".join(
        f'<option value="{c}"{" selected" if c == chosen else ""}>{c}</option>'
        for c in tax.COUNTRIES
    )
    states = "".join(
        f'<option value="{c}"{" selected" if c == state else ""}>{c}</option>'
        for c in tax.US_STATES
    )
    return (
        "<label for=country>Country or region</label>"
        f"<select id=country name=country autocomplete=country required>"
        f'<option value="">Choose…</option>{countries}</select>'
        "<label for=state>State (United States only)</label>"
        f'<select id=state name=state autocomplete=address-level1><option value="">—</option>'
        f"{states}</select>"
        "<label for=postal_code>Postal code</label>"
        f"<input id=postal_code name=postal_code autocomplete=postal-code "
        f'value="{escape(form.get("postal_code", ""))}">'
    )


def _shorten(text: str, limit: int = 240) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- overview ---------------------------------------------------------------------------


def _pill(value: Any) -> str:
    cls = "good" if value is True or value in ("complete", "paid", "delivered", "succeeded") else ""
    if value is False or value in ("failed", "expired", "unpaid"):
        cls = "bad"
    return f'<span class="pill {cls}">{escape(str(value))}</span>'


def overview(store: Store, settings: Settings) -> Response:
    """GET / : what the stand-in holds, for a developer poking at it in a browser."""
    accounts = "".join(
        f"<tr><td><code>{escape(a['id'])}</code></td><td>{escape(a.get('email') or '')}</td>"
        f"<td>{_pill(a['details_submitted'])}</td><td>{_pill(a['charges_enabled'])}</td>"
        f"<td>{_pill('disconnected' if a.get('_deauthorized') else 'connected')}</td></tr>"
        for a in reversed(store.data["accounts"].values())
    )
    sessions = "".join(
        f'<tr><td><a href="/hosted/checkout/{escape(s["id"])}"><code>{escape(s["id"][:24])}…'
        f"</code></a></td><td><code>{escape(s['_account'])}</code></td>"
        f"<td>{escape(format_amount(s['amount_total'], s['currency']))}</td>"
        f"<td>{_pill(s['status'])} {_pill(s['payment_status'])}</td></tr>"
        for s in list(reversed(store.data["sessions"].values()))[:50]
    )
    events = "".join(
        f"<tr><td><code>{escape(e['id'])}</code></td><td>{escape(e['type'])}</td>"
        f"<td><code>{escape(e.get('account') or '')}</code></td>"
        f"<td>{_pill(e['_delivery']['status'])}</td><td>{len(e['_delivery']['attempts'])}</td></tr>"
        for e in list(reversed(store.data["events"].values()))[:50]
    )
    body = f"""
<div class=wrap>
<h1>Local Stripe stand-in</h1>
<p class=muted>Webhooks go to <code>{escape(settings.webhook_url or "(none)")}</code>
{"" if settings.deliver else "(delivery paused)"} · control API under <code>/_standin/</code></p>
<h2>Connected accounts</h2>
<table><tr><th>Account</th><th>Email</th><th>Details submitted</th><th>Charges</th><th>Link</th>
</tr>{accounts}</table>
<h2>Checkout sessions (latest 50)</h2>
<table><tr><th>Session</th><th>Account</th><th>Amount</th><th>Status</th></tr>{sessions}</table>
<h2>Events (latest 50)</h2>
<table><tr><th>Event</th><th>Type</th><th>Account</th><th>Delivery</th><th>Attempts</th></tr>
{events}</table>
</div>"""
    return html_response(200, page("Local Stripe stand-in", body))


# --- routing ----------------------------------------------------------------------------

_ONBOARDING = re.compile(r"/hosted/onboarding/([A-Za-z0-9_]+)")
_CHECKOUT = re.compile(r"/hosted/checkout/([A-Za-z0-9_]+)")


def handle(
    store: Store, settings: Settings, fx: Effects, method: str, path: str, body: bytes
) -> Response:
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if match := _ONBOARDING.fullmatch(path):
        if method == "GET":
            return onboarding_get(store, match.group(1))
        if method == "POST":
            return onboarding_post(store, settings, fx, match.group(1), form)
    if match := _CHECKOUT.fullmatch(path):
        if method == "GET":
            return checkout_get(store, settings, fx, match.group(1))
        if method == "POST":
            return checkout_post(store, settings, fx, match.group(1), form)
    if path == "/" and method == "GET":
        return overview(store, settings)
    return message_page(404, "Not found", f"Nothing at {path}.")
