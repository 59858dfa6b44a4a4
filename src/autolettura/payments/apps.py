from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "autolettura.payments"
    label = "payments"
    verbose_name = "Pagamenti pagoPA"
