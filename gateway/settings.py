"""Settings of the off-ramp gateway.

Every value comes from the environment (read here and only here). Outside demo mode
(``GATEWAY_DEMO=1``) the secrets have no default: a missing one stops the process at start with
``ImproperlyConfigured`` instead of running with a guessable key.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from gateway.common.limits import recursion_limit_restore

# A dependency (py_ecc, through web3) raises the recursion limit to 100000 when imported, which
# lets one deeply nested request overflow the C stack (SIGSEGV). Import it now and put the
# interpreter's default back, for the web server, the workers and every management command.
recursion_limit_restore()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
DEMO = env.bool("GATEWAY_DEMO", default=False)
VAR_DIR = Path(env.str("GATEWAY_VAR_DIR", default=str(BASE_DIR / "var")))


def _required(name: str, demo_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEMO:
        return demo_default
    raise ImproperlyConfigured(f"Set the environment variable {name} (required outside demo mode).")


SECRET_KEY = _required("DJANGO_SECRET_KEY", "demo-only-insecure-secret-key-never-in-production")
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Personal data encryption keys (Fernet, comma-separated, newest first); see gateway.common.crypto.
if env.str("FIELD_ENCRYPTION_KEYS", default=""):
    FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
elif DEMO:
    from gateway.common.crypto import demo_key_from_secret

    FIELD_ENCRYPTION_KEYS = [demo_key_from_secret(SECRET_KEY)]
else:
    raise ImproperlyConfigured("Set FIELD_ENCRYPTION_KEYS (required outside demo mode).")
# Key of the keyed hashes (blind indexes) used for exact-match lookups of personal data. Kept
# apart from the encryption keys: it does not rotate with them.
BLIND_INDEX_KEY = _required("BLIND_INDEX_KEY", "demo-blind-index-" + SECRET_KEY)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEMO else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Public base URL of this service, used to build provider callback URLs (Daraja ResultURL...).
PUBLIC_BASE_URL = env.str("GATEWAY_PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "gateway.console.admin_config.ConsoleAdminConfig",  # the admin, on the console's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "gateway.ledger",
    "gateway.partners",
    "gateway.transfers",
    "gateway.webhooks",
    "gateway.treasury",
    "gateway.recipients",
    "ramps.chain",
    "ramps.liquidity",
    "ramps.payouts",
    "ramps.payouts.agents",  # app label "agents": tables and migrations as in gateway/agents
    "ramps.sandbox",
    "compliance",
    "compliance.kyc",
    "compliance.monitoring",
    "compliance.cases",
    "gateway.demo",
    "gateway.console",
]

MIDDLEWARE = [
    "gateway.common.middleware.RequestLimitsMiddleware",
    "gateway.common.control_characters.ControlCharacterMiddleware",
    "gateway.common.throttling.RateLimitHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "gateway.console.time_zones.OperatorTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

# Sign-in: django-axes counts failed passwords and failed second factors per username and per
# address, and locks either for a while (the admin asks every staff account for a TOTP code,
# gateway.console).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("SIGN_IN_LOCKOUT_MINUTES", default=15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own
AXES_RESET_ON_SUCCESS = False  # reset only after the second factor (gateway.console.services)
AXES_LOCKOUT_TEMPLATE = "admin/console/locked_out.html"
AXES_VERBOSE = False
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Off-ramp gateway")
# The console's dashboard figures are shared for this long (0: computed on every view).
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=60)
# Operators see times and dashboard days in their own zone (their preference), by default this
# one (an IANA name); the database keeps UTC.
CONSOLE_TIME_ZONE = env.str("CONSOLE_TIME_ZONE", default="UTC")
# A dashboard view recounts at most this many changed quarter hours (the newest) before it
# reads the summary; the beat recounts the rest every minute.
DASHBOARD_REFRESH_QUARTER_HOURS = env.int("DASHBOARD_REFRESH_QUARTER_HOURS", default=64)

ROOT_URLCONF = "gateway.urls"
WSGI_APPLICATION = "gateway.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "gateway" / "templates"],
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

# PostgreSQL in production and in the tests; SQLite only as the demo's embedded default.
_default_database = f"sqlite:///{VAR_DIR / 'demo.sqlite3'}" if DEMO else ""
_database_url = env.str("DATABASE_URL", default=_default_database)
if not _database_url:
    raise ImproperlyConfigured("Set DATABASE_URL (e.g. postgres://user@127.0.0.1:5432/gateway).")
DATABASES = {"default": env.db_url_config(_database_url)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server, worker and beat share one file: serialise writers, wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("GATEWAY_MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEMO and not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "gateway.partners.authentication.PartnerAPIKeyAuthentication"
    ],
    "DEFAULT_PERMISSION_CLASSES": ["gateway.partners.authentication.IsPartner"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["gateway.common.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "gateway.common.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Per-partner request rate (gateway.common.throttling): RateLimit-* headers on every answer.
    "DEFAULT_THROTTLE_CLASSES": ["gateway.common.throttling.PartnerRateThrottle"],
    "COERCE_DECIMAL_TO_STRING": True,
    # One timestamp format in every answer: RFC 3339, UTC, always with microseconds.
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
}

# Request limits for every endpoint (gateway.common.middleware): body bytes (multipart uploads
# have their own, larger bound) and JSON nesting depth. Larger bodies get 413, deeper ones 400.
REQUEST_MAX_BODY_BYTES = env.int("REQUEST_MAX_BODY_BYTES", default=1024 * 1024)
REQUEST_MAX_UPLOAD_BYTES = env.int("REQUEST_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
REQUEST_MAX_JSON_DEPTH = env.int("REQUEST_MAX_JSON_DEPTH", default=64)
# Partner API rate limit: requests per window per partner (Partner.api_requests_per_minute
# overrides it), counted in the cache below; share it (Redis) when several processes serve.
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=600)
API_RATE_LIMIT_WINDOW_SECONDS = env.int("API_RATE_LIMIT_WINDOW_SECONDS", default=60)
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
DATA_UPLOAD_MAX_MEMORY_SIZE = max(REQUEST_MAX_BODY_BYTES, 2621440)

SPECTACULAR_SETTINGS = {
    "TITLE": "Off-ramp gateway API",
    "DESCRIPTION": (
        "Quote, create and follow stablecoin-to-local-money remittances. Amounts are decimal "
        "strings, errors are RFC 9457 problem details, POST /transfers takes an Idempotency-Key. "
        "Rules beyond the schema, on every operation: no string (path, query, header, body) "
        "holds a control character, but TAB, LF and CR in body text (400 control-character)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The webhooks section (the events partners receive) is an OpenAPI 3.1 feature.
    "OAS_VERSION": "3.1.0",
    # Every partner operation: problems as application/problem+json, rate-limit headers, 429.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "gateway.common.throttling_schema.partner_operations_schema_hook"],
    "WEBHOOKS": ["gateway.transfers.webhook_schema.transfer_event", "gateway.webhooks.schema.ping",
                 "gateway.webhooks.schema.endpoint_disabled"],
}

# Celery: Redis in production and tests. The demo needs no broker server: its embedded default
# is kombu's SQLAlchemy transport on a SQLite file (gateway.demo.broker says why; kombu's
# filesystem transport lost messages and stopped the worker with JSONDecodeError).
_demo_broker = DEMO and not env.str("CELERY_BROKER_URL", default="")
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL",
    default=f"sqlite:///{VAR_DIR / 'broker.sqlite3'}" if DEMO else "redis://127.0.0.1:6379/0",
)
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if _demo_broker:
    CELERY_BROKER_TRANSPORT = "gateway.demo.broker:Transport"
    # The embedded broker has no fan-out: no remote control, gossip or mingle between workers.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
elif CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CHAIN_POLL_SECONDS = env.float("CHAIN_POLL_SECONDS", default=2.0)
TRANSFER_REDRIVE_SECONDS = env.float("TRANSFER_REDRIVE_SECONDS", default=15.0)
CELERY_BEAT_SCHEDULE = {
    "chains-poll": {
        "task": "gateway.transfers.tasks.chains_poll",
        "schedule": CHAIN_POLL_SECONDS,
    },
    "transfers-redrive": {
        "task": "gateway.transfers.tasks.transfers_redrive",
        "schedule": TRANSFER_REDRIVE_SECONDS,
    },
    "webhooks-redrive": {
        "task": "gateway.webhooks.tasks.webhooks_redrive",
        "schedule": TRANSFER_REDRIVE_SECONDS,
    },
    "liquidity-reservations-expire": {"task": "liquidity.reservations_expire", "schedule": 60.0},
    "treasury-float-reservations-expire": {"task": "treasury.float_reservations_expire",
                                           "schedule": 60.0},
    "treasury-refills-propose": {"task": "treasury.refills_propose", "schedule": 300.0},
    "sanctions-refresh": {"task": "compliance.tasks.sanctions_refresh",
                          "schedule": env.float("SANCTIONS_REFRESH_SECONDS",
                                                default=6 * 3600.0)},
    "agents-uncollected": {"task": "ramps.payouts.agents.tasks.redemptions_uncollected_sweep",
                           "schedule": 300.0},
    "treasury-reconcile": {"task": "treasury.reconcile",
                           "schedule": env.float("TREASURY_RECONCILE_SECONDS", default=3600.0)},
    "kyc-erasures-complete": {"task": "compliance.kyc.tasks.customer_erasures_complete",
                              "schedule": 6 * 3600.0},
    "webhook-events-cleanup": {"task": "gateway.webhooks.tasks.webhook_events_cleanup",
                               "schedule": 3600.0},
    "console-dashboard-summary": {"task": "console.dashboard_summary_refresh", "schedule": 60.0},
}

# Outbound HTTP calls (providers, venues, webhooks) never wait longer than this.
OUTBOUND_HTTP_TIMEOUT_SECONDS = env.float("OUTBOUND_HTTP_TIMEOUT_SECONDS", default=10.0)
# Webhooks (gateway.webhooks). Endpoint URLs: https and public addresses only, outside demo mode.
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=not DEMO)
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=DEMO)
WEBHOOK_MAX_ENDPOINTS_PER_PARTNER = env.int("WEBHOOK_MAX_ENDPOINTS_PER_PARTNER", default=10)
# Retries: attempt n waits BASE * FACTOR**(n-1) seconds (at most MAX_DELAY), +/- JITTER; the
# defaults make 12 attempts over about 22.5 hours.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=12)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=5.0)
WEBHOOK_RETRY_FACTOR = env.float("WEBHOOK_RETRY_FACTOR", default=3.0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env.float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", default=6 * 3600.0)
WEBHOOK_RETRY_JITTER = env.float("WEBHOOK_RETRY_JITTER", default=0.2)
# An endpoint with no success for this long is disabled (a 410 Gone disables it at once).
WEBHOOK_ENDPOINT_DISABLE_AFTER_SECONDS = env.float("WEBHOOK_ENDPOINT_DISABLE_AFTER_SECONDS",
                                                   default=3 * 86400.0)
# A claimed attempt not recorded within this lease is taken over by another worker.
WEBHOOK_CLAIM_SECONDS = env.float("WEBHOOK_CLAIM_SECONDS", default=60.0)
# A later event of a transfer waits at most this long behind an earlier one being retried.
WEBHOOK_ORDER_MAX_WAIT_SECONDS = env.float("WEBHOOK_ORDER_MAX_WAIT_SECONDS", default=300.0)
# Sender threads per worker process; attempts in flight per endpoint (a slow endpoint holds no
# more threads than this); deliveries a thread sends for one endpoint before it lets go.
WEBHOOK_SENDER_THREADS = env.int("WEBHOOK_SENDER_THREADS", default=16)
WEBHOOK_ENDPOINT_MAX_IN_FLIGHT = env.int("WEBHOOK_ENDPOINT_MAX_IN_FLIGHT", default=4)
WEBHOOK_DRAIN_LIMIT = env.int("WEBHOOK_DRAIN_LIMIT", default=200)
WEBHOOK_REDRIVE_LIMIT = env.int("WEBHOOK_REDRIVE_LIMIT", default=500)
# Secret rotation: how long the previous secret also signs (default, and the most allowed).
WEBHOOK_SECRET_GRACE_SECONDS = env.int("WEBHOOK_SECRET_GRACE_SECONDS", default=86400)
WEBHOOK_SECRET_GRACE_MAX_SECONDS = env.int("WEBHOOK_SECRET_GRACE_MAX_SECONDS", default=7 * 86400)
# Events stay in GET /api/v1/events (and their deliveries in the lists) this long.
WEBHOOK_EVENT_RETENTION_DAYS = env.int("WEBHOOK_EVENT_RETENTION_DAYS", default=30)
# The transfer API turns a recipient_id into the recipient fields of a new transfer with this
# function (keyword arguments partner and recipient_id); saved recipients depend on transfers
# (their quotes, corridors), so transfers name it here instead of importing it.
TRANSFER_SAVED_RECIPIENT_RESOLVER = "gateway.recipients.services.recipient_for_transfer"
# A transfer left in a non-final state longer than this is re-driven by the periodic task.
TRANSFER_STUCK_AFTER_SECONDS = env.int("TRANSFER_STUCK_AFTER_SECONDS", default=30)
# A transfer with an advance already queued is not queued again for this long (the queued task
# runs whatever the transfer then needs); a lost message is re-driven once it has passed.
TRANSFER_ADVANCE_QUEUED_SECONDS = env.int("TRANSFER_ADVANCE_QUEUED_SECONDS", default=120)
# Chain signer (sweeps and refunds), kept apart from the watcher, which never holds a key:
# the default signer opens an encrypted keystore (hot wallet) and an encrypted HD mnemonic
# (deposit-address keys); CHAIN_SIGNER names another (e.g. an external signing service).
CHAIN_SIGNER = env.str("CHAIN_SIGNER", default="")
CHAIN_SIGNER_KEYSTORE_PATH = env.str("CHAIN_SIGNER_KEYSTORE_PATH", default="")
CHAIN_SIGNER_KEYSTORE_PASSWORD = env.str("CHAIN_SIGNER_KEYSTORE_PASSWORD", default="")
CHAIN_SIGNER_MNEMONIC_ENCRYPTED = env.str("CHAIN_SIGNER_MNEMONIC_ENCRYPTED", default="")
CHAIN_SIGNER_ACCOUNT = env.int("CHAIN_SIGNER_ACCOUNT", default=0)
# Exchange wallets (omnibus/hot) on any EVM chain: a refund to one is held for an operator
# instead of sent (more can be added per chain in the admin).
CHAIN_EXCHANGE_ADDRESSES = env.list("CHAIN_EXCHANGE_ADDRESSES", default=[])
# Build the signer when a process starts: a misconfigured one stops it (ImproperlyConfigured).
# Off only where nothing is signed (the image build's collectstatic) and in the demo's own
# process, which writes the keystore its workers then open.
CHAIN_SIGNER_CHECK_AT_START = env.bool("CHAIN_SIGNER_CHECK_AT_START", default=not DEMO)
# Sanctions screening: name-match score thresholds (0..1) for review and block, where fresh
# lists are downloaded from, and how far a refresh may shrink a list before it is refused.
SANCTIONS_REVIEW_THRESHOLD = env.float("SANCTIONS_REVIEW_THRESHOLD", default=0.85)
SANCTIONS_BLOCK_THRESHOLD = env.float("SANCTIONS_BLOCK_THRESHOLD", default=0.95)
SANCTIONS_SOURCE_URLS = {
    "ofac-sdn": env.list("SANCTIONS_OFAC_SDN_URLS",
                         default=["https://www.treasury.gov/ofac/downloads/sdn.csv"]),
    "un-consolidated": env.list(
        "SANCTIONS_UN_URLS",
        default=["https://scsanctions.un.org/resources/xml/en/consolidated.xml"]),
}
SANCTIONS_REFRESH_MIN_RATIO = env.float("SANCTIONS_REFRESH_MIN_RATIO", default=0.9)
if DEMO and not env.str("SANCTIONS_OFAC_SDN_URLS", default=""):
    SANCTIONS_SOURCE_URLS = {}  # the demo works offline on the lists shipped in compliance/data
SANCTIONS_DOWNLOAD_TIMEOUT_SECONDS = env.float("SANCTIONS_DOWNLOAD_TIMEOUT_SECONDS", default=60.0)
# Re-screening after a list changes, comma-separated hooks run in order: active customers,
# transfers in flight and saved recipients ("" turns it off).
SANCTIONS_RESCREEN_HOOK = env.str(
    "SANCTIONS_RESCREEN_HOOK",
    default="compliance.cases.rescreen.customers_rescreen,"
            "gateway.transfers.services.rescreen.transfers_rescreen,"
            "gateway.recipients.rescreen.recipients_rescreen")
# Cash pickup: how redemption codes reach recipients (dotted path of an SMS notifier), the key
# they are derived with (empty: derived from DJANGO_SECRET_KEY), and brute-force limits on
# failed code lookups (per staff account, per agent, per network API key, in a window).
# Whoever acts on cash pickup's facts (a code redeemed or left uncollected): the transfers.
CASH_PICKUP_OWNER = "gateway.transfers.services.cash_pickup.TransferCashPickupOwner"
AGENTS_SMS_NOTIFIER = env.str("AGENTS_SMS_NOTIFIER",
                              default="ramps.payouts.agents.notifier.ConsoleSmsNotifier")
AGENTS_REDEMPTION_CODE_KEY = env.str("AGENTS_REDEMPTION_CODE_KEY", default="")
AGENTS_LOOKUP_FAILURES_PER_STAFF = env.int("AGENTS_LOOKUP_FAILURES_PER_STAFF", default=5)
AGENTS_LOOKUP_FAILURES_PER_AGENT = env.int("AGENTS_LOOKUP_FAILURES_PER_AGENT", default=20)
AGENTS_LOOKUP_FAILURES_PER_API_KEY = env.int("AGENTS_LOOKUP_FAILURES_PER_API_KEY", default=20)
AGENTS_LOOKUP_FAILURE_WINDOW_SECONDS = env.int("AGENTS_LOOKUP_FAILURE_WINDOW_SECONDS",
                                               default=900)
AGENTS_LOOKUP_LOCKOUT_SECONDS = env.int("AGENTS_LOOKUP_LOCKOUT_SECONDS", default=1800)
# KYC documents: largest upload taken (bytes); due-diligence records of an erased customer are
# kept this many days after its last activity; status changes reach partners through this hook.
KYC_DOCUMENT_MAX_BYTES = env.int("KYC_DOCUMENT_MAX_BYTES", default=5 * 1024 * 1024)
KYC_RETENTION_DAYS = env.int("KYC_RETENTION_DAYS", default=5 * 365)
KYC_STATUS_HOOK = "gateway.webhooks.customers.customer_status_event"
# Compliance: travel-rule threshold (IVMS101 data at or above it) and monitoring score cut-offs.
TRAVEL_RULE_THRESHOLD_USD = env.str("TRAVEL_RULE_THRESHOLD_USD", default="1000")
MONITORING_REVIEW_SCORE = env.int("MONITORING_REVIEW_SCORE", default=50)
MONITORING_REJECT_SCORE = env.int("MONITORING_REJECT_SCORE", default=100)
# Liquidity: order books and FX reference rates older than these are not priced from; firm
# quotes hold venue depth at most this long; an unknown order is looked up for this long.
LIQUIDITY_BOOK_MAX_AGE_SECONDS = env.int("LIQUIDITY_BOOK_MAX_AGE_SECONDS", default=30)
LIQUIDITY_FX_MAX_AGE_SECONDS = env.int("LIQUIDITY_FX_MAX_AGE_SECONDS", default=300)
LIQUIDITY_FIRM_QUOTE_MAX_SECONDS = env.int("LIQUIDITY_FIRM_QUOTE_MAX_SECONDS", default=120)
LIQUIDITY_UNKNOWN_ORDER_GRACE_SECONDS = env.int("LIQUIDITY_UNKNOWN_ORDER_GRACE_SECONDS",
                                                default=60)
# Quotes are firm for this long; a client cannot ask for longer.
QUOTE_TTL_SECONDS = env.int("QUOTE_TTL_SECONDS", default=300)
# A transfer waits this long for its deposit before it expires.
TRANSFER_DEPOSIT_WINDOW_SECONDS = env.int("TRANSFER_DEPOSIT_WINDOW_SECONDS", default=3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Callback URLs carry secrets: taken out of every line (gateway.common.log_redaction).
    "filters": {"secret_paths": {"()": "gateway.common.log_redaction.SecretPathFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["secret_paths"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "web3": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "ccxt": {"level": "WARNING"},
    },
}
