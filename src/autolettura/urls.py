from django.contrib import admin
from django.urls import include, path

from autolettura.api import api
from autolettura.health import healthz, livez
from autolettura.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Liveness: the process answers (200), nothing else is touched: for a supervisor.
    path("livez", livez),
    # Readiness: the database and the broker answer (200) or not (503): for load balancers.
    path("healthz", healthz),
    # Prometheus: AUTOLETTURA_METRICS_TOKEN, or this machine only.
    path("metrics", metrics_view),
    # The operators' back office: search, counter, review queue, faults, dashboard.
    path("backoffice/", include("autolettura.backoffice.urls")),
    # Who looked at a customer's data (administrators).
    path("backoffice/", include("autolettura.lifecycle.urls")),
    # The utility's readers: the day's round on a phone, kept for use without signal.
    path("letturisti/", include("autolettura.rounds.urls")),
    # Providers' webhooks: the phone line, WhatsApp, SMS.
    path("channels/", include("autolettura.channels.urls")),
    # The customer's rights: their data export, closing their account (GDPR).
    path("area-clienti/i-miei-dati/", include("autolettura.lifecycle.portal_urls")),
    # The Sportello Online as an app: its manifest and service worker, at the root.
    path("", include("autolettura.webapp.urls")),
    # SPID and CIE sign-in to the Sportello Online, beside its sign-in page.
    path("accedi/", include("autolettura.identity.urls")),
    # The Sportello Online: public pages at the root, the customer area under /area-clienti/.
    path("", include("autolettura.portal.urls")),
]

# A database error outside a view (in a middleware) is a 503 "try again", as in a view.
handler500 = "autolettura.unavailable.server_error"
