"""Qenergyz settings: one module, read from the environment, failing loud.

Embedded defaults (no environment at all, DEBUG on): SQLite, in-memory channel layer and cache,
Celery tasks run eagerly. A real deployment sets DATABASE_URL, REDIS_URL, CELERY_BROKER_URL,
SECRET_KEY and ALLOWED_HOSTS; with DEBUG off a missing SECRET_KEY stops start-up.
"""

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

if "SECRET_KEY" in env:
    SECRET_KEY = env.str("SECRET_KEY")
elif DEBUG:
    # Only ever used on a developer's machine: DEBUG is off everywhere else.
    SECRET_KEY = "insecure-development-key-never-used-with-debug-off"  # noqa: S105
else:
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",  # runserver serves the ASGI application (HTTP and websockets)
    "modeltranslation",  # before the admin, as it asks: translated reference-data names
    "qenergyz.apps.QenergyzAdminConfig",  # the admin, as an OTP site (MFA required)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc assets, served by us (no CDN)
    "django_prometheus",
    "django_celery_beat",
    "channels",
    "apps.accounts",
    "apps.compliance",
    "apps.trading",
    "apps.risk",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # first: whole-request latency
    "qenergyz.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise (static files keep their long cache); its response phase runs after
    # every inner middleware's, so redirects and refusals get the headers too.
    "qenergyz.caching.CacheHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "qenergyz.query_guard.PlainQueryMiddleware",  # after the locale: its 400 is translated
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.accounts.middleware.SessionIdleMiddleware",  # before OTP wraps request.user
    "django_otp.middleware.OTPMiddleware",
    # Before the accounts' middleware: the MFA gate and the expired-session redirect answer
    # htmx requests (request.htmx) with HX-Redirect.
    "django_htmx.middleware.HtmxMiddleware",
    "apps.accounts.middleware.HtmxLoginRedirectMiddleware",
    "apps.accounts.middleware.UserPreferencesMiddleware",
    "apps.accounts.middleware.MFARequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # After the others (latency by view, responses by status), but before axes, so that it
    # sees axes' lockout responses too.
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "qenergyz.urls"
WSGI_APPLICATION = "qenergyz.wsgi.application"
ASGI_APPLICATION = "qenergyz.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.accounts.context_processors.portal",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = (
    False  # one transaction per business operation, in services
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Take the write lock when a transaction starts, so that read-then-write operations (the
    # audit chain's head, a position) serialise instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every request runs in a thread of its own, so persistent connections pile up
    # one per request thread until PostgreSQL refuses more ("too many clients already"): each
    # process borrows from a bounded psycopg pool instead, and a request beyond it waits up to
    # DB_POOL_TIMEOUT seconds for a connection. DB_POOL_MAX_SIZE=0 turns the pool off
    # (persistent connections, DB_CONN_MAX_AGE, as before).
    DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=10)
    if DB_POOL_MAX_SIZE > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses a pool with persistent ones
        # Added to the URL's own options (?sslmode=... stays).
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(env.int("DB_POOL_MIN_SIZE", default=2), DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("CHANNELS_PREFIX", default="qz")},
        }
    }
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

MQTT_URL = env.str("MQTT_URL", default="")

# --- Celery ------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
# Without a broker every task runs in-process, at once: the embedded default for `make run`/tests.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"apps.risk.*": {"queue": "risk"}, "apps.iot.*": {"queue": "iot"}}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Workers log through LOGGING below (JSON lines with the task's request id), not Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Four eyes (apps.trading.services) -----------------------------------------------------------
# A desk with no DeskTradingPolicy still has four eyes: a trade whose notional, converted into this
# currency, exceeds this threshold waits for a second person. A bad value stops start-up.
try:
    DEFAULT_APPROVAL_THRESHOLD = Decimal(env.str("DEFAULT_APPROVAL_THRESHOLD", default="1000000"))
except InvalidOperation as exc:
    raise ImproperlyConfigured("DEFAULT_APPROVAL_THRESHOLD must be a decimal number.") from exc
if not DEFAULT_APPROVAL_THRESHOLD.is_finite() or DEFAULT_APPROVAL_THRESHOLD < 0:
    raise ImproperlyConfigured("DEFAULT_APPROVAL_THRESHOLD must be a number of 0 or more.")
DEFAULT_APPROVAL_CURRENCY = env.str("DEFAULT_APPROVAL_CURRENCY", default="EUR")
if not re.fullmatch(r"[A-Z]{3}", DEFAULT_APPROVAL_CURRENCY):
    raise ImproperlyConfigured("DEFAULT_APPROVAL_CURRENCY must be a currency code such as EUR.")

# --- Metrics (qenergyz.metrics) ----------------------------------------------------------------
# /metrics answers only "Authorization: Bearer <METRICS_TOKEN>"; unset, it is a 404 for all.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Celery workers serve their own metrics (same token) on this port plus their pool process's
# number; 0 (the default) serves none.
CELERY_METRICS_PORT = env.int("CELERY_METRICS_PORT", default=0)
CELERY_METRICS_ADDRESS = env.str("CELERY_METRICS_ADDRESS", default="0.0.0.0")  # noqa: S104
# Queries counted by django-prometheus's wrappers of the same backends (the pool option stays).
_METRICS_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
DATABASES["default"]["ENGINE"] = _METRICS_ENGINES.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)

