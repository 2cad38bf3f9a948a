from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from apps.accounts.models import Role, Theme, User
from apps.core.errors import DomainError, ValidationFailed
from apps.core.links import site_link
from apps.core.services import audit_log
from apps.core.text import check_name

VERIFY_SALT = "accounts.verify-email"
EMAIL_MAX_LENGTH = 254  # RFC 5321; User.email's length


def user_signup(
    *, email: str, password: str, display_name: str = "", ip: str | None = None
) -> User | None:
    """Create an unverified account and e-mail it a verification link.

    An address that already has an account gets an e-mail saying so (with sign-in and reset
    links) instead, and the caller answers exactly as for a new account: the sign-up form must
    not tell anyone which addresses are registered. Returns None in that case."""
    email = User.objects.normalize_email(email.strip()).lower()
    check_name(display_name, field="display_name")
    try:
        password_validation.validate_password(password, User(email=email))
    except ValidationError as error:
        raise ValidationFailed(
            " ".join(error.messages), fields={"password": error.messages}
        ) from error
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        # Hash anyway, so the answer takes as long as creating an account does.
        make_password(password)
        transaction.on_commit(lambda: account_exists_send(user=existing))
        return None
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password, display_name=display_name)
        audit_log(actor=user, action="account.signup", entity="user", entity_id=user.pk, ip=ip)
        # After commit: the link must not reach an inbox for an account that was rolled back.
        transaction.on_commit(lambda: email_verification_send(user=user))
    return user


def verification_token(*, user: User) -> str:
    return signing.dumps({"user": user.pk, "email": user.email}, salt=VERIFY_SALT)


def email_verification_send(*, user: User) -> None:
    link = site_link(reverse("accounts:verify", kwargs={"token": verification_token(user=user)}))
    context = {"user": user, "link": link}
    send_mail(
        subject="Verify your e-mail address for volumebot",
        message=render_to_string("accounts/email/verify.txt", context),
        html_message=render_to_string("accounts/email/verify.html", context),
        from_email=None,
        recipient_list=[user.email],
    )


def account_exists_send(*, user: User) -> None:
    """Tell the owner of an address that someone tried to sign up with it again."""
    context = {
        "user": user,
        "signin_link": site_link(reverse("accounts:signin")),
        "reset_link": site_link(reverse("accounts:password_reset")),
    }
    send_mail(
        subject="You already have a volumebot account",
        message=render_to_string("accounts/email/account_exists.txt", context),
        html_message=render_to_string("accounts/email/account_exists.html", context),
        from_email=None,
        recipient_list=[user.email],
    )


def password_reset_link(*, uidb64: str, token: str) -> str:
    return site_link(
        reverse("accounts:password_reset_confirm", kwargs={"uidb64": uidb64, "token": token})
    )


def user_verify_email(*, token: str) -> User:
    """Mark the account in the signed link verified. Verifying twice is a no-op."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired as error:
        raise DomainError(
            "This verification link has expired. Sign in to get a new one.", code="link_expired"
        ) from error
    except signing.BadSignature as error:
        raise DomainError("This verification link is not valid.", code="link_invalid") from error
    with transaction.atomic():
        # Lock: two clicks on the same link must write one audit row.
        user = User.objects.select_for_update().filter(pk=data["user"], email=data["email"]).first()
        if user is None:
            raise DomainError("This verification link is not valid.", code="link_invalid")
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
            audit_log(actor=user, action="account.verify_email", entity="user", entity_id=user.pk)
    return user


LOCKED_OUT_MESSAGE = "Too many failed sign-ins. Try again in a few minutes, or reset your password."


def signin_identifier(request, credentials: dict | None) -> str:
    """The identifier django-axes counts failures against: the e-mail, however it was posted
    (the sign-in form calls it `username`, the JWT endpoint `email`), cut to the longest
    e-mail address there is: django-axes stores it in a 255-character column, and a longer
    string posted to sign in was a 500 (no account has a longer address to tell apart)."""
    source = credentials or getattr(request, "POST", {}) or {}
    identifier = str(source.get("email") or source.get("username") or "").strip().lower()
    return identifier[:EMAIL_MAX_LENGTH]


def user_tokens_revoke(
    *, user_id: int, actor: User | None, reason: str, ip: str | None = None
) -> None:
    """Revoke every API token (access and refresh) and every session of the user at once: both
    are bound to `token_version` (apps.accounts.tokens, User.get_session_auth_hash)."""
    with transaction.atomic():
        User.objects.filter(pk=user_id).update(token_version=F("token_version") + 1)
        audit_log(
            actor=actor, action="account.tokens_revoke", entity="user", entity_id=user_id,
            metadata={"reason": reason}, ip=ip,
        )  # fmt: skip


def user_set_role(*, user_id: int, role: str, actor: User) -> User:
    """Make a user an admin or a plain user. An admin is an operator of the whole platform:
    staff with every permission in the admin (the console has no finer roles)."""
    if role not in Role.values:
        raise ValidationFailed(
            f"Unknown role {role!r}.", fields={"role": ["Choose user or admin."]}
        )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        is_admin = role == Role.ADMIN
        if (user.is_staff, user.is_superuser) != (is_admin, is_admin):
            user.is_staff = user.is_superuser = is_admin
            user.save(update_fields=["is_staff", "is_superuser"])
            audit_log(
                actor=actor, action="account.set_role", entity="user", entity_id=user.pk,
                metadata={"role": role},
            )  # fmt: skip
    return user


def user_update_profile(*, user: User, display_name: str, theme: str) -> User:
    if theme not in Theme.values:
        raise ValidationFailed(
            "Unknown theme.", fields={"theme": ["Choose light, dark or system."]}
        )
    if display_name.strip() != user.display_name:  # a name saved before this rule stays
        check_name(display_name, field="display_name")
    user.display_name = display_name.strip()
    user.theme = theme
    user.save(update_fields=["display_name", "theme"])
    return user


def expired_tokens_purge() -> int:
    """Forget refresh tokens past their expiry (and their blacklist rows): they are refused
    by their signature's expiry alone."""
    deleted, _ = OutstandingToken.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def unverified_signups_purge(*, older_than: timedelta) -> int:
    """Delete accounts whose e-mail was never verified, so the address can sign up again."""
    cutoff = timezone.now() - older_than
    deleted, _ = User.objects.filter(
        email_verified_at__isnull=True, date_joined__lt=cutoff, is_staff=False
    ).delete()
    return deleted
