"""Re-wrap every wallet data key from the old master key to the new one.

Keys are named by environment variable or file, never given on the command line (where `ps`
and shell history would keep them). Each data key is re-wrapped in its own transaction under a
row lock, so the command can be stopped and run again (rows already on the new key are skipped)
and runs safely beside workers. Procedure without downtime:

  1. Deploy with WALLET_MASTER_KEY=<new> and WALLET_MASTER_KEY_PREVIOUS=<old>: every process can
     unwrap both, and new data keys are wrapped with the new one.
  2. python manage.py rotate_master_key --old-key-env WALLET_MASTER_KEY_PREVIOUS \\
         --new-key-env WALLET_MASTER_KEY
  3. Unset WALLET_MASTER_KEY_PREVIOUS and restart; the start-up check confirms nothing needs it.

With the workers stopped, step 1 can be skipped: rotate, then deploy the new key.
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from apps.wallets import keystore
from apps.wallets.models import UserKey
from apps.wallets.services import master_key_rotation_record, user_key_rewrap


class Command(BaseCommand):
    help = "Re-wrap every wallet data key under a new master key (resumable, safe while running)."

    def add_arguments(self, parser):
        old = parser.add_mutually_exclusive_group(required=True)
        old.add_argument("--old-key-env", metavar="NAME", help="variable holding the old key")
        old.add_argument("--old-key-file", metavar="PATH", help="file holding the old key")
        new = parser.add_mutually_exclusive_group(required=True)
        new.add_argument("--new-key-env", metavar="NAME", help="variable holding the new key")
        new.add_argument("--new-key-file", metavar="PATH", help="file holding the new key")

    def handle(self, *args, **options):
        try:
            old = keystore.master_key_from_environment(
                env=options["old_key_env"], file=options["old_key_file"]
            )
            new = keystore.master_key_from_environment(
                env=options["new_key_env"], file=options["new_key_file"]
            )
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        if old.fingerprint == new.fingerprint:
            raise CommandError("The old and the new master key are the same key.")

        outcomes = {"rewrapped": 0, "skipped": 0, "gone": 0, "unknown": 0}
        # Ids first, then one short transaction per row: no long lock, and an interruption
        # loses at most the row in flight (which the next run redoes).
        ids = list(UserKey.objects.order_by("pk").values_list("pk", flat=True))
        for user_key_id in ids:
            outcome = user_key_rewrap(user_key_id=user_key_id, old=old, new=new)
            outcomes[outcome] += 1
            if outcome == "unknown":
                self.stderr.write(f"data key {user_key_id}: wrapped by neither key, left as is")
        self.stdout.write(
            f"Master key {old.fingerprint} -> {new.fingerprint}: "
            f"{outcomes['rewrapped']} re-wrapped, {outcomes['skipped']} already done, "
            f"{outcomes['unknown']} wrapped by another key."
        )
        master_key_rotation_record(
            old_fingerprint=old.fingerprint, new_fingerprint=new.fingerprint, outcomes=outcomes
        )
        if outcomes["unknown"]:
            raise CommandError(f"{outcomes['unknown']} data key(s) are wrapped by another key.")
