from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "autolettura.customers"
    label = "customers"
    verbose_name = "Utenti e utenze"
