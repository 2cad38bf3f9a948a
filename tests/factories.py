import factory
from django.utils import timezone

from apps.accounts.models import User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    email_verified_at = factory.LazyFunction(timezone.now)
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class WalletFactory(factory.django.DjangoModelFactory):
    """A wallet made through the wallets services, so custodial ones have a real encrypted key
    (sign with `apps.wallets.keystore.wallet_signer`). `WalletFactory(owner=alice)` is
    custodial; pass `kind="watch"` for a watch-only one. `keypair=` fixes the key."""

    class Meta:
        model = "wallets.Wallet"

    owner = factory.SubFactory(UserFactory)
    kind = "custodial"
    label = ""

    @classmethod
    def _create(cls, model_class, *, owner, kind, label, keypair=None, **kwargs):
        from solders.keypair import Keypair

        from apps.wallets.services import wallet_import, wallet_watch

        keypair = keypair or Keypair()
        if kind == "watch":
            return wallet_watch(owner=owner, address=str(keypair.pubkey()), label=label)
        return wallet_import(owner=owner, secret_key=str(keypair), label=label)


def _address() -> str:
    from solders.keypair import Keypair

    return str(Keypair().pubkey())


WSOL = "So11111111111111111111111111111111111111112"


class TokenFactory(factory.django.DjangoModelFactory):
    """A registered mint (a fresh address unless `mint=`); `linked_to=user` registers it for
    that user, as token registration does."""

    class Meta:
        model = "tokens.Token"
        skip_postgeneration_save = True

    network = "localnet"
    mint = factory.LazyFunction(_address)
    program = "spl"
    decimals = 6
    supply_raw = 10**15
    symbol = "TEST"
    name = "Test"

    @factory.post_generation
    def linked_to(obj, create, extracted, **kwargs):
        if create and extracted is not None:
            from apps.tokens.models import TokenLink

            TokenLink.objects.create(owner=extracted, token=obj)


class PoolFactory(factory.django.DjangoModelFactory):
    """A pool of `token` against SOL; `selected_by=user` selects it for that user."""

    class Meta:
        model = "tokens.Pool"
        skip_postgeneration_save = True

    token = factory.SubFactory(TokenFactory)
    network = factory.SelfAttribute("token.network")
    dex = "raydium_amm_v4"
    address = factory.LazyFunction(_address)
    quote_mint = WSOL
    fetched_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def selected_by(obj, create, extracted, **kwargs):
        if create and extracted is not None:
            from apps.tokens.models import PoolSelection

            PoolSelection.objects.create(owner=extracted, pool=obj)


class CampaignRunFactory(factory.django.DjangoModelFactory):
    """A run of `campaign` (pass it), running since now."""

    class Meta:
        model = "campaigns.CampaignRun"

    status = "running"
    seed = 7
    started_at = factory.LazyFunction(timezone.now)


class JobFactory(factory.django.DjangoModelFactory):
    """A job of `run` (pass it) on its type's queue, keyed by a fresh sequence unless
    `sequence=`; a dead one carries the error its attempts ran out on."""

    class Meta:
        model = "execution.Job"
        exclude = ("sequence",)

    type = "trade_buy"
    status = "succeeded"
    sequence = factory.Sequence(lambda n: f"test-{n}")
    queue = factory.LazyAttribute(lambda job: _queue_for(job.type))
    idempotency_key = factory.LazyAttribute(
        lambda job: f"run:{job.run.pk}:{job.type}:{job.sequence}"
    )
    error = factory.LazyAttribute(
        lambda job: (
            {"code": "transient_exhausted", "message": "RPC down"} if job.status == "dead" else None
        )
    )


def _queue_for(job_type: str) -> str:
    from apps.execution.jobs import QUEUE_FOR

    return QUEUE_FOR[job_type]


class ExecutionFactory(factory.django.DjangoModelFactory):
    """A landed buy of `job` (pass it) by `wallet` (pass it), with a fresh signature."""

    class Meta:
        model = "execution.Execution"

    run = factory.SelfAttribute("job.run")
    campaign = factory.SelfAttribute("run.campaign")
    attempt = 1
    signature = factory.LazyFunction(lambda: str(_signature()))
    status = "landed"
    side = "buy"
    fee_lamports = 5_000


def _signature():
    from solders.keypair import Keypair

    return Keypair().sign_message(b"a test transaction")


class LedgerEntryFactory(factory.django.DjangoModelFactory):
    """A ledger row of `run` for `wallet` (pass both): a trade that spent 0.1 SOL unless told."""

    class Meta:
        model = "execution.LedgerEntry"

    kind = "trade"
    lamports_delta = -100_000_000


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    """A delivery of `webhook` (pass it): a `campaign.started` event, pending."""

    class Meta:
        model = "webhooks.WebhookDelivery"

    event_type = "campaign.started"
    event_at = factory.LazyFunction(timezone.now)
    data = factory.LazyFunction(dict)


class WebhookAttemptFactory(factory.django.DjangoModelFactory):
    """Attempt `number` (1 unless given) of `delivery` (pass it), answered with a 500."""

    class Meta:
        model = "webhooks.WebhookAttempt"

    number = 1
    status_code = 500


class SystemSwitchFactory(factory.django.DjangoModelFactory):
    """An operator switch, on: pause-all unless `name=`."""

    class Meta:
        model = "core.SystemSwitch"

    name = "pause_all"
    enabled = True


class AuditEventFactory(factory.django.DjangoModelFactory):
    """An audit row by `actor` (a new user unless given)."""

    class Meta:
        model = "core.AuditEvent"

    actor = factory.SubFactory(UserFactory)
    action = "test"
    entity = "e"


class AlertFactory(factory.django.DjangoModelFactory):
    """An open guardrail alert, seen now."""

    class Meta:
        model = "admin_ops.Alert"

    kind = "guardrail"
    message = factory.Sequence(lambda n: f"alert {n}")
    last_seen_at = factory.LazyFunction(timezone.now)


class MintRuleFactory(factory.django.DjangoModelFactory):
    """A deny rule for a fresh mint unless `mint=` / `kind=`."""

    class Meta:
        model = "tokens.MintRule"

    mint = factory.LazyFunction(_address)
    kind = "deny"
