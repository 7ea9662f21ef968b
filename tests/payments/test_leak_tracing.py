"""Leak tracing: a stamped copy carries its purchase's invisible mark; the seller uploads a
copy found online and learns whose it was. The mark survives re-saves by pypdf and by
qpdf (pikepdf); each of its three places is enough on its own; another store's mark
resolves to nothing."""

from __future__ import annotations

import io
import uuid

import pikepdf
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, NameObject

from catalog.storage import private_storage
from payments.leaks import mark_for, uid_from_mark
from payments.models import StampedCopy
from payments.stamping import stamp_marks_find, stamp_pdf, stamped_copy_make
from payments.tracing import leak_trace
from tests.conftest import store_client
from tests.factories import in_schema, pdf_bytes, product_with_file, purchase


def _stamped(store, product, email: str) -> tuple[object, bytes]:
    bought = purchase(store, product, email=email)
    with in_schema(store):
        stamped_copy_make(purchase_id=bought.pk)
        copy = StampedCopy.objects.get(purchase=bought)
        with private_storage().open(copy.file.name, "rb") as handle:
            return bought, handle.read()


@pytest.fixture
def guide(alice_store):
    return product_with_file(alice_store, stamping=True, data=pdf_bytes(pages=6))


def _upload(data: bytes, name: str = "found-online.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/pdf")


def _pypdf_resave(data: bytes) -> bytes:
    out = io.BytesIO()
    PdfWriter(clone_from=PdfReader(io.BytesIO(data))).write(out)
    return out.getvalue()


def _pikepdf_resave(data: bytes) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        # Everything qpdf can rewrite: object streams, recompressed streams, new xref.
        pdf.save(
            out,
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
            recompress_flate=True,
            linearize=True,
        )
    return out.getvalue()


def test_the_mark_is_the_purchase_under_this_stores_key_only():
    uid = uuid.uuid4()
    mark = mark_for(uid, schema_name="st_alice")
    assert len(mark) == 32 and mark.isalnum() and mark.upper() == mark
    assert uid_from_mark(mark, schema_name="st_alice") == uid
    assert uid_from_mark(mark, schema_name="st_mallory") is None
    assert mark_for(uid, schema_name="st_mallory") != mark
    assert str(uid).replace("-", "").upper() not in mark  # the uid itself is not readable
    tampered = ("A" if mark[0] != "A" else "B") + mark[1:]
    assert uid_from_mark(tampered, schema_name="st_alice") is None


def test_a_leaked_copy_is_traced_to_its_purchase_after_re_saves(alice_store, guide):
    bob, bobs_copy = _stamped(alice_store, guide, "bob@example.com")
    carol, _carols = _stamped(alice_store, guide, "carol@example.com")
    reader = PdfReader(io.BytesIO(bobs_copy))
    assert "Licensed to bob@example.com" in reader.pages[0].extract_text()
    with in_schema(alice_store):
        mark = mark_for(bob.uid)
        for page in reader.pages:  # on every page, as text nobody sees
            assert mark in page.extract_text()
        for copy in (bobs_copy, _pypdf_resave(bobs_copy), _pikepdf_resave(bobs_copy)):
            trace = leak_trace(_upload(copy))
            assert [p.pk for p in trace.purchases] == [bob.pk]
        # pikepdf after pypdf, and pages 3-4 only (the stamped page 1 cut off).
        cut = PdfWriter()
        for page in PdfReader(io.BytesIO(_pikepdf_resave(_pypdf_resave(bobs_copy)))).pages[2:4]:
            cut.add_page(page)
        out = io.BytesIO()
        cut.write(out)
        assert [p.pk for p in leak_trace(_upload(out.getvalue())).purchases] == [bob.pk]
        assert carol.pk != bob.pk


