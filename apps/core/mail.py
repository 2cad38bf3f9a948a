"""Development e-mail: every message goes to the console and, one `.eml` file each, to MAIL_DIR,
so a person (or a browser test) can open the verification and reset links."""

import sys
import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


class DevEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        folder = Path(settings.MAIL_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            raw = message.message().as_bytes()
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
            (folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml").write_bytes(raw)
            sys.stdout.write(raw.decode("utf-8", "replace") + "\n" + "-" * 79 + "\n")
            sys.stdout.flush()
        return len(email_messages)
