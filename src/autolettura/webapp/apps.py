from django.apps import AppConfig


class WebappConfig(AppConfig):
    name = "autolettura.webapp"
    label = "webapp"
    verbose_name = "The Sportello Online as an installable app"
