"""Test settings: the base settings with test-only overrides.

`make test` starts the embedded stack and passes DATABASE_URL / REDIS_URL; a bare `pytest`
starts (or reuses) it here so the suite never needs anything else.
"""

import os

if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
    from volumebot.devstack import ensure_services

    os.environ.update(ensure_services())

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# A fixed test master key (32 zero-free bytes, base64) so encrypted fixtures are reproducible.
os.environ.setdefault("WALLET_MASTER_KEY", "dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmchISE=")
# Test tasks, cache and channel messages live in their own Redis databases and prefixes, so a
# `make run` worker on the same Redis never steals a test task.
os.environ.setdefault("REDIS_DB_BROKER", "10")
os.environ.setdefault("REDIS_DB_CACHE", "11")
os.environ.setdefault("REDIS_DB_CHANNELS", "12")
# Per test run (inherited by the worker processes a test starts), so concurrent runs on one
# Redis neither clear each other's cache nor consume each other's tasks.
_run = f"vbtest{os.getpid()}"
os.environ.setdefault("CELERY_KEY_PREFIX", f"{_run}:")
os.environ.setdefault("CACHE_KEY_PREFIX", _run)
os.environ.setdefault("CHANNELS_PREFIX", _run)

from volumebot.settings.base import *  # noqa: E402, F403

# Fast hashing: Argon2 is exercised by its own test.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]  # noqa: F405
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Several test runs may share one embedded Postgres (e.g. two developers' sessions on a machine).
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_volumebot")}  # noqa: F405
# The SSRF guard is on in tests whatever the environment says; a test delivering to its local
# receiver turns the override on for itself.
WEBHOOKS_ALLOW_PRIVATE = False
# Generous limits so the suite never trips them; tests/security sets tiny ones per test.
RATE_LIMITS = dict.fromkeys(RATE_LIMITS, "100000/min")  # noqa: F405
# No back-off between two-factor attempts (a test of the back-off turns it on for itself): a
# test that enters a wrong code and then the right one must not depend on the clock.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
