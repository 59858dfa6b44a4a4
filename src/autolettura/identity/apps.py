from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "autolettura.identity"
    label = "identity"
    verbose_name = "SPID and CIE sign-in"
