"""One fee validator (tenants.validators.fee_validate): the console form, the console
service, the Store model and the platform default in settings say the same thing."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from tenants.validators import FEE_FIXED_MAX, FEE_PERCENT_MAX, fee_validate
from tests.conftest import main_client

ROOT = Path(__file__).resolve().parents[2]


def test_the_console_form_shows_the_validators_own_message(olivia, alice_store):
    response = main_client(olivia).post(
        f"/console/stores/{alice_store.pk}/fee/", {"fee_percent": "50.01", "fee_fixed": "100001"}
    )
    assert response.status_code == 400
    errors = response.context["fee_form"].errors
    assert errors["fee_percent"] == [f"The percentage must be between 0 and {FEE_PERCENT_MAX}."]
    assert errors["fee_fixed"] == [f"The fixed part must be between 0 and {FEE_FIXED_MAX:,}."]


def test_the_store_model_has_the_same_percent_bound(alice_store):
    alice_store.fee_percent = FEE_PERCENT_MAX + Decimal("0.01")
    with pytest.raises(ValidationError) as caught:
        alice_store.full_clean(exclude=["owner", "schema_name"])
    assert "fee_percent" in caught.value.message_dict
    assert fee_validate(fee_percent=FEE_PERCENT_MAX, fee_fixed=FEE_FIXED_MAX) == (
        Decimal("50.00"),
        FEE_FIXED_MAX,
    )


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PLATFORM_FEE_PERCENT", "80", "The percentage must be between 0 and 50."),
        ("PLATFORM_FEE_FIXED", "-3", "The fixed part must be between 0 and 100,000."),
        ("PLATFORM_FEE_FIXED_OVERRIDES", "jpy=1000000", "The fixed part must be between"),
    ],
)
def test_a_platform_default_out_of_bounds_stops_the_app_with_the_reason(variable, value, says):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_FEE")}
    env[variable] = value
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and says in result.stderr
