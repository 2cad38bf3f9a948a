import pytest
from django.db import transaction

from apps.campaigns.services import campaign_delete
from apps.core.errors import ValidationFailed
from apps.core.models import AuditEvent
from apps.wallets import keystore
from apps.wallets.models import UserKey, Wallet
from apps.wallets.selectors import wallet_list
from apps.wallets.services import wallets_create_makers
from tests.support.campaigns import Setup, make_campaign

pytestmark = pytest.mark.django_db


def test_it_creates_maker_wallets_with_their_keys_in_one_go(alice, django_assert_max_num_queries):
    # The run they are made for (a real row: a maker's run is a foreign key).
    run = make_campaign(Setup(alice), status="active").current_run
    funding = Wallet.objects.get(owner=alice, kind=Wallet.Kind.CUSTODIAL)
    with django_assert_max_num_queries(10):
        makers = wallets_create_makers(owner=alice, run_id=run.pk, count=25)

    assert len(makers) == 25 and all(m.pk for m in makers)
    stored = Wallet.objects.filter(owner=alice, kind=Wallet.Kind.MAKER, run=run)
    assert stored.count() == 25 and len({m.address for m in stored}) == 25
    assert all(m.verified_at is not None and m.encrypted_secret for m in stored)
    maker = stored.first()
    assert keystore.sign_with(maker, b"fund me") is not None
    assert UserKey.objects.filter(owner=alice).count() == 1
    (event,) = AuditEvent.objects.filter(action="wallet.create_makers")
    assert (event.entity, event.entity_id, event.metadata) == ("run", str(run.pk), {"count": 25})
    # Makers stay out of the user's own wallet list unless asked for.
    assert list(wallet_list(owner=alice)) == [funding]
    assert wallet_list(owner=alice, kind="maker").count() == 25


def test_a_runs_largest_set_of_keys_costs_one_unwrap_and_a_few_statements(
    alice, monkeypatch, django_assert_max_num_queries
):
    run = make_campaign(Setup(alice), status="active").current_run
    unwrapped = []
    unwrap = keystore._dek
    monkeypatch.setattr(keystore, "_dek", lambda key: unwrapped.append(key.pk) or unwrap(key))

    # As many statements as for 25 makers: the rows go in by batched INSERTs.
    with django_assert_max_num_queries(12):
        makers = wallets_create_makers(owner=alice, run_id=run.pk, count=10_000)

    assert len(unwrapped) == 1  # the data key, once for every seed
    stored = Wallet.objects.filter(run=run, kind=Wallet.Kind.MAKER)
    assert stored.count() == 10_000 == len({m.address for m in makers})
    # Each key sealed with its own nonce and bound to its own address: the first, the last
    # and one in between decrypt to their wallets, and a ciphertext moved to another fails.
    for maker in (stored.first(), stored.order_by("-id").first(), stored[5_000]):
        assert keystore.sign_with(maker, b"fund me") is not None
    first, second = stored.order_by("id")[:2]
    assert len({bytes(first.encrypted_secret)[:13], bytes(second.encrypted_secret)[:13]}) == 2
    first.encrypted_secret = second.encrypted_secret
    with pytest.raises(keystore.KeystoreError):
        keystore.sign_with(first, b"fund me")


def test_it_creates_no_maker_when_the_transaction_fails(alice):
    with pytest.raises(RuntimeError), transaction.atomic():
        wallets_create_makers(owner=alice, run_id=7, count=3)
        raise RuntimeError("the run engine failed before committing")

    assert not Wallet.objects.exists()
    assert not UserKey.objects.exists()


@pytest.mark.parametrize("count", [0, -1, 10_001])
def test_it_refuses_a_silly_count(alice, count):
    with pytest.raises(ValidationFailed, match="between 1 and 10000"):
        wallets_create_makers(owner=alice, run_id=1, count=count)

    assert not Wallet.objects.exists()


def test_it_builds_wallets_with_the_shared_factory(alice, keypair):
    from tests.factories import WalletFactory

    custodial = WalletFactory(owner=alice, keypair=keypair, label="F")
    watch = WalletFactory(owner=alice, kind="watch")

    assert (custodial.address, custodial.kind, custodial.label) == (
        str(keypair.pubkey()), "custodial", "F",
    )  # fmt: skip
    assert keystore.sign_with(custodial, b"m") == keypair.sign_message(b"m")
    assert (watch.kind, watch.encrypted_secret, watch.verified_at) == ("watch", None, None)


def test_a_maker_wallet_outlives_its_deleted_campaign_with_its_key(alice):
    campaign = make_campaign(Setup(alice), status="stopped")
    makers = wallets_create_makers(owner=alice, run_id=campaign.runs.get().pk, count=3)

    campaign_delete(owner=alice, campaign_id=campaign.pk)

    kept = Wallet.objects.filter(pk__in=[m.pk for m in makers])
    assert sorted(kept.values_list("pk", "run_id")) == sorted((m.pk, None) for m in makers)
    assert keystore.sign_with(kept.first(), b"sweep me") is not None
