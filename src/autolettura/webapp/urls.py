from django.urls import path

from autolettura.webapp import views

app_name = "webapp"

urlpatterns = [
    path("manifest.webmanifest", views.manifest, name="manifest"),
    # At the root, so that the service worker's scope is the whole site.
    path("sw.js", views.service_worker, name="service_worker"),
    path("senza-connessione/", views.offline, name="offline"),
]
