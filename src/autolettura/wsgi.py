import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autolettura.settings")
application = get_wsgi_application()


def _warm_up() -> None:
    """Import the URLconf, and with it every view and API schema, and read the translation
    catalogs of every language, now.

    gunicorn loads this module once and forks its workers from it (preload_app): done here,
    the imports and catalogs are shared by every worker, and a new worker (at start, or
    replaced after max_requests) does not spend its first request on them (about 0.15 s for
    the imports, measured by benchmarks/api_load.py; 12 ms more for the catalogs, which the
    locale middleware read on the first request).
    """
    from importlib import import_module

    from django.conf import settings
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache
    from django.db import connections
    from django.template import engines
    from django.urls import get_resolver
    from django.utils import translation
    from django.utils.module_loading import import_string

    get_resolver().url_patterns  # noqa: B018 - reading it imports the URLconf
    engines.all()  # the template engines, with their tag libraries
    # What the middleware imports by name on a first request: the messages' storage, the
    # sessions' engine and serializer, the caches and their clients (made, not connected:
    # they connect on first use, in the worker). A Redis cache's client imports redis-py,
    # about a fifth of a second: under load it was a fifth of a submission's CPU in
    # benchmarks/api_load.py, once for every worker replaced after max_requests.
    for path in (settings.MESSAGE_STORAGE, settings.SESSION_SERIALIZER):
        import_string(path)
    import_module(settings.SESSION_ENGINE)
    for alias in settings.CACHES:
        cache = caches[alias]
        if isinstance(cache, RedisCache):
            cache._cache  # type: ignore[attr-defined]  # noqa: B018 - reading it makes the client
    for code, _name in settings.LANGUAGES:
        with translation.override(code):  # activating a language reads its catalogs
            pass
    # Workers must not inherit a connection an import may have opened.
    connections.close_all()


_warm_up()
