"""The back office, under /backoffice/."""

from django.urls import path

from autolettura.backoffice import views

app_name = "backoffice"

urlpatterns = [
    path("", views.home, name="home"),
    path("accedi/", views.LoginView.as_view(), name="login"),
    path("esci/", views.LogoutView.as_view(), name="logout"),
    path("utenze/<str:supply_code>/", views.supply_detail, name="supply"),
    path(
        "utenze/<str:supply_code>/bollette/<int:year>/<int:sequence>.pdf",
        views.bill_pdf,
        name="bill_pdf",
    ),
    path("sportello/", views.counter_entry, name="counter"),
    path("letture/<str:receipt>/ricevuta/", views.receipt, name="receipt"),
    path("letture/<str:receipt>/foto/", views.reading_photo, name="photo"),
    path("letture/<str:receipt>/revisione/", views.review_decide, name="review_decide"),
    path("letture/<str:receipt>/annulla/", views.reading_void_view, name="void"),
    path("revisione/", views.review_queue, name="review_queue"),
    path("guasti/", views.fault_queue, name="faults"),
    path("guasti/<str:ticket>/avanza/", views.fault_advance, name="fault_advance"),
    path("guasti/<str:ticket>/risolvi/", views.fault_resolve, name="fault_resolve"),
    path("guasti/<str:ticket>/foto/", views.fault_photo, name="fault_photo"),
    path("obblighi/", views.obligations, name="obligations"),
    path("perdite/", views.leak_alerts, name="leaks"),
    path("perdite/<int:alert_id>/chiudi/", views.leak_alert_close, name="leak_close"),
    path("cruscotto/", views.dashboard, name="dashboard"),
    path("cruscotto/<slug:slug>.csv", views.dashboard_csv, name="dashboard_csv"),
    path("pagamenti/", views.payments, name="payments"),
    path("giri/", views.round_day, name="round_day"),
]
