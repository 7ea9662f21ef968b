"""Streaming CSV shared by the seller's sales export and the console's fee ledger."""

from __future__ import annotations

import csv


class _Echo:
    """A file-like object whose write() hands the line back, for StreamingHttpResponse."""

    def write(self, value: str) -> str:
        return value


def csv_writer():
    return csv.writer(_Echo())


def spreadsheet_safe(text: str) -> str:
    """Text typed by sellers or buyers that opens with = + - @ would run as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
