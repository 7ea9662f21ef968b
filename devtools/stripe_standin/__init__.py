"""A local stand-in for the parts of Stripe this project uses, over real HTTP.

The real `stripe` library talks to it (tests and local development have no internet):
Connect accounts and onboarding links, Checkout Sessions with a hosted payment page,
PaymentIntents, charges, refunds, disputes, Stripe Tax on Checkout (tax.py: a fixed table),
balance transactions (Stripe's fee), the connected account's balance and payouts (ledger.py),
signed webhooks, idempotency keys and fault injection. Standard library only, so it runs without Django:

    python -m devtools.stripe_standin --port 12111 --webhook-url http://127.0.0.1:8000/stripe/webhook/

Tests use `serve_in_thread(...)`; see server.py for the request pipeline.
"""

from __future__ import annotations

from .server import StandinServer, make_server, serve_in_thread
from .webhooks import sign

__all__ = ["StandinServer", "make_server", "serve_in_thread", "sign"]
