from __future__ import annotations

from decimal import Decimal

import pytest

from payments.fees import FeeRule, fee_rule


@pytest.mark.parametrize(
    ("percent", "fixed", "amount", "expected"),
    [
        ("5", 30, 50, 33),  # the USD minimum: 2.5 rounds half-up to 3, + 30
        ("5", 30, 1999, 130),  # 99.95 → 100, + 30
        ("5", 30, 1990, 130),  # 99.5 → 100 (half-up), + 30
        ("5", 30, 1989, 129),  # 99.45 → 99, + 30
        ("2.9", 30, 999_999_99, 2_900_030),  # large amounts stay exact (no floats)
        ("0", 0, 1000, 0),
        ("100", 0, 1000, 1000),
        ("50", 500, 600, 600),  # never above the price
        ("5", 30, 0, 0),
        ("5", 50, 50, 50),  # JPY minimum with a 50 yen fixed fee: clamped to the price
        ("12.34", 0, 333, 41),  # 41.0922 → 41
    ],
)
def test_the_fee_is_percent_plus_fixed_rounded_half_up_and_clamped(
    percent, fixed, amount, expected
):
    assert FeeRule(Decimal(percent), fixed).fee_for(amount) == expected


def test_a_fee_is_never_negative():
    assert FeeRule(Decimal("0"), 0).fee_for(-5) == 0


def test_the_platform_default_comes_from_settings(settings):
    settings.PLATFORM_FEE_PERCENT = Decimal("7.5")
    settings.PLATFORM_FEE_FIXED = 25
    rule = fee_rule(currency="usd", store_percent=None, store_fixed=None)
    assert rule == FeeRule(Decimal("7.5"), 25)


def test_zero_decimal_currencies_have_their_own_fixed_part(settings):
    settings.PLATFORM_FEE_FIXED_OVERRIDES = {"jpy": 50}
    assert fee_rule(currency="JPY", store_percent=None, store_fixed=None).fixed == 50


def test_a_store_override_replaces_the_default():
    rule = fee_rule(currency="usd", store_percent=Decimal("1.5"), store_fixed=0)
    assert rule.fee_for(10_000) == 150
