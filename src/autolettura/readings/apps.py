from django.apps import AppConfig


class ReadingsConfig(AppConfig):
    name = "autolettura.readings"
    label = "readings"
    verbose_name = "Letture"
