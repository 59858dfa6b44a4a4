"""Test settings: the product's settings with a fast hasher, eager tasks, a private cache."""

from autolettura.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
LOGGING = {"version": 1, "disable_existing_loggers": False}
AUTOLETTURA_PAGOPA_CREDITOR_FISCAL_CODE = "80012345678"
AUTOLETTURA_PAGOPA_SEGREGATION_CODE = "12"
# Nothing listens there: no test reaches the real checkout; those that pay set a stand-in
# (tests/payments/fakes.py).
AUTOLETTURA_PAGOPA_CHECKOUT_URL = "http://127.0.0.1:9/checkout/ec/v1/carts"
# Pages name the static files as they are in the apps' folders, without `collectstatic`;
# tests/portal/test_static_files.py collects them as production does and checks that too.
STATIC_FILES_HASHED = False
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
