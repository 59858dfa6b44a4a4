from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "autolettura.portal"
    label = "portal"
    verbose_name = "Sportello Online"
