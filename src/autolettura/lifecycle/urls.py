"""The data's lifecycle in the back office, under /backoffice/."""

from django.urls import path

from autolettura.lifecycle import views

app_name = "lifecycle"

urlpatterns = [
    path("clienti/<str:customer_code>/accessi/", views.customer_accesses, name="accesses"),
]
