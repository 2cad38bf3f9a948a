"""Second-factor helpers: RFC 6238 TOTP computed here with the standard library (not with the
library under test), enrolment of a user without spending a code, and a signed-in client whose
session passed the second factor."""

import base64
import hashlib
import hmac
import struct
import time

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.mfa import recovery_codes_replace

STEP = 30


def totp(secret_b32: str, *, steps_ahead: int = 0) -> str:
    """The 6-digit RFC 6238 code (HMAC-SHA1, 30 s) for now, or `steps_ahead` steps later (the
    server accepts one step either side, and each step once: the next code of a test comes
    from the next step)."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int(time.time()) // STEP + steps_ahead
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


class Enrolled:
    """A user's confirmed authenticator: `code()` gives a fresh code each call (next step)."""

    def __init__(self, device: TOTPDevice, recovery_codes: list[str]):
        self.device = device
        self.secret = base64.b32encode(device.bin_key).decode()
        self.recovery_codes = recovery_codes
        self._used = 0

    def code(self) -> str:
        code = totp(self.secret, steps_ahead=self._used)
        self._used += 1
        return code

    def recovery(self) -> str:
        """An unused recovery code (each works once)."""
        return self.recovery_codes.pop()


def enrol(user) -> Enrolled:
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    return Enrolled(device, recovery_codes_replace(user=user))


def login_verified(client, user) -> Enrolled:
    """Sign `client` in as `user` with a session that passed the second factor."""
    enrolled = enrol(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = enrolled.device.persistent_id
    session.save()
    return enrolled
