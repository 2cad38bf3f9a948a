"""Second factor: a TOTP authenticator (RFC 6238, django-otp's TOTP device) and ten single-use
recovery codes (django-otp's static device).

Recovery codes are stored as a keyed digest (`recovery_code_digest`), never as themselves: a
read of the database (a dump, a backup, the admin's static-token pages) does not give a code
that works. The digest is an HMAC under SECRET_KEY (a code has 40 random bits: an unkeyed hash
would be searched through in minutes), cut to the 16 characters django-otp's token column
holds; codes made under a key in SECRET_KEY_FALLBACKS keep working through a key rotation.

Signing in stays password-only, so bots on API keys or JWTs keep working; what a stolen
password, session or token must not be enough for asks for a code on the request itself
(`mfa_check`): exporting a key, an operator allowing mainnet or re-wrapping data keys. Staff
need a verified session for the whole admin (apps.admin_ops.sites). A user can be allowed on
mainnet only once they have a second factor.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction
from django.utils.crypto import salted_hmac
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import User
from apps.core.errors import Conflict, DomainError, ValidationFailed
from apps.core.services import audit_log

RECOVERY_CODES = 10
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
TOTP_DIGITS_MAX = 8
RECOVERY_KEY_SALT = "volumebot.accounts.recovery-code"
DIGEST_CHARS = 16  # django-otp's StaticToken.token is a CharField(max_length=16)


class MfaRequired(DomainError):
    """The action needs a second factor and the user has none yet."""

    status_code = 403
    code = "mfa_required"


def mfa_enabled(*, user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def mfa_enrolment_start(*, user: User) -> TOTPDevice:
    """A new, unconfirmed authenticator for the user to scan (its `config_url` is the QR
    code's content). Starting again replaces an unconfirmed one."""
    if mfa_enabled(user=user):
        raise Conflict("Two-factor authentication is already on.", code="mfa_enabled")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def _code_refused(field: str = "otp_code") -> ValidationFailed:
    message = "That code is not valid (or was used already). Enter the current code."
    return ValidationFailed(message, code="wrong_otp_code", fields={field: [message]})


def mfa_enrolment_confirm(*, user: User, code: str, ip: str | None = None) -> list[str]:
    """Turn the authenticator on once it shows a right code; return the recovery codes, which
    are shown this once."""
    with transaction.atomic():
        # Lock: two confirmations racing must not make two sets of recovery codes.
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            if mfa_enabled(user=user):
                raise Conflict("Two-factor authentication is already on.", code="mfa_enabled")
            raise Conflict("Start the set-up first.", code="mfa_not_started")
        if not device.verify_token(code.strip()):
            raise _code_refused()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = recovery_codes_replace(user=user)
        audit_log(actor=user, action="account.mfa_enable", entity="user", entity_id=user.pk, ip=ip)
    return codes


def recovery_codes_replace(*, user: User) -> list[str]:
    """A new set of recovery codes for the user (any old set stops working)."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]  # 40 bits each, single use
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=recovery_code_digest(code)) for code in codes
    )
    return codes


def recovery_code_digest(code: str, *, secret: str | None = None) -> str:
    """What is stored for a recovery code (see the module docstring)."""
    digest = salted_hmac(RECOVERY_KEY_SALT, code, secret=secret, algorithm="sha256")
    return digest.hexdigest()[:DIGEST_CHARS]


def _recovery_code_verify(device: StaticDevice, code: str) -> bool:
    """Spend `code` on `device` (django-otp's check, with its throttle), by its digest under
    the current key or, once the key was rotated, under the fallback it was made with."""
    digests = [
        recovery_code_digest(code, secret=key)
        for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    ]
    made_with = device.token_set.filter(token__in=digests).values_list("token", flat=True)
    return device.verify_token(next(iter(made_with), digests[0]))


def mfa_verify(*, user: User, code: str) -> TOTPDevice | StaticDevice | None:
    """The device that accepts `code` (a current TOTP code, or an unused recovery code, which
    this spends), or None. Each device throttles its own failures (django-otp's back-off)."""
    code = code.strip().replace(" ", "")
    if not code:
        return None
    # A code goes to one kind of device only: a recovery code tried on the authenticator
    # would count as its failure and slow down (throttle) the next real code.
    model = TOTPDevice if code.isdigit() and len(code) <= TOTP_DIGITS_MAX else StaticDevice
    with transaction.atomic():
        # Lock: the same TOTP code presented twice at once is accepted once (the device keeps
        # the last time step used), a recovery code is spent once.
        for device in model.objects.select_for_update().filter(user=user, confirmed=True):
            spent = (
                device.verify_token(code)
                if model is TOTPDevice
                else _recovery_code_verify(device, code)
            )
            if spent:
                return device
    return None


def mfa_check(*, user: User, code: str, action: str, ip: str | None = None) -> None:
    """Require a second factor for `action`: refuse a user without one, and a wrong code
    (audited, without the code)."""
    if not mfa_enabled(user=user):
        raise MfaRequired(
            "This needs two-factor authentication: turn it on under Settings → Two-factor "
            "authentication first.",
            fields={"otp_code": ["Turn on two-factor authentication first."]},
        )
    if mfa_verify(user=user, code=code or "") is None:
        audit_log(
            actor=user, action="account.mfa_refused", entity="user", entity_id=user.pk,
            metadata={"for": action}, ip=ip,
        )  # fmt: skip
        raise _code_refused()


def mfa_disable(*, user: User, code: str, ip: str | None = None) -> None:
    """Turn the second factor off (a current code or a recovery code proves it is the owner)."""
    mfa_check(user=user, code=code, action="mfa_disable", ip=ip)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit_log(actor=user, action="account.mfa_disable", entity="user", entity_id=user.pk, ip=ip)


def mfa_recovery_codes_left(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
