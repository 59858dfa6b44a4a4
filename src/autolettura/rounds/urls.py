"""The reader's app, under /letturisti/ (its manifest and worker scoped to it)."""

from django.urls import path

from autolettura.rounds import views

app_name = "rounds"

urlpatterns = [
    path("", views.round_page, name="round"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service_worker"),
    path("stato/", views.session_state, name="state"),
    path("visite/<int:attempt_id>/lettura/", views.visit_read, name="read"),
    path("visite/<int:attempt_id>/mancata/", views.visit_failed, name="failed"),
]
