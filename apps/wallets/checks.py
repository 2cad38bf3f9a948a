"""Start-up check: the master key this process holds must unwrap the stored data keys.

Runs with every management command that checks (migrate, runserver, check — so `make run` and a
deploy's migrate step stop before anything serves) and when a Celery worker starts (see
apps.py). A wrong key must stop the process here, not surface later as failed signatures.
"""

from django.core import checks

from apps.wallets import keystore


@checks.register(checks.Tags.security)
def master_key_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors, warnings = keystore.master_key_problems()
    return [checks.Error(message, id="wallets.E001") for message in errors] + [
        checks.Warning(message, id="wallets.W001") for message in warnings
    ]


def verify_master_key_or_exit(**kwargs) -> None:
    """Celery `worker_init` handler. Celery logs and swallows exceptions from signal handlers,
    so a plain exception would let a worker with the wrong key start; SystemExit does not."""
    errors, _ = keystore.master_key_problems()
    if errors:
        raise SystemExit("Refusing to start: " + " ".join(errors))
