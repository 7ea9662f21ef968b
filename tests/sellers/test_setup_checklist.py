"""The dashboard's "Get ready to sell" list names the store description and the support
email too, each linking to the setting, and ticks them off once set."""

from __future__ import annotations

from tenants.models import Store
from tests.conftest import store_client
from tests.markup import parse


def _steps(content: bytes) -> dict[str, tuple[bool, str]]:
    """Step text → (done, link or "")."""
    steps = {}
    for element in parse(content):
        if element.tag == "li" and any(
            parent.tag == "ol" and "steps" in parent.classes for parent in parse(content)
        ):
            link = next((e.attrs["href"] for e in element.inner if e.tag == "a"), "")
            steps[" ".join(element.text.split())] = ("done" in element.classes, link)
    return steps


def test_the_checklist_asks_for_a_description_and_a_support_email(alice, alice_store):
    steps = _steps(store_client(alice_store, alice).get("/dashboard/").content)
    assert steps["Describe your store — buyers see it under its name"] == (
        False,
        "/dashboard/settings/#id_description",
    )
    assert steps["Add a support email — for buyers' questions, on receipts and store pages"] == (
        False,
        "/dashboard/settings/#id_support_email",
    )


def test_a_described_store_with_a_support_email_has_both_ticked(alice, alice_store):
    Store.objects.filter(pk=alice_store.pk).update(
        description="Guides to ferns.", support_email="help@alice.example"
    )
    steps = _steps(store_client(alice_store, alice).get("/dashboard/").content)
    assert steps["Store described"] == (True, "")
    assert steps["Support email set"] == (True, "")
