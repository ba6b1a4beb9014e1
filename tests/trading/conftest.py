import pytest
from django.core.management import call_command

from tests.trading.factories import seeded_desk_policies


@pytest.fixture
def seeded(db: None) -> None:
    """The demo reference data of `seed_reference_data`, holidays for 2020-2030."""
    call_command("seed_reference_data", verbosity=0)
    seeded_desk_policies()
