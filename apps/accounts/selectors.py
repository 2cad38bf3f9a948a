import math

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.db.models import Max
from django.utils import timezone


def signin_lockout_seconds(*, request, username: str) -> int:
    """Seconds until django-axes lets `username` sign in from this client again (at least 1).

    Axes counts failures per e-mail and IP (AXES_LOCKOUT_PARAMETERS) and forgets them a cool-off
    after the last one, which is when the lock-out ends."""
    cool_off = get_cool_off(request)
    last = AccessAttempt.objects.filter(
        username=username, ip_address=getattr(request, "axes_ip_address", None)
    ).aggregate(last=Max("attempt_time"))["last"]
    if cool_off is None or last is None:
        return max(1, int(cool_off.total_seconds()) if cool_off else 1)
    return max(1, math.ceil((last + cool_off - timezone.now()).total_seconds()))