# --- Authentication, MFA, lockout --------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first, so a locked-out login never reaches the others
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# Progressive: 15 minutes (AXES_COOLOFF_MINUTES) at the first lockout, 1 hour at the second
# and 24 hours from the third within a day, per account and address (apps.accounts.lockout).
AXES_COOLOFF_TIERS = (
    timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15)),
    timedelta(hours=1),
    timedelta(hours=24),
)
AXES_COOLOFF_TIME = "apps.accounts.lockout.lockout_cool_off"
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # the lockouts counted for the tiers
# An attempt while locked out neither restarts the cool-off nor counts as another lockout:
# the tiers lengthen it instead.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_IPWARE_PROXY_COUNT = env.int("PROXY_COUNT", default=0)

OTP_TOTP_ISSUER = "Qenergyz"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # no one reads a device's secret key in the admin

API_TOKEN_LIFETIME = timedelta(days=env.int("API_TOKEN_LIFETIME_DAYS", default=90))

# --- REST API ----------------------------------------------------------------------------------
# The largest JSON or form body the API parses (qenergyz.parsers): a bulk of 1,000 trades is
# about 0.4 MB written compactly, so 2 MiB leaves room for indentation and optional terms.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2 * 1024 * 1024)


def _throttle_rate(name: str, default: str) -> str:
    """A request rate from the environment, such as '1200/min'; a malformed one stops start-up
    (it would otherwise fail every API request)."""
    rate = env.str(name, default=default).strip()
    count, _slash, period = rate.partition("/")
    periods = {"s", "sec", "m", "min", "h", "hour", "d", "day"}
    if not (count.isascii() and count.isdigit() and int(count) > 0 and period in periods):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as '1200/min' (per s, min, hour or day), not {rate!r}."
        )
    return rate


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF reads these bodies itself, past Django's upload limit: these parsers hold their own.
    "DEFAULT_PARSER_CLASSES": [
        "qenergyz.parsers.LimitedJSONParser",
        "qenergyz.parsers.LimitedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # JSON only; the browsable API (HTML forms over every endpoint) on a developer's machine.
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        *(["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "qenergyz.pagination.SafeCursorPagination",
    "PAGE_SIZE": 100,
    "COERCE_DECIMAL_TO_STRING": True,
    # Request rates (qenergyz.throttles), counted in the default cache (Redis when REDIS_URL is
    # set). A desk's scripts and the portal's users stay far below the per-client rate; a bulk
    # request books up to 1,000 trades and a risk run keeps a worker busy for seconds, hence
    # their tighter scopes. Anonymous requests (refused ones included) are counted by IP.
    "DEFAULT_THROTTLE_CLASSES": [
        "qenergyz.throttles.AnonThrottle",
        "qenergyz.throttles.UserThrottle",
        "qenergyz.throttles.ScopedWriteThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": _throttle_rate("API_THROTTLE_USER", "1200/min"),
        "anon": _throttle_rate("API_THROTTLE_ANON", "60/min"),
        "bulk": _throttle_rate("API_THROTTLE_BULK", "30/min"),
        "risk_run": _throttle_rate("API_THROTTLE_RISK_RUN", "30/hour"),
    },
    # Clients' addresses for the anonymous rate: the proxies' X-Forwarded-For entry, as axes.
    "NUM_PROXIES": env.int("PROXY_COUNT", default=0),
    "EXCEPTION_HANDLER": "qenergyz.throttles.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Qenergyz API",
    "DESCRIPTION": "Energy trading, risk and compliance.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The errors every operation shares (401, 403, 429, and 400/404/413 where they apply).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "qenergyz.api_errors.add_error_responses",
    ],
    # The schema maps every endpoint: only signed-in users and token holders may read it.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI (/api/docs/) and Redoc (/api/redoc/) from the sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status` (or `deal_type`) of their own choices: name each set once.
    "ENUM_NAME_OVERRIDES": {
        "TradeStatusEnum": "apps.trading.models.trades.TradeStatus",
        "DealTypeEnum": "apps.trading.models.trades.DealType",
        "OrderStatusEnum": "apps.trading.models.orders.OrderStatus",
        "RiskRunStatusEnum": "apps.risk.models.RunStatus",
        "LimitVersionStatusEnum": "apps.risk.models.VersionStatus",
        "LimitCheckStatusEnum": "apps.risk.models.CheckStatus",
    },
}

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ar", _("Arabic"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "qz_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Tests and runserver find files where they are; the manifest is built by `collectstatic`.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_MANIFEST_STRICT = not DEBUG

# --- Security ----------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)  # absolute, from sign-in
# A session without a request by its user for this long ends (apps.accounts.middleware).
SESSION_IDLE_TIMEOUT = timedelta(minutes=env.int("SESSION_IDLE_MINUTES", default=30))
CSRF_COOKIE_HTTPONLY = False  # htmx reads no cookie: the token travels in hx-headers on <body>
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The probes answer plain http: the container's healthcheck calls them from inside, past
    # the TLS proxy (the host name is still checked against ALLOWED_HOSTS). So does /metrics,
    # for a Prometheus inside the network (its bearer token is checked all the same).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # __Host-: the browser accepts them only over https, for this exact host and path "/", so
    # no subdomain or plain-http page can set or shadow them. (htmx sends the CSRF token from
    # the page, hx-headers on <body>, never reads this cookie.)
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    LANGUAGE_COOKIE_SECURE = True

# --- Logging -----------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "qenergyz.requestid.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "plain" if DEBUG else "json",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # One line per request comes from qenergyz.request; Django's own would repeat it.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
