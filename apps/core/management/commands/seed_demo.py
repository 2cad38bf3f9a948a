import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User

DEMO_EMAIL = "demo@volumebot.local"
ADMIN_EMAIL = "admin@volumebot.local"


class Command(BaseCommand):
    help = "Create the demo and admin accounts for `make run` (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--credentials-file", default=None)

    def handle(self, *args, credentials_file=None, **options):
        path = settings.BASE_DIR / ".devstack" / "demo-credentials.txt"
        if credentials_file:
            path = type(path)(credentials_file)
        lines = []
        with transaction.atomic():
            for email, staff in ((DEMO_EMAIL, False), (ADMIN_EMAIL, True)):
                if User.objects.filter(email=email).exists():
                    continue
                password = secrets.token_urlsafe(12)
                User.objects.create_user(
                    email=email,
                    password=password,
                    is_staff=staff,
                    is_superuser=staff,
                    display_name="Demo admin" if staff else "Demo user",
                    email_verified_at=timezone.now(),
                )
                lines.append(f"{'admin' if staff else 'demo '}  {email}  {password}")
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
