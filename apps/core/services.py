import ipaddress

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.core.models import AuditEvent
from apps.core.periodic import PERIODIC_TASKS
from apps.core.proxies import parse_address

DECLARED_IN_CODE = "declared in apps/core/periodic.py"


def audit_log(
    *,
    actor: AbstractBaseUser | None,
    action: str,
    entity: str,
    entity_id: object = "",
    metadata: dict | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one audit row. Call it inside the transaction of the change it records, so the
    row exists exactly when the change does."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        metadata=metadata or {},
        ip=ip,
    )


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, which `apps.core.proxies` sets from a trusted proxy's
    X-Forwarded-For. Anything that is not an IP address (a unix-socket peer) is None."""
    address = parse_address(request.META.get("REMOTE_ADDR") or "")
    return str(address) if address is not None else None


def ip_in_networks(address: str | None, networks: list[str]) -> bool:
    """Whether `address` lies in one of `networks` (CIDRs or single addresses)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def periodic_tasks_install() -> tuple[int, int]:
    """Make beat's schedule match PERIODIC_TASKS: create or update each declared task and
    disable tasks this command installed earlier that are no longer declared."""
    with transaction.atomic():
        for periodic in PERIODIC_TASKS:
            interval, _ = IntervalSchedule.objects.get_or_create(
                every=periodic.every_seconds, period=IntervalSchedule.SECONDS
            )
            PeriodicTask.objects.update_or_create(
                name=periodic.name,
                defaults={
                    "task": periodic.task,
                    "interval": interval,
                    "queue": periodic.queue,
                    "enabled": True,
                    "description": DECLARED_IN_CODE,
                },
            )
        disabled = (
            PeriodicTask.objects.filter(description=DECLARED_IN_CODE, enabled=True)
            .exclude(name__in=[periodic.name for periodic in PERIODIC_TASKS])
            .update(enabled=False)
        )
    return len(PERIODIC_TASKS), disabled