def _without_info(data: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        del pdf.trailer.Info
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


def _without_pieceinfo(data: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            if "/PieceInfo" in page.obj:
                del page.obj.PieceInfo
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


def _without_page_text(data: bytes, mark: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        contents = page.get("/Contents")
        kept = [
            ref for ref in page["/Contents"] if mark.encode() not in ref.get_object().get_data()
        ]
        assert len(kept) < len(contents)
        page[NameObject("/Contents")] = ArrayObject(kept)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_each_of_the_three_places_of_the_mark_is_enough_alone(alice_store, guide):
    bob, copy = _stamped(alice_store, guide, "bob@example.com")
    with in_schema(alice_store):
        mark = mark_for(bob.uid)
    only_info = _without_pieceinfo(_without_page_text(copy, mark))
    only_piece = _without_info(_without_page_text(copy, mark))
    only_text = _without_info(_without_pieceinfo(copy))
    nothing = _without_info(_without_pieceinfo(_without_page_text(copy, mark)))
    for data in (only_info, only_piece, only_text):
        assert stamp_marks_find(io.BytesIO(data)) == [mark]
    assert stamp_marks_find(io.BytesIO(nothing)) == []
    assert mark not in PdfReader(io.BytesIO(only_info)).pages[1].extract_text()
    with in_schema(alice_store):
        assert leak_trace(_upload(nothing)).purchases == []


def test_the_dashboard_names_the_buyer_or_says_no_mark_was_found(alice, alice_store, guide):
    bob, copy = _stamped(alice_store, guide, "bob@example.com")
    client = store_client(alice_store, alice)
    page = client.get("/dashboard/sales/trace/")
    assert page.status_code == 200 and b"Trace a leaked copy" in page.content
    assert b'href="/dashboard/sales/trace/"' in client.get("/dashboard/sales/").content
    found = client.post("/dashboard/sales/trace/", {"file": _upload(_pikepdf_resave(copy))})
    html = found.content.decode()
    assert found.status_code == 200
    assert "This copy was sold to bob@example.com" in html
    with in_schema(alice_store):
        bob.refresh_from_db()
    assert bob.created_at.strftime("%b %-d, %Y") in html and str(bob.uid) in html
    assert "no-store" in found["Cache-Control"]

    unmarked = client.post("/dashboard/sales/trace/", {"file": _upload(pdf_bytes(pages=2))})
    assert unmarked.status_code == 200
    assert "No mark of this store was found" in unmarked.content.decode()


def test_a_trace_upload_has_the_product_uploads_limits(alice, alice_store, settings):
    client = store_client(alice_store, alice)
    not_pdf = client.post(
        "/dashboard/sales/trace/", {"file": _upload(b"<html>hi</html>", "copy.pdf")}
    )
    assert not_pdf.status_code == 400
    assert "looks like a web page (HTML)" in not_pdf.content.decode()
    named = client.post("/dashboard/sales/trace/", {"file": _upload(pdf_bytes(), "copy.exe")})
    assert named.status_code == 400 and "not “.pdf”" in named.content.decode()
    settings.PDF_MAX_UPLOAD_BYTES = 4096
    big = client.post("/dashboard/sales/trace/", {"file": _upload(pdf_bytes(pages=6))})
    assert big.status_code == 413


def test_mallory_learns_nothing_from_alices_buyers_copy(alice_store, mallory, mallory_store, guide):
    bob, copy = _stamped(alice_store, guide, "bob@example.com")
    # Mallory has sales of her own, with stamping, so her store has marks to match.
    mallorys_product = product_with_file(mallory_store, stamping=True)
    _stamped(mallory_store, mallorys_product, "mallorys-buyer@example.com")
    client = store_client(mallory_store, mallory)
    response = client.post("/dashboard/sales/trace/", {"file": _upload(copy)})
    html = response.content.decode()
    assert "No mark of this store was found" in html
    assert "bob@example.com" not in html and str(bob.uid) not in html
    with in_schema(mallory_store):
        assert leak_trace(_upload(copy)).purchases == []
    # The page is the owner's only: Alice's own trace page answers Mallory 403.
    assert store_client(alice_store, mallory).get("/dashboard/sales/trace/").status_code == 403
    assert store_client(alice_store).get("/dashboard/sales/trace/").status_code in (302, 403)


def test_the_stamp_function_without_a_mark_adds_none(alice_store):
    copy = stamp_pdf(pdf_bytes(pages=2), email="bob@example.com")
    assert stamp_marks_find(io.BytesIO(copy)) == []
