"""Progressive lockout: each lockout of an account from an address within a day lengthens the
next (django-axes calls `lockout_cool_off` for its AXES_COOLOFF_TIME).

Axes keeps one row of failures per (username, address) and forgets it once its cool-off has
passed, so the lockouts themselves are counted from its failure log (access failure log),
where the failure that locked an account is marked `locked_out` (attempts refused while locked
are not logged, so a lockout counts once however often it is tried).
"""

from datetime import timedelta

from axes.models import AccessFailureLog
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

# Lockouts further back than this no longer count.
LOCKOUT_MEMORY = timedelta(hours=24)


def _username(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    credentials = getattr(request, "axes_credentials", None) or {}
    name = credentials.get("username") or request.POST.get("username")
    if not name and getattr(getattr(request, "user", None), "is_authenticated", False):
        name = request.user.username  # re-authentication of a signed-in user (MFA changes)
    return str(name or "")[:150]


def lockout_cool_off(request: HttpRequest | None) -> timedelta:
    """The cool-off for this request's account and address: the first tier of
    AXES_COOLOFF_TIERS until it has been locked out, the n-th tier at its n-th lockout in the
    last day (the last tier after that)."""
    tiers = settings.AXES_COOLOFF_TIERS
    username = _username(request)
    if not username:
        return tiers[0]
    lockouts = AccessFailureLog.objects.filter(
        username=username, locked_out=True, attempt_time__gte=timezone.now() - LOCKOUT_MEMORY
    )
    address = getattr(request, "axes_ip_address", None)
    if address:
        lockouts = lockouts.filter(ip_address=address)
    count = lockouts.count()
    return tiers[min(max(count - 1, 0), len(tiers) - 1)]
