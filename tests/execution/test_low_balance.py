"""The status tick warns when the funding wallet can no longer pay for sweeping the makers back."""

import pytest
from solders.pubkey import Pubkey

from apps.admin_ops.models import Alert
from apps.campaigns.models import CampaignRun
from apps.campaigns.services import campaign_start
from apps.execution.monitor import runs_status_tick
from apps.localnet.seed import fund

pytestmark = pytest.mark.django_db


def test_it_alerts_the_owner_when_the_funding_wallet_cannot_pay_the_gather(setup):
    campaign = setup.campaign()
    campaign_start(campaign_id=campaign.pk, actor=setup.user)
    assert CampaignRun.objects.filter(campaign=campaign, status="running").exists()

    runs_status_tick()
    assert not Alert.objects.exists()

    # The wallet is drained (e.g. the owner moved funds out) below the gather's fees.
    fund(setup.cluster, address=Pubkey.from_string(setup.wallet.address), lamports=5_000)
    runs_status_tick()
    runs_status_tick()

    alert = Alert.objects.get()
    assert (alert.kind, alert.user, alert.campaign) == ("low_balance", setup.user, campaign)
    assert alert.count == 2  # repeated ticks bump one open alert
    assert alert.message.startswith("The funding wallet holds 0.000005 SOL; sweeping the makers")
