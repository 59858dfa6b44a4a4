"""The Sportello Online: public pages at the site root, the customer area under
/area-clienti/."""

from django.contrib.auth import views as auth_views
from django.urls import path

from autolettura.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("come-leggere-il-contatore/", views.how_to_read, name="how_to_read"),
    path("cosa-serve/", views.what_you_need, name="what_you_need"),
    path("quando/", views.when, name="when"),
    path("come-comunicare-la-lettura/", views.channels, name="channels"),
    path("contatti/", views.contacts, name="contacts"),
    path("privacy/", views.privacy, name="privacy"),
    path("lingua/", views.language, name="language"),
    path("accedi/", views.SignInView.as_view(), name="login"),
    path("esci/", views.SignOutView.as_view(), name="logout"),
    path("registrati/", views.signup, name="signup"),
    path("registrati/controlla-la-posta/", views.signup_sent, name="signup_sent"),
    path(
        "registrati/conferma/<str:payload>/<str:token>/",
        views.signup_confirm,
        name="signup_confirm",
    ),
    path("password/dimenticata/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/dimenticata/inviata/",
        auth_views.PasswordResetDoneView.as_view(template_name="portal/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password/nuova/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/nuova/fatto/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="portal/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    path("segnala-un-guasto/", views.fault_new, name="fault_new"),
    path("segnala-un-guasto/segui/", views.fault_follow, name="fault_follow"),
    path("area-clienti/", views.dashboard, name="dashboard"),
    path("area-clienti/comunica-la-lettura/", views.reading_new, name="reading_new"),
    path(
        "area-clienti/comunica-la-lettura/foto/<str:sha256>/",
        views.reading_photo_crop,
        name="reading_photo_crop",
    ),
    path("area-clienti/comunica-la-lettura/finestra/", views.window_note, name="window_note"),
    path("area-clienti/letture/<str:receipt>/", views.reading_receipt, name="reading_receipt"),
    path("area-clienti/utenze/<str:supply_code>/", views.supply_detail, name="supply_detail"),
    path(
        "area-clienti/utenze/<str:supply_code>/consumi.csv",
        views.consumption_csv,
        name="consumption_csv",
    ),
    path(
        "area-clienti/utenze/<str:supply_code>/bollette/<int:year>/<int:sequence>.pdf",
        views.bill_pdf,
        name="bill_pdf",
    ),
    path(
        "area-clienti/utenze/<str:supply_code>/bollette/<int:year>/<int:sequence>/paga/",
        views.bill_pay,
        name="bill_pay",
    ),
    path("area-clienti/aggiungi-utenza/", views.supply_add, name="supply_add"),
    path("area-clienti/preferenze/", views.preferences, name="preferences"),
    path(
        "area-clienti/preferenze/conferma-email/<str:payload>/<str:token>/",
        views.email_confirm,
        name="email_confirm",
    ),
    path(
        "area-clienti/preferenze/accessi/<int:token_id>/revoca/",
        views.token_revoke,
        name="token_revoke",
    ),
]
