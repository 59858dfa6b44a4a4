from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from autolettura.api import api


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("healthz", healthz),
    # The operators' back office: search, counter, review queue, faults, dashboard.
    path("backoffice/", include("autolettura.backoffice.urls")),
    # Providers' webhooks: the phone line, WhatsApp, SMS.
    path("channels/", include("autolettura.channels.urls")),
    # The Sportello Online: public pages at the root, the customer area under /area-clienti/.
    path("", include("autolettura.portal.urls")),
]
