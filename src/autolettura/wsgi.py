import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autolettura.settings")
application = get_wsgi_application()


def _warm_up() -> None:
    """Import the URLconf, and with it every view and API schema, now.

    gunicorn loads this module once and forks its workers from it (preload_app): done here,
    the imports are shared by every worker, and a new worker (at start, or replaced after
    max_requests) does not spend its first request on them (about 0.15 s, measured by
    benchmarks/api_load.py).
    """
    from django.db import connections
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - reading it imports the URLconf
    # Workers must not inherit a connection an import may have opened.
    connections.close_all()


_warm_up()
