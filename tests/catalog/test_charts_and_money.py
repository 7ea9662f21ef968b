"""The one bar-chart builder and the one {% money %} tag, as the dashboard and console use them."""

from __future__ import annotations

from datetime import date

import pytest
from django.template import Context, Template

from catalog.charts import bar_chart
from catalog.money import money_display


def fmt(value: int) -> str:
    return money_display(value, "usd")


def test_a_monthly_chart_labels_every_month_and_marks_the_current_one():
    points = [(date(2025, 12, 1), 500), (date(2026, 1, 1), 0), (date(2026, 2, 1), 1250)]
    svg = bar_chart(points, label="Fees", fmt=fmt, period="month", highlight=date(2026, 2, 1))
    assert svg.startswith('<svg class="bar-chart"')
    assert svg.count("<rect ") == 3
    assert svg.count('class="bar is-current"') == 1
    assert "<title>February 2026: $12.50</title>" in svg
    assert [m in svg for m in (">Dec<", ">Jan<", ">Feb<", ">2025<", ">2026<")] == [True] * 5
    assert "max $12.50" in svg


def test_a_daily_chart_labels_the_first_and_last_day():
    points = [(date(2026, 11, d), d * 100) for d in range(1, 31)]
    svg = bar_chart(points, label="Sales", fmt=fmt, period="day")
    assert svg.count("<rect ") == 30
    assert "<title>Nov 5: $5.00</title>" in svg
    assert svg.count('class="d-label"') == 2
    assert ">Nov 1<" in svg and ">Nov 30<" in svg


def test_chart_text_is_escaped_and_an_empty_series_draws_nothing():
    svg = bar_chart([(date(2026, 1, 1), 1)], label='<script>"x"', fmt=lambda v: "<b>")
    assert "<script>" not in svg and "<b>" not in svg
    assert bar_chart([], label="x", fmt=fmt) == ""


@pytest.mark.parametrize("library", ["catalog_tags", "console_tags"])
@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1250, "usd", "$12.50"),
        (1250, "jpy", "¥1,250"),
        (None, "usd", ""),
        # A currency the catalog does not list (a ledger row, an old setting): the raw
        # amount, never a server error (the catalog's copy used to raise MoneyError).
        (123456, "xyz", "123,456 XYZ (minor units)"),
    ],
)
def test_the_money_tag_behaves_the_same_everywhere(library, amount, currency, shown):
    template = Template(f"{{% load {library} %}}{{% money amount currency %}}")
    assert template.render(Context({"amount": amount, "currency": currency})) == shown
