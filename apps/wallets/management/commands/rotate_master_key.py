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

With AWS KMS (WALLET_MASTER_KEY_PROVIDER=aws-kms) the same steps name KMS keys instead:
WALLET_KMS_KEY_ID=<new key> and WALLET_KMS_KEY_ID_PREVIOUS=<old key>, then
--old-kms-key <old key id/ARN/alias> --new-kms-key <new key>. Moving from a local key to KMS
mixes the two: --old-key-env WALLET_MASTER_KEY_PREVIOUS --new-kms-key <key>. A KMS key id is no
secret, so it may be given on the command line; KMS itself keeps the key.
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
        old.add_argument("--old-kms-key", metavar="KEY_ID", help="the old AWS KMS key")
        new = parser.add_mutually_exclusive_group(required=True)
        new.add_argument("--new-key-env", metavar="NAME", help="variable holding the new key")
        new.add_argument("--new-key-file", metavar="PATH", help="file holding the new key")
        new.add_argument("--new-kms-key", metavar="KEY_ID", help="the new AWS KMS key")

    def handle(self, *args, **options):
        try:
            old = keystore.master_key_from(
                env=options["old_key_env"], file=options["old_key_file"],
                kms_key_id=options["old_kms_key"],
            )  # fmt: skip
            new = keystore.master_key_from(
                env=options["new_key_env"], file=options["new_key_file"],
                kms_key_id=options["new_kms_key"],
            )  # fmt: skip
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        if old.fingerprint == new.fingerprint:
            raise CommandError("The old and the new master key are the same key.")

        outcomes = {"rewrapped": 0, "skipped": 0, "gone": 0, "unknown": 0}
        # Ids first, then one short transaction per row: no long lock, and an interruption
        # loses at most the row in flight (which the next run redoes).
        ids = list(UserKey.objects.order_by("pk").values_list("pk", flat=True))
        for user_key_id in ids:
            try:
                outcome = user_key_rewrap(user_key_id=user_key_id, old=old, new=new)
            except keystore.KeystoreError as error:
                # Rows done so far stay done: running the command again resumes here.
                raise CommandError(
                    f"Stopped at data key {user_key_id}: {error} Run the command again to resume."
                ) from None
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
