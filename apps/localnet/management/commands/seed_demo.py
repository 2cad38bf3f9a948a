import secrets
from base64 import b32encode

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.mfa import TOTP_NAME, recovery_codes_replace
from apps.accounts.models import User
from apps.chain.b58 import b58encode
from apps.localnet.seed import demo_keys
from apps.tokens.selectors import pool_candidates
from apps.tokens.services import pool_select, token_register
from apps.wallets.models import Wallet
from apps.wallets.services import wallet_import

DEMO_EMAIL = "demo@volumebot.local"
ADMIN_EMAIL = "admin@volumebot.local"


class Command(BaseCommand):
    help = (
        "Create the demo and admin accounts for `make run`, and give the demo account the "
        "localnet's funded demo wallet, the demo token and its Raydium pool (idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--credentials-file", default=None)

    def handle(self, *args, credentials_file=None, **options):
        path = settings.BASE_DIR / ".devstack" / "demo-credentials.txt"
        if credentials_file:
            path = type(path)(credentials_file)
        lines = demo_accounts_create()
        if lines:
            # Printed once, when the accounts are created; kept in .devstack for later runs.
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as handle:
                handle.write("\n".join(lines) + "\n")
            path.chmod(0o600)
            listing = "\n  ".join(lines)
            self.stdout.write(f"Created accounts (also saved in {path}):\n  {listing}")
        elif path.exists():
            self.stdout.write(f"Demo accounts exist; their passwords are in {path}.")
        demo = User.objects.get(email=DEMO_EMAIL)
        wallet, token, pool = demo_trading_setup(demo)
        self.stdout.write(
            f"Demo account: wallet {wallet.address}, token {token.symbol} ({token.mint}), "
            f"{pool.get_dex_display()} pool {pool.address}."
        )


def demo_accounts_create() -> list[str]:
    """Create the demo user and the demo admin when missing; their credential lines.

    The admin asks staff for a second factor (apps.admin_ops.sites), so the demo admin comes
    with its authenticator already on: its key (type it into an authenticator app, or open the
    otpauth:// link) and recovery codes are printed with the password, on this localnet-only
    seeding. Real staff are not touched: they enrol on their first visit to /admin/."""
    lines = []
    with transaction.atomic():
        for email, staff in ((DEMO_EMAIL, False), (ADMIN_EMAIL, True)):
            if User.objects.filter(email=email).exists():
                continue
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(
                email=email, password=password, is_staff=staff, is_superuser=staff,
                display_name="Demo admin" if staff else "Demo user",
                email_verified_at=timezone.now(),
            )  # fmt: skip
            lines.append(f"{'admin' if staff else 'demo '}  {email}  {password}")
            if staff:
                device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=True)
                codes = recovery_codes_replace(user=user)
                lines.append(f"       two-factor key {b32encode(device.bin_key).decode()}")
                lines.append(f"       ({device.config_url})")
                lines.append(f"       recovery codes {' '.join(codes)}")
    return lines


def demo_trading_setup(user: User):
    """The localnet's funded demo wallet, registered demo token and selected Raydium AMM v4
    pool (its Raydium CPMM pool is selected too) for `user`. Needs the localnet running (the
    token and pools are read from chain)."""
    mint, keypair = demo_keys()
    wallet = Wallet.objects.filter(owner=user, address=str(keypair.pubkey())).first()
    if wallet is None:
        wallet = wallet_import(
            owner=user, secret_key=b58encode(bytes(keypair)), label="Demo funding wallet"
        )
    token = token_register(owner=user, network="localnet", mint=str(mint))
    candidates = pool_candidates(network="localnet", mint=str(mint), refresh=True)
    # The Raydium CPMM pool is selected too, so the wizard offers both Raydium venues.
    for candidate in candidates:
        if candidate["dex"] == "raydium_cpmm":
            pool_select(owner=user, token_id=token.pk, address=candidate["address"])
    raydium = next(c for c in candidates if c["dex"] == "raydium_amm_v4")
    selection = pool_select(owner=user, token_id=token.pk, address=raydium["address"])
    return wallet, token, selection.pool
