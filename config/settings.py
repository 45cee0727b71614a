"""Tradewire settings: one module, every knob an environment variable with a laptop default.

Production only tightens: set DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS,
SECURE_HTTPS=true and AWS_KMS_KEY_ID (see README "Production").
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime state of a laptop install (SQLite file, local key, beat schedule); never committed.
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env_str("SECRET_KEY", "")
    if key:
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

SECURE_HTTPS = env_bool("SECURE_HTTPS", False)
if SECURE_HTTPS:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # /health is probed by load balancers over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health$"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "allauth",
    "allauth.account",
    "accounts",
    "brokers",
    "realtime",
    "watchlist",
    "bots",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat share the file: WAL lets readers run beside the writer and
    # IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, cache, rate limiter -----------------
REDIS_URL = env_str("REDIS_URL", "")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. `make run` and `make test` start an embedded Redis and set it; "
        "otherwise point it at a Redis server, e.g. redis://127.0.0.1:6379/0."
    )
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 1000, minimum=10)
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 2.0)
CHANNEL_LAYER_CONNECTIONS = env_int("CHANNEL_LAYER_CONNECTIONS", 100, minimum=2)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tw",
        "OPTIONS": {"socket_timeout": REDIS_SOCKET_TIMEOUT, "socket_connect_timeout": REDIS_SOCKET_TIMEOUT},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "realtime.layers.BlockingRedisChannelLayer",
        "CONFIG": {
            # A reconnect storm runs more layer operations at once than any sane pool has
            # connections: a bounded, blocking pool makes them queue instead of failing.
            "hosts": [{"address": REDIS_URL, "max_connections": CHANNEL_LAYER_CONNECTIONS}],
            "pool_timeout": env_float("CHANNEL_LAYER_POOL_TIMEOUT", 20.0),
            "prefix": "tw:asgi",
            "capacity": env_int("CHANNEL_CAPACITY", 200, minimum=10),
            "group_expiry": env_int("CHANNEL_GROUP_EXPIRY", 3600, minimum=60),
        },
    }
}

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Unacked tasks return to the queue after this long if their worker vanished.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300, minimum=30),
    # One Redis list per step, popped in this order (the priorities are config.celery's task routes).
    "priority_steps": [0, 3, 6, 9],
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Auth -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "optional")
if ACCOUNT_EMAIL_VERIFICATION not in {"none", "optional", "mandatory"}:
    raise ImproperlyConfigured("ACCOUNT_EMAIL_VERIFICATION must be none, optional or mandatory")
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Tradewire <no-reply@localhost>")
# API tokens: optional lifetime in days (0 = no expiry unless one is chosen per token).
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 0, minimum=0)

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its `Token` challenge makes unauthenticated requests 401, not 403.
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.ApiContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "config.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tradewire API",
    "DESCRIPTION": "Brokers, orders, portfolio and watchlist. Errors use one body: {error: {code, message, fields}}.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Feature flags ------------------------------------------------------------
BROKER_INTEGRATIONS_ENABLED = env_bool("BROKER_INTEGRATIONS_ENABLED", True)
BROKER_INTEGRATIONS_PREMIUM_ONLY = env_bool("BROKER_INTEGRATIONS_PREMIUM_ONLY", True)
ALLOWED_BROKERS = env_list("ALLOWED_BROKERS", [])  # empty = every broker
WEBSOCKET_FEATURES_ENABLED = env_bool("WEBSOCKET_FEATURES_ENABLED", True)

# --- Broker endpoints (sandboxes, proxies, simulators) --------------------------
ALPACA_API_URL = env_str("ALPACA_API_URL", "")
ALPACA_DATA_URL = env_str("ALPACA_DATA_URL", "")
# The operator's Alpaca key for watchlist quotes (MARKET_DATA_SOURCE equity=alpaca); unused otherwise.
ALPACA_DATA_KEY_ID = env_str("ALPACA_DATA_KEY_ID", "")
ALPACA_DATA_SECRET_KEY = env_str("ALPACA_DATA_SECRET_KEY", "")
SCHWAB_API_URL = env_str("SCHWAB_API_URL", "https://api.schwabapi.com")
KRAKEN_API_URL = env_str("KRAKEN_API_URL", "https://api.kraken.com")
COINBASE_API_URL = env_str("COINBASE_API_URL", "https://api.coinbase.com")
BROKER_TIMEOUT_SECONDS = env_float("BROKER_TIMEOUT_SECONDS", 15.0)

# --- Polling (Celery beat) -------------------------------------------------------
BALANCE_POLL_SECONDS = env_int("BALANCE_POLL_SECONDS", 30, minimum=1)
QUOTE_POLL_SECONDS = env_float("QUOTE_POLL_SECONDS", 1.0)
MARKET_DATA_SOURCE = env_str("MARKET_DATA_SOURCE", "paper")  # a key of watchlist.marketdata.SOURCES or a dotted path
# Exactly one beat process. Every periodic task expires, so a stopped worker never comes
# back to a pile of stale polls.
CELERY_BEAT_SCHEDULE = {
    "balances-poll": {
        "task": "brokers.tasks.balances_poll",
        "schedule": float(BALANCE_POLL_SECONDS),
        "options": {"expires": BALANCE_POLL_SECONDS * 0.9},
    },
    "paper-match": {"task": "brokers.tasks.paper_match", "schedule": 1.0, "options": {"expires": 2}},
    "orders-poll": {"task": "brokers.tasks.orders_poll", "schedule": 1.0, "options": {"expires": 2}},
    "brackets-watch": {"task": "brokers.tasks.brackets_watch", "schedule": 1.0, "options": {"expires": 2}},
    "orders-reconcile": {"task": "brokers.tasks.orders_reconcile", "schedule": 30.0, "options": {"expires": 25}},
    "bot-signals-sweep": {"task": "bots.tasks.signals_sweep", "schedule": 15.0, "options": {"expires": 10}},
    "oauth-expiry-check": {"task": "brokers.tasks.oauth_expiry_check", "schedule": 3600.0, "options": {"expires": 600}},
    "instruments-refresh": {
        "task": "brokers.tasks.instruments_refresh",
        "schedule": 86400.0,
        "options": {"expires": 3600},
    },
    "snapshots-prune": {"task": "brokers.tasks.snapshots_prune", "schedule": 3600.0, "options": {"expires": 600}},
    "quotes-poll": {
        "task": "watchlist.tasks.quotes_poll",
        "schedule": QUOTE_POLL_SECONDS,
        "options": {"expires": max(1.0, QUOTE_POLL_SECONDS)},
    },
}

# --- Credential vault -----------------------------------------------------------
AWS_KMS_KEY_ID = env_str("AWS_KMS_KEY_ID", "")
AWS_KMS_ENDPOINT_URL = env_str("AWS_KMS_ENDPOINT_URL", "")
VAULT_LOCAL_KEY = env_str("VAULT_LOCAL_KEY", "")
VAULT_LOCAL_KEY_FILE = env_str("VAULT_LOCAL_KEY_FILE", str(DATA_DIR / "vault.key"))

# --- i18n, static -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production runs `STATIC_COLLECTED=true manage.py collectstatic` and serves the hashed,
# compressed set; a laptop serves straight from the source folders.
STATIC_COLLECTED = env_bool("STATIC_COLLECTED", False)
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))) if STATIC_COLLECTED else None
WHITENOISE_USE_FINDERS = not STATIC_COLLECTED
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_COLLECTED
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A bot's webhook URL carries its secret token: redacted from every record (bots/redact.py).
    "filters": {"redact_hook_tokens": {"()": "bots.redact.HookTokenFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_hook_tokens"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # At DEBUG botocore logs KMS response bodies, which carry plaintext data keys.
        "botocore": {"level": "INFO"},
        "urllib3": {"level": "INFO"},
    },
}
