"""The start balance check against real chain balances (the localnet), not a stand-in."""

import pytest
from solders.pubkey import Pubkey

from apps.campaigns.models import CampaignRun, CampaignStatus
from apps.campaigns.services import InsufficientFunds, campaign_start
from apps.localnet.seed import fund
from tests.support.campaigns import REQUIRED_LAMPORTS, make_campaign

pytestmark = pytest.mark.django_db


def test_it_starts_only_when_the_chain_balance_covers_the_makers(alice, alice_setup, localnet):
    campaign = make_campaign(alice_setup)
    wallet = Pubkey.from_string(alice_setup.wallet.address)
    fund(localnet.cluster, address=wallet, lamports=REQUIRED_LAMPORTS - 1)

    with pytest.raises(InsufficientFunds, match=r"0\.000000001 SOL short"):
        campaign_start(campaign_id=campaign.pk, actor=alice, owner=alice)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert not CampaignRun.objects.exists()

    fund(localnet.cluster, address=wallet, lamports=REQUIRED_LAMPORTS)
    campaign_start(campaign_id=campaign.pk, actor=alice, owner=alice)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.ACTIVE
    assert CampaignRun.objects.filter(campaign=campaign, status="running").count() == 1
