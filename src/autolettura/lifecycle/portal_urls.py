"""The customer's rights in the Sportello Online, under /area-clienti/i-miei-dati/."""

from django.urls import path

from autolettura.lifecycle import views

app_name = "rights"

urlpatterns = [
    path("", views.rights_page, name="page"),
    path("scarica/", views.export_request, name="export"),
    path("scarica/<str:token>/dati.zip", views.export_download, name="download"),
    path("chiudi-account/", views.account_close, name="close"),
]
