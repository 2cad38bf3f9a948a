"""Campaign fixtures: `funded`, alice's funding wallet holding 100 SOL by the fake balance
reader (the set-ups and `balances` are the root conftest's; helpers in tests/support/)."""

import pytest

from tests.support.campaigns import SOL


@pytest.fixture
def funded(balances, alice_setup):
    balances.lamports[alice_setup.wallet.address] = 100 * SOL
    return balances
