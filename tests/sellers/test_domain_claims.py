"""Custom domains are proved with a DNS TXT record, per store: a claim blocks nobody and
shows nobody anything; the first store to verify holds the name.

Mallory claims Alice's domain before Alice does (she cannot publish its DNS): Alice can
still add it, is told nothing of Mallory's claim, and verifies it with her own token;
Mallory's token, even published, cannot take it back.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tenants.models import Domain
from tenants.routing import store_for_host
from tenants.services import domain_add, domain_verify
from tests.conftest import store_client

HOST = "shop.alice-guides.test"


class FakeDns:
    """The TXT records the world publishes, by name (what tenants.services.dns_txt reads)."""

    def __init__(self):
        self.records: dict[str, list[str]] = {}

    def publish(self, domain: Domain) -> None:
        self.records.setdefault(f"_product-purchase.{domain.domain}", []).append(
            domain.verification_token
        )

    def __call__(self, name: str) -> list[str]:
        return list(self.records.get(name, []))


@pytest.fixture
def dns(monkeypatch) -> FakeDns:
    fake = FakeDns()
    # The dashboard's "Verify" button asks tenants.services.dns_txt; tests answer for DNS.
    monkeypatch.setattr("tenants.services.dns_txt", fake)
    return fake


def test_a_pending_claim_blocks_nobody_and_reveals_nothing(alice, alice_store, mallory_store, dns):
    squatter = domain_add(store=mallory_store, hostname=HOST)
    response = store_client(alice_store, alice).post(
        "/dashboard/settings/domains/", {"domain": HOST}
    )
    assert response.status_code == 302
    page = store_client(alice_store, alice).get("/dashboard/settings/").content.decode()
    claim = Domain.objects.get(tenant=alice_store, domain=HOST)
    assert f"_product-purchase.{HOST}" in page and claim.verification_token in page
    assert "already" not in page and "Mallory" not in page
    assert squatter.verification_token not in page
    assert claim.verification_token != squatter.verification_token


def test_the_store_that_publishes_its_token_holds_the_domain(
    alice, alice_store, mallory, mallory_store, dns
):
    squatter = domain_add(store=mallory_store, hostname=HOST)
    claim = domain_add(store=alice_store, hostname=HOST)
    client = store_client(alice_store, alice)
    # No record yet: a clear message with the record to add, nothing verified.
    client.post(f"/dashboard/settings/domains/{claim.pk}/verify/")
    page = client.get("/dashboard/settings/").content.decode()
    assert "did not find the TXT record" in page and claim.verification_token in page
    assert store_for_host(HOST) is None
    # Mallory's verify fails: the DNS says Alice's token, not hers.
    dns.publish(claim)
    assert domain_verify(domain=squatter) is False
    client.post(f"/dashboard/settings/domains/{claim.pk}/verify/")
    assert "is verified" in client.get("/dashboard/settings/").content.decode()
    assert store_for_host(HOST).pk == alice_store.pk
    assert store_client(alice_store).get("/", HTTP_HOST=HOST).status_code == 200


def test_whoever_verifies_first_holds_it(alice_store, mallory_store, dns):
    first = domain_add(store=mallory_store, hostname=HOST)
    second = domain_add(store=alice_store, hostname=HOST)
    dns.publish(first)
    dns.publish(second)  # both tokens published (the name changed hands, say)
    assert domain_verify(domain=first) is True
    with pytest.raises(ValidationError, match="already connected to another store"):
        domain_verify(domain=second)
    assert store_for_host(HOST).pk == mallory_store.pk
    second.refresh_from_db()
    assert second.verified_at is None
    # And a new claim on a verified name is refused outright.
    Domain.objects.filter(pk=second.pk).delete()
    with pytest.raises(ValidationError, match="already connected"):
        domain_add(store=alice_store, hostname=HOST)


def test_a_store_claims_a_name_once(alice_store):
    domain_add(store=alice_store, hostname=HOST)
    with pytest.raises(ValidationError, match="already added"):
        domain_add(store=alice_store, hostname=HOST.upper())
