from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel


class Network(models.TextChoices):
    LOCALNET = "localnet", "Localnet"
    DEVNET = "devnet", "Devnet"
    MAINNET = "mainnet-beta", "Mainnet"


class TokenProgram(models.TextChoices):
    SPL = "spl", "SPL Token"
    TOKEN_2022 = "token2022", "Token-2022"


class Token(TimeStampedModel):
    """An SPL mint as read from chain. Registered once per network; users link to it."""

    network = models.CharField(max_length=16, choices=Network.choices)
    mint = models.CharField(max_length=44)
    program = models.CharField(max_length=16, choices=TokenProgram.choices)
    decimals = models.PositiveSmallIntegerField()
    supply_raw = models.DecimalField(max_digits=20, decimal_places=0)
    mint_authority = models.CharField(max_length=44, blank=True)
    freeze_authority = models.CharField(max_length=44, blank=True)
    name = models.CharField(max_length=64, blank=True)
    symbol = models.CharField(max_length=16, blank=True)
    uri = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        # The same address can exist on several clusters, each a different token.
        constraints = [
            models.UniqueConstraint(fields=["network", "mint"], name="token_unique_network_mint")
        ]

    def __str__(self) -> str:
        return self.symbol or self.mint


class TokenLink(models.Model):
    """A user's registration of a token: what makes it appear in their lists."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "token"], name="tokenlink_unique_owner_token")
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} → {self.token_id}"


class Dex(models.TextChoices):
    RAYDIUM_AMM_V4 = "raydium_amm_v4", "Raydium AMM v4"
    RAYDIUM_CPMM = "raydium_cpmm", "Raydium CPMM"
    PUMPFUN = "pumpfun", "pump.fun bonding curve"
    PUMPSWAP = "pumpswap", "PumpSwap"


class Pool(TimeStampedModel):
    """A venue's pool for a token, with its decoded state as last read from chain."""

    network = models.CharField(max_length=16, choices=Network.choices)
    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="pools")
    dex = models.CharField(max_length=32, choices=Dex.choices)
    address = models.CharField(max_length=44)
    quote_mint = models.CharField(max_length=44)
    metadata = models.JSONField(default=dict, blank=True)
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["network", "address"], name="pool_unique_network_address"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_dex_display()} {self.address}"


class PoolSelection(models.Model):
    """A user's choice of a pool to trade a token on; the campaign wizard offers only these."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    pool = models.ForeignKey(Pool, on_delete=models.CASCADE, related_name="selections")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "pool"], name="poolselection_unique_owner_pool"
            )
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} → {self.pool_id}"


class MintRule(models.Model):
    """The admin-managed allow and deny lists of mints.
    Deny wins; an empty allow list allows all."""

    class Kind(models.TextChoices):
        ALLOW = "allow", "Allow"
        DENY = "deny", "Deny"

    mint = models.CharField(max_length=44)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mint", "kind"], name="mintrule_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.mint}"
