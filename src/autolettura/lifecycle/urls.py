"""The data's lifecycle in the back office, under /backoffice/."""

from django.urls import path

from autolettura.lifecycle import views

app_name = "lifecycle"

urlpatterns = [
    path("clienti/<str:customer_code>/accessi/", views.customer_accesses, name="accesses"),
    path("chiusure-account/", views.erasure_requests, name="erasures"),
    path("chiusure-account/<int:pk>/esegui/", views.erasure_carry_out, name="erasure_do"),
]
