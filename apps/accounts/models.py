from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.crypto import salted_hmac

# The most maker wallets one campaign run can have, whatever an admin sets: what the engine is
# built and measured for (`bench.makers`: distribution, keys and gather of 10,000 makers).
MAKERS_CEILING = 10_000

# Django's own salt, so sessions made before token_version existed (version 0) stay valid.
_SESSION_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"


class Role(models.TextChoices):
    USER = "user", "User"
    ADMIN = "admin", "Admin"


class Theme(models.TextChoices):
    SYSTEM = "", "Follow the system"
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


class EmailUserManager(UserManager):
    """Users sign in with their e-mail address; there is no username."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person using the platform. The profile fields live here rather than in a separate
    Profile table: every page needs them, and one row means no join and nothing to keep in sync.
    The role is derived from `is_staff` (admin ⇔ staff), so the two can never disagree."""

    username = None
    first_name = None
    last_name = None
    email = models.EmailField("e-mail address", unique=True)
    display_name = models.CharField(max_length=80, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    theme = models.CharField(max_length=8, choices=Theme.choices, blank=True, default="")
    mainnet_allowed = models.BooleanField(
        default=False, help_text="Set by an admin: the user may trade on mainnet."
    )
    attested_at = models.DateTimeField(
        null=True, blank=True, help_text="When the user attested to lawful use."
    )
    token_version = models.PositiveIntegerField(
        default=0,
        help_text="Raised to revoke every API token and session of the user at once.",
    )
    # Set by an admin: the most trades per minute this user's running campaigns may make
    # together on a network with a request budget (their fair share is cut to it).
    max_trades_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most trades per minute of all running campaigns together (empty: no cap).",
    )
    # Set by an admin: the most maker wallets one of this user's campaign runs may have (empty:
    # the platform default, `CAMPAIGN_MAX_MAKERS`); never above `MAKERS_CEILING`.
    max_makers = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAKERS_CEILING)],
        help_text=f"Most maker wallets per campaign run, 1 to {MAKERS_CEILING:,} "
        "(empty: the platform default).",
    )

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = EmailUserManager()

    def __str__(self) -> str:
        return self.email

    def _session_auth_hash(self, secret=None) -> str:
        # Django signs a session with the password hash; the token version joins it, so
        # revoking a user's tokens (apps.accounts.services.user_tokens_revoke) ends their
        # sessions too.
        material = f"{self.password}:{self.token_version}" if self.token_version else self.password
        return salted_hmac(_SESSION_SALT, material, secret=secret, algorithm="sha256").hexdigest()

    def get_session_auth_hash(self) -> str:
        return self._session_auth_hash()

    def get_session_auth_fallback_hash(self):
        for secret in settings.SECRET_KEY_FALLBACKS:
            yield self._session_auth_hash(secret=secret)

    @property
    def role(self) -> str:
        return Role.ADMIN if self.is_staff else Role.USER

    @property
    def email_is_verified(self) -> bool:
        # Not `is_verified`: django-otp sets that on request.user (passed the second factor).
        return self.email_verified_at is not None

    @property
    def may_trade_mainnet(self) -> bool:
        return self.mainnet_allowed and self.attested_at is not None


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read only"
    TRADE = "trade", "Read and trade (every write the API allows)"


class ApiKey(models.Model):
    """A personal API key for a bot: `vbk_<prefix>_<secret>`, shown once when created. Only the
    SHA-256 of the whole key is kept (the secret is 256 random bits, so a fast hash is enough:
    nothing to brute-force); `prefix` finds the row and names the key in lists."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=8, choices=ApiKeyScope.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} (vbk_{self.prefix}_…)"
