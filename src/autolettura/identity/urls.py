"""SPID and CIE sign-in, under the portal's sign-in page (/accedi/)."""

from django.urls import path

from autolettura.identity import views

app_name = "identity"

urlpatterns = [
    path("spid/", views.spid_start, name="spid"),
    path("cie/", views.cie_start, name="cie"),
    path("spid/acs/", views.acs, name="acs"),
    path("spid/esci/", views.slo, name="slo"),
    path("spid/collega/", views.link, name="link"),
    path("spid/metadata/", views.spid_metadata, name="spid_metadata"),
    path("cie/metadata/", views.cie_metadata, name="cie_metadata"),
]
