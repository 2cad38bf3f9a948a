from django.conf import settings
from django.db import models
from django.db.models import Q


class UserKey(models.Model):
    """A user's data key (DEK), encrypted ("wrapped") by the master key (KEK) from the
    environment. The DEK encrypts the user's wallet secrets; only the wrapped form is stored.
    `kek_fingerprint` names the KEK that wrapped it, so a process with the wrong master key
    notices at start-up, and a rotation knows which rows are done."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wallet_key"
    )
    wrapped_dek = models.BinaryField(editable=False)
    kek_fingerprint = models.CharField(max_length=16, db_index=True)
    version = models.PositiveSmallIntegerField(default=1, help_text="Format of the wrapped key.")
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"data key of user {self.owner_id} (master key {self.kek_fingerprint})"


class Wallet(models.Model):
    class Kind(models.TextChoices):
        CUSTODIAL = "custodial", "Custodial"
        WATCH = "watch", "Watch-only"
        MAKER = "maker", "Maker"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wallets"
    )
    address = models.CharField(max_length=44)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # AES-256-GCM under the owner's data key, bound to (owner, address); see keystore.py.
    encrypted_secret = models.BinaryField(null=True, blank=True, editable=False)
    label = models.CharField(max_length=80, blank=True)
    active = models.BooleanField(default=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # The run a maker wallet was made for. SET_NULL: deleting a campaign's history must never
    # take a wallet (and its key) with it.
    run = models.ForeignKey(
        "campaigns.CampaignRun", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="maker_wallets",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "address"], name="wallet_owner_address_uniq"),
            # Watch-only wallets have no key; every other kind must have one.
            models.CheckConstraint(
                condition=Q(kind="watch", encrypted_secret__isnull=True)
                | (~Q(kind="watch") & Q(encrypted_secret__isnull=False)),
                name="wallet_secret_iff_not_watch",
            ),
        ]

    def __str__(self) -> str:
        return self.label or self.address

    @property
    def has_secret(self) -> bool:
        return self.kind != self.Kind.WATCH

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def short_address(self) -> str:
        return f"{self.address[:4]}…{self.address[-4:]}"
