"""Production settings: the base settings with the deploy-only switches that would break a
plain-HTTP development server. `manage.py check --deploy` passes with no warnings under these
(tests/security/test_deploy_check.py); the image runs with them (deploy/Dockerfile).
"""

from volumebot.settings.base import *  # noqa: F403
from volumebot.settings.base import env

if DEBUG:  # noqa: F405
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DEBUG must be off with volumebot.settings.production.")

# Plain HTTP is redirected to HTTPS (behind a TLS proxy listed in TRUSTED_PROXIES, its
# X-Forwarded-Proto says which it was), except the probes and the metrics scrape, which come
# from inside the cluster.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
