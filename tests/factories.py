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
