from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "autolettura.billing"
    label = "billing"
    verbose_name = "Fatturazione"
