from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "autolettura.accounts"
    label = "accounts"
    verbose_name = "Accessi"
