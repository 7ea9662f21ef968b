"""A product's second file, its versions and its update emails, tried from Mallory's store.

The matrix (test_isolation_matrix) requests every route with Alice's product and file
uids and Bob's first link; here, Bob's link to the second file, the unsubscribe link of
Alice's update emails, and Alice's ids passed straight to the services in Mallory's schema.
"""

from __future__ import annotations

from catalog.models import FileSlot, ProductFile
from payments.models import DownloadGrant, UpdateOptOut
from payments.services import download_open, optout_email
from tests.conftest import store_client
from tests.factories import in_schema

from .conftest import BOB


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_bobs_link_to_the_second_file_opens_on_alices_store_only(world, mallory, mallory_store):
    path = f"/d/{world.second_download_token}/"
    for client in (store_client(mallory_store), store_client(mallory_store, mallory)):
        response = client.get(path)
        assert response.status_code == 404
        assert world.second_file_marker not in _body(response)
    with in_schema(mallory_store):
        decision = download_open(token=world.second_download_token, ip=None, user_agent="")
        assert (decision.allowed, decision.reason) == (False, "unknown")
        assert DownloadGrant.objects.filter(download_count__gt=0).count() == 0
    # The same link on Alice's store is Bob's answers, not the first file.
    assert _body(store_client(world.store).get(path)) == world.second_file_bytes


def test_alices_unsubscribe_link_does_nothing_on_mallorys_store(world, mallory_store):
    path = f"/updates/unsubscribe/{world.unsubscribe_token}/"
    for method in ("get", "post"):
        response = getattr(store_client(mallory_store), method)(path)
        assert response.status_code == 404
        assert BOB.encode() not in response.content
    with in_schema(mallory_store):
        assert optout_email(token=world.unsubscribe_token, schema=mallory_store.schema_name) is None
        assert not UpdateOptOut.objects.exists()
    with in_schema(world.store):
        assert not UpdateOptOut.objects.exists()


def test_alices_file_and_version_ids_name_nothing_in_mallorys_schema(world, mallory_store):
    with in_schema(world.store):
        slot = FileSlot.objects.get(uid=world.slot_uid)
        version_ids = list(ProductFile.objects.values_list("file", flat=True))
    with in_schema(mallory_store):
        assert not FileSlot.objects.filter(uid=slot.uid).exists()
        assert not ProductFile.objects.filter(file__in=version_ids).exists()
