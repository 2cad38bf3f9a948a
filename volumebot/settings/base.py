"""Settings for every environment, read from the environment (django-environ).

Development defaults are safe: with DEBUG off (the default) start-up refuses to run without
SECRET_KEY, ALLOWED_HOSTS and WALLET_MASTER_KEY. `make run` / `make test` start the embedded
stack and provide development values for all three.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A developer's own overrides; never committed (see .env.example).
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def env_or_file(name: str, default: str = "") -> str:
    """Read NAME, or the contents of the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env_or_file("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
WALLET_MASTER_KEY = env_or_file("WALLET_MASTER_KEY")
# Only while rotating the master key: the old key, so running processes can still unwrap the
# data keys that `rotate_master_key` has not re-wrapped yet (see apps/wallets/keystore.py).
WALLET_MASTER_KEY_PREVIOUS = env_or_file("WALLET_MASTER_KEY_PREVIOUS")
# Where the master key lives: "env" (WALLET_MASTER_KEY / WALLET_MASTER_KEY_FILE above) or
# "aws-kms" (the KMS key WALLET_KMS_KEY_ID wraps the data keys; apps/wallets/kms.py). AWS
# credentials come from boto3's usual chain (AWS_* variables, an instance or pod role).
WALLET_MASTER_KEY_PROVIDER = env.str("WALLET_MASTER_KEY_PROVIDER", default="env")
if WALLET_MASTER_KEY_PROVIDER not in ("env", "aws-kms"):
    raise ImproperlyConfigured('WALLET_MASTER_KEY_PROVIDER must be "env" or "aws-kms".')
WALLET_KMS_KEY_ID = env.str("WALLET_KMS_KEY_ID", default="")  # key id, ARN or alias/<name>
WALLET_KMS_KEY_ID_PREVIOUS = env.str("WALLET_KMS_KEY_ID_PREVIOUS", default="")  # rotation only
WALLET_KMS_REGION = env.str("WALLET_KMS_REGION", default="")  # else AWS_REGION/AWS_DEFAULT_REGION
WALLET_KMS_ENDPOINT_URL = env.str("WALLET_KMS_ENDPOINT_URL", default="")  # e.g. a VPC endpoint
WALLET_KMS_DEK_CACHE_SECONDS = env.int("WALLET_KMS_DEK_CACHE_SECONDS", default=60)

if not DEBUG:
    master_key = (
        ("WALLET_KMS_KEY_ID", WALLET_KMS_KEY_ID)
        if WALLET_MASTER_KEY_PROVIDER == "aws-kms"
        else ("WALLET_MASTER_KEY", WALLET_MASTER_KEY)
    )
    missing = [
        name
        for name, value in (
            ("SECRET_KEY", SECRET_KEY),
            ("ALLOWED_HOSTS", ALLOWED_HOSTS),
            master_key,
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            "DEBUG is off, so these settings must be set in the environment: " + ", ".join(missing)
        )
if not SECRET_KEY:
    # Development only (DEBUG on): a fixed key is fine because nothing it signs leaves the machine.
    SECRET_KEY = "dev-insecure-secret-key-do-not-use-in-production"  # noqa: S105

INSTALLED_APPS = [
    "daphne",
    # The stock admin with the operator console's pages (control room) added to its site.
    "apps.admin_ops.sites.OpsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_simplejwt",
    # Refresh tokens rotate and the used one is blacklisted (SIMPLE_JWT below).
    "rest_framework_simplejwt.token_blacklist",
    # Second factor: TOTP devices and single-use recovery codes (apps/accounts/mfa.py).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "django_htmx",
    "template_partials",
    "django_guid",
    "django_prometheus",
    "axes",
    "csp",
    "corsheaders",
    "apps.core",
    "apps.accounts",
    "apps.localnet",
    "apps.wallets",
    "apps.tokens",
    "apps.campaigns",
    "apps.execution",
    "apps.admin_ops",
    "apps.webhooks",
]

MIDDLEWARE = [
    # First and last: django-prometheus times the whole request (latency histograms per view).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.core.middleware.admin_allowlist_middleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before CommonMiddleware, so a redirect still carries the CORS headers (its docs).
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the session passed a second factor (the admin needs it).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.htmx_messages_middleware",
    "apps.core.middleware.log_context_middleware",
    # A page whose work needs Redis answers 503 + Retry-After while it is down.
    "apps.core.middleware.OutageMiddleware",
    # Last, so it sees the final response of a failed sign-in (django-axes docs).
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "volumebot.urls"
WSGI_APPLICATION = "volumebot.wsgi.application"
ASGI_APPLICATION = "volumebot.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.site",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default="postgres:///volumebot")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Web processes (volumebot/asgi.py turns DB_POOL on for them) borrow connections from a psycopg
# pool for each request instead of opening one per request: Django's persistent connections
# are per thread, which ASGI does not keep stable. Celery workers and commands keep one
# connection per thread (DB_CONN_MAX_AGE, volumebot/celery.py): a job holds session advisory
# locks on its connection, which must never be lent to another borrower. Each web process keeps
# DB_POOL_MIN_SIZE..DB_POOL_MAX_SIZE connections (its sync views and consumers run on one
# thread, so a few are enough); a borrower waits at most DB_POOL_TIMEOUT seconds for one, then
# the request answers 503 with Retry-After (apps.core.outage): a request that waited longer than
# a few seconds for a connection is lost to its client anyway, and holding it only queues more.
DB_POOL = env.bool("DB_POOL", default=False)
if DB_POOL:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistence with a pool
    # A borrowed connection is checked first, so a Postgres restart costs no failed request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=4),
        "timeout": env.float("DB_POOL_TIMEOUT", default=3.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")


def redis_db(url: str, db: int) -> str:
    """The same Redis server as `url`, database `db`: each concern gets its own database."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return urlunsplit(parts._replace(query=f"db={db}"))
    return urlunsplit(parts._replace(path=f"/{db}"))


REDIS_DB_BROKER = env.int("REDIS_DB_BROKER", default=0)
REDIS_DB_CACHE = env.int("REDIS_DB_CACHE", default=1)
REDIS_DB_CHANNELS = env.int("REDIS_DB_CHANNELS", default=2)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_db(REDIS_URL, REDIS_DB_CACHE),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="vb"),
        "TIMEOUT": 300,
        # A Redis that hangs must not hang every request: fail fast, then degrade
        # (apps.core.outage).
        "OPTIONS": {
            "socket_connect_timeout": env.float("REDIS_TIMEOUT_S", default=2.0),
            "socket_timeout": env.float("REDIS_TIMEOUT_S", default=2.0),
        },
    }
}
# cached_db, reading Postgres when Redis does not answer (apps.core.sessions).
SESSION_ENGINE = "apps.core.sessions"
# Retry-After (seconds) of the 503 answered while Redis is down.
OUTAGE_RETRY_AFTER_S = env.int("OUTAGE_RETRY_AFTER_S", default=10)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [redis_db(REDIS_URL, REDIS_DB_CHANNELS)],
            "prefix": env.str("CHANNELS_PREFIX", default="vb"),
        },
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Counts failed sign-ins and locks out; must come first (django-axes docs).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:signin"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "core:landing"
EMAIL_VERIFICATION_MAX_AGE = env.int("EMAIL_VERIFICATION_MAX_AGE", default=3 * 24 * 3600)
UNVERIFIED_SIGNUP_TTL_DAYS = env.int("UNVERIFIED_SIGNUP_TTL_DAYS", default=7)

AXES_FAILURE_LIMIT = env.int("SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGNIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "apps.accounts.services.signin_identifier"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "apps.accounts.views.locked_out"
AXES_VERBOSE = False
# The lock-out keys on the same client address as everything else (apps.core.proxies).
AXES_CLIENT_IP_CALLABLE = "apps.core.services.client_ip"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Serve straight from the finders in development so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# E-mail: SMTP in production (EMAIL_URL=smtp://user:pass@host:587/?tls=True); in development the
# messages go to the console and, one file each, to MAIL_DIR so a person or a test can open them.
EMAIL_URL = env.str("EMAIL_URL", default="")
MAIL_DIR = env.path("MAIL_DIR", default=BASE_DIR / ".devstack" / "mail")
if EMAIL_URL:
    _email = environ.Env.email_url_config(EMAIL_URL)
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "apps.core.mail.DevEmailBackend"
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="volumebot <no-reply@volumebot.local>")
# The public URL every e-mailed link starts with (apps.core.links); by default the port
# `make run` serves on (WEB_PORT), so a dev stack on another port mails working links.
SITE_URL = env.str("SITE_URL", default=f"http://127.0.0.1:{env.int('WEB_PORT', default=8000)}")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, refusing revoked tokens (apps.accounts.tokens).
        "apps.accounts.tokens.StampedJWTAuthentication",
        # Personal API keys for bots: `Authorization: Api-Key <key>`.
        "apps.accounts.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON with a size and a nesting limit, checked before parsing (API_MAX_* below).
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # apps.core.throttling: the same limits (RATE_LIMITS below) guard the HTML views.
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.throttling.DefaultThrottle",
        "apps.core.throttling.ScopeThrottle",
    ],
}
# The largest JSON body the API reads (413 past it) and its deepest nesting (400 past it); the
# API's real bodies are a few KB and a few levels deep (campaign params are the deepest).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=256 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=16)
# WebSocket tickets (apps.accounts.tickets): seconds a ticket stays valid (it works once).
WS_TICKET_SECONDS = env.int("WS_TICKET_SECONDS", default=30)
# Personal API keys (apps.accounts.api_keys): the longest a key may live.
API_KEY_MAX_DAYS = env.int("API_KEY_MAX_DAYS", default=365)
# Rate limits ("<n>/<s|min|hour|day>"), counted in the default cache: `user` per signed-in user
# and `anon` per IP on every API request; the others per user (or IP when signed out) on the
# writes of the views they name. Each is RATE_LIMIT_<SCOPE> in the environment.
_RATE_LIMIT_DEFAULTS = {
    "anon": "120/min",
    "user": "600/min",
    "signin": "10/min",
    "signup": "5/hour",
    "password_reset": "5/hour",
    "token": "10/min",
    "wallet_create": "60/hour",
    "wallet_export": "10/hour",
    "airdrop": "5/hour",
    "campaign_start": "30/hour",
    "webhook_test": "10/min",
    "mfa": "20/hour",
}
RATE_LIMITS = {
    scope: env.str(f"RATE_LIMIT_{scope.upper()}", default=rate)
    for scope, rate in _RATE_LIMIT_DEFAULTS.items()
}
# Per-IP limits use REMOTE_ADDR, like apps.core.services.client_ip (apps.core.proxies sets it from
# trusted proxies' headers): DRF's default would trust any client-sent X-Forwarded-For.
REST_FRAMEWORK["NUM_PROXIES"] = 0
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": True,
    # Each refresh answers a new refresh token and blacklists the one it used, so a refresh
    # token works once; apps.accounts.tokens revokes all of a user's tokens on demand.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "volumebot API",
    "DESCRIPTION": "Volume campaigns for SPL tokens on Solana. Errors always have the shape "
    '`{"error": {"code", "message", "fields"}}`.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.api.document_error_responses",
    ],
    # Several models have a `status`; name each enum for its model.
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "apps.campaigns.models.CampaignStatus",
        "RunStatusEnum": "apps.campaigns.models.RunStatus",
        "ExecutionStatusEnum": "apps.execution.models.Execution.Status",
    },
}

# Celery: one Redis database as the broker; results are not used (jobs live in Postgres).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=redis_db(REDIS_URL, REDIS_DB_BROKER))
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": env.str("CELERY_KEY_PREFIX", default="vb:"),
    # Longer than any ETA the planner sets, so Redis never re-delivers a scheduled task early.
    "visibility_timeout": 3600,
}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Task events (sent/received/started/succeeded, for a monitor like Flower) are four more broker
# messages per task; nothing here reads them (the control room asks the workers directly), so
# they are off unless CELERY_TASK_EVENTS is set (or a worker runs with `-E`).
CELERY_WORKER_SEND_TASK_EVENTS = CELERY_TASK_SEND_SENT_EVENT = env.bool(
    "CELERY_TASK_EVENTS", default=False
)

# Logs are JSON lines; every line of a request (and of the tasks it enqueues) carries its id.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    # The request id travels in the headers of every task a request enqueues and is set again
    # while a worker runs it; `celery_parent_id` on a task's lines names the task that sent it.
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=True)],
    "UUID_LENGTH": 32,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId"},
        "context": {"()": "apps.core.logging.ContextFilter"},
        "celery_tracing": {"()": "django_guid.integrations.celery.log_filters.CeleryTracing"},
    },
    "formatters": {
        "json": {
            # python-json-logger's, with `token=` / `ticket=` query values redacted.
            "()": "apps.core.logging.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s "
            "%(celery_parent_id)s %(celery_current_id)s",
            "rename_fields": {"correlation_id": "request_id", "levelname": "level"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "context", "celery_tracing"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django_guid": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
        # One line per RPC request is noise; failures surface through the RPC pool.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        # uvicorn's own handlers would print WebSocket handshakes (query strings and all)
        # unredacted: its lines go through ours instead (configured after uvicorn's, when the
        # ASGI app imports Django).
        "uvicorn": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
        "uvicorn.access": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# Sentry only when configured; secrets are scrubbed by apps.core.sentry before sending.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from apps.core.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )

# /metrics: a scrape must carry `Authorization: Bearer <METRICS_TOKEN>` or come from one of
# METRICS_ALLOWED_NETWORKS (CIDRs, e.g. the cluster's pod network). Neither set: closed.
METRICS_TOKEN = env_or_file("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])

# Operator console (apps.admin_ops): timeouts of its live reads and the abuse-flag rule.
OPS_CONTROL_ROOM_REFRESH_S = env.int("OPS_CONTROL_ROOM_REFRESH_S", default=10)
# How long a campaign page's socket goes on without its ownership being checked again.
LIVE_OWNERSHIP_RECHECK_S = env.float("LIVE_OWNERSHIP_RECHECK_S", default=30.0)
OPS_BROKER_TIMEOUT_S = env.float("OPS_BROKER_TIMEOUT_S", default=1.0)
OPS_INSPECT_TIMEOUT_S = env.float("OPS_INSPECT_TIMEOUT_S", default=1.0)
OPS_RPC_PROBE_TIMEOUT_S = env.float("OPS_RPC_PROBE_TIMEOUT_S", default=2.0)
# A user is flagged when their runs trip breakers/guardrails or they hit rate limits this many
# times within the window.
OPS_ABUSE_THRESHOLD = env.int("OPS_ABUSE_THRESHOLD", default=3)
OPS_ABUSE_WINDOW_HOURS = env.int("OPS_ABUSE_WINDOW_HOURS", default=24 * 7)

# The live pages' WebSockets only listen: a client message longer than this closes the socket
# (uvicorn reads frames up to 64 KiB: --ws-max-size, volumebot.devstack.WS_MAX_SIZE).
WEBSOCKET_MAX_MESSAGE_BYTES = env.int("WEBSOCKET_MAX_MESSAGE_BYTES", default=4096)

# Security: production values by default; development relaxes them via DEBUG.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
# No SECURE_PROXY_SSL_HEADER: the scheme, like the client's address, comes from X-Forwarded-*
# only when the peer is one of TRUSTED_PROXIES (apps.core.proxies, for HTTP and WebSocket).
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_COOKIE_HTTPONLY = False  # the page reads the token from `hx-headers`, not the cookie
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Optional IP allow lists (CIDRs; empty: no restriction): the admin site, and starting or
# scheduling a mainnet campaign (apps.campaigns.services). Client IP is REMOTE_ADDR.
ADMIN_ALLOWED_NETWORKS = env.list("ADMIN_ALLOWED_NETWORKS", default=[])
# The proxies in front of the web processes (CIDRs): only their X-Forwarded-For and
# X-Forwarded-Proto count (apps.core.proxies). None by default: `make run` serves clients
# directly, so a client-sent X-Forwarded-For is ignored there.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
MAINNET_START_ALLOWED_NETWORKS = env.list("MAINNET_START_ALLOWED_NETWORKS", default=[])

# Content-Security-Policy (django-csp): only our own scripts, styles, images and connections.
# No template has an inline <script>, `style=` attribute or `hx-on`, so neither 'unsafe-inline'
# nor a nonce is needed; htmx's injected indicator style is switched off in base.html.
# `connect-src 'self'` covers the live pages' ws:// / wss:// to the same host (CSP Level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# CORS: only the API, only for the origins configured (none by default). The API authenticates
# with bearer tokens, so no credentials (cookies) cross origins.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/v1/.*$"
CORS_ALLOW_CREDENTIALS = False

# Solana: the network the platform trades on by default, and the RPC endpoints per network.
SOLANA_DEFAULT_NETWORK = env.str("SOLANA_DEFAULT_NETWORK", default="localnet")
# How long a campaign's status body is cached for the API's pollers (apps.campaigns.status_cache;
# a transition or an edit forgets it at once, so only the run's counters can lag this long).
STATUS_CACHE_S = env.float("STATUS_CACHE_S", default=1.0)
# How long pool discovery results are cached (the refresh button bypasses the cache).
POOL_CACHE_SECONDS = env.int("POOL_CACHE_SECONDS", default=30)
SOLANA_RPC_URLS = {
    "localnet": env.list("SOLANA_LOCALNET_RPC_URLS", default=["http://127.0.0.1:8899"]),
    "devnet": env.list("SOLANA_DEVNET_RPC_URLS", default=[]),
    "mainnet-beta": env.list("SOLANA_MAINNET_RPC_URLS", default=[]),
}
# Request budgets of those endpoints, shared by every worker through Redis (format in
# apps/core/budgets.py: "all=50,send=5;all=10", one group per URL); empty: no budget.
SOLANA_RPC_BUDGETS = {
    "localnet": env.str("SOLANA_LOCALNET_RPC_BUDGETS", default=""),
    "devnet": env.str("SOLANA_DEVNET_RPC_BUDGETS", default=""),
    "mainnet-beta": env.str("SOLANA_MAINNET_RPC_BUDGETS", default=""),
}
# Jito block-engine budgets per region ("ny:all=5,bundle=1;frankfurt:all=5"; the localnet's
# block engine is the region "localnet"); empty: no budget.
JITO_BUDGETS = env.str("JITO_BUDGETS", default="")
# The block engines bundles go to, each with its own budget in JITO_BUDGETS, a campaign's
# bundles rotating over its region's ("ny-a=ny,<uuid>;ny-b=ny,<uuid>;loc=localnet"; format in
# apps/core/budgets.py); empty: one engine per region, without a UUID.
JITO_ENGINES = env.str("JITO_ENGINES", default="")
# Wallet balances read from the chain are cached this long (seconds).
WALLET_BALANCE_CACHE_SECONDS = env.int("WALLET_BALANCE_CACHE_SECONDS", default=15)

# Campaign guardrails, enforced on create, update and start (amounts in integer lamports;
# 1 SOL = 1_000_000_000). Slippage above the warning threshold is allowed with a warning,
# above the maximum it is refused.
CAMPAIGN_MAX_SLIPPAGE_BPS = env.int("CAMPAIGN_MAX_SLIPPAGE_BPS", default=1_000)
CAMPAIGN_WARN_SLIPPAGE_BPS = env.int("CAMPAIGN_WARN_SLIPPAGE_BPS", default=300)
CAMPAIGN_MIN_TRADE_LAMPORTS = env.int("CAMPAIGN_MIN_TRADE_LAMPORTS", default=1_000_000)
CAMPAIGN_MAX_TRADE_LAMPORTS = env.int("CAMPAIGN_MAX_TRADE_LAMPORTS", default=100_000_000_000)
CAMPAIGN_MIN_MAKERS = env.int("CAMPAIGN_MIN_MAKERS", default=1)
CAMPAIGN_MAX_MAKERS = env.int("CAMPAIGN_MAX_MAKERS", default=100)
# Most SOL volume one user's campaigns may trade per UTC day, all campaigns together.
CAMPAIGN_USER_DAILY_VOLUME_CAP_LAMPORTS = env.int(
    "CAMPAIGN_USER_DAILY_VOLUME_CAP_LAMPORTS", default=10_000_000_000_000
)

# Run engine: how far ahead each planner window plans (pause and stop take effect within one),
# and how long a trade keeps its maker wallet busy in the plan.
EXECUTION_PLAN_WINDOW_MS = env.int("EXECUTION_PLAN_WINDOW_MS", default=5_000)
EXECUTION_BUSY_MS = env.int("EXECUTION_BUSY_MS", default=3_000)
# Confirm sends by signatureSubscribe on the RPC's PubSub websocket (its port + 1), for those a
# first status read does not find confirmed already, polling the statuses once after
# subscribing and then every EXECUTION_CONFIRM_FALLBACK_POLL_S; off:
# poll every 50 ms as before. Polling is also the fallback when the websocket fails.
EXECUTION_CONFIRM_BY_SUBSCRIPTION = env.bool("EXECUTION_CONFIRM_BY_SUBSCRIPTION", default=True)
EXECUTION_CONFIRM_FALLBACK_POLL_S = env.float("EXECUTION_CONFIRM_FALLBACK_POLL_S", default=1.0)
# A live pool price (from the pool_prices subscriber) older than this is not used: the price
# band reads the pool over RPC instead.
EXECUTION_PRICE_FRESHNESS_S = env.float("EXECUTION_PRICE_FRESHNESS_S", default=10.0)
# How long a trade waits for its maker wallet's previous transaction before it is re-queued.
EXECUTION_WALLET_WAIT_MS = env.int("EXECUTION_WALLET_WAIT_MS", default=2_000)
# Trades of one run due within this many milliseconds of each other (distinct maker wallets)
# go out together in one task, which takes along other runs' trades that are due already, up
# to EXECUTION_BATCH_MAX trades (1: every trade on its own). A batch waits this many seconds
# for its confirmations, then leaves the rest to their own tasks.
EXECUTION_BATCH_SPREAD_MS = env.int("EXECUTION_BATCH_SPREAD_MS", default=250)
EXECUTION_BATCH_MAX = env.int("EXECUTION_BATCH_MAX", default=16)
# A Jito run's trades due within this many ms of each other share a bundle (up to 4 swaps and
# one tip; apps/execution/steps/bundle_send.py): the later ones wait at most this long.
EXECUTION_JITO_BUNDLE_SPREAD_MS = env.int("EXECUTION_JITO_BUNDLE_SPREAD_MS", default=1_500)
EXECUTION_BATCH_CONFIRM_S = env.float("EXECUTION_BATCH_CONFIRM_S", default=10.0)
# A batch's trade whose maker wallet is busy comes back in a batch up to this many times (0.25 s
# apart), then goes to its own task (which waits EXECUTION_WALLET_WAIT_MS for the wallet).
EXECUTION_BATCH_RETRIES = env.int("EXECUTION_BATCH_RETRIES", default=8)
# RPC requests one trade costs on average (blockhash, pool read, simulation, send, status
# polls, the landed transaction): with a request budget, a network carries its `all` rate
# divided by this many trades per second, shared fairly between the running campaigns.
EXECUTION_REQUESTS_PER_TRADE = env.int("EXECUTION_REQUESTS_PER_TRADE", default=6)

# Webhooks: delivery timeout, retries (exponential backoff with jitter from the base, capped),
# how many deliveries in a row may fail before a webhook is disabled, and the SSRF guard's
# development override (private, loopback and link-local receivers; never in production).
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
WEBHOOKS_MAX_ATTEMPTS = env.int("WEBHOOKS_MAX_ATTEMPTS", default=8)
WEBHOOKS_BACKOFF_BASE_SECONDS = env.float("WEBHOOKS_BACKOFF_BASE_SECONDS", default=10.0)
WEBHOOKS_BACKOFF_MAX_SECONDS = env.float("WEBHOOKS_BACKOFF_MAX_SECONDS", default=1800.0)
WEBHOOKS_DISABLE_AFTER_FAILURES = env.int("WEBHOOKS_DISABLE_AFTER_FAILURES", default=20)
WEBHOOKS_ALLOW_PRIVATE = env.bool("WEBHOOKS_ALLOW_PRIVATE", default=False)

# Second factor. The issuer names the account in authenticator apps.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="volumebot")
