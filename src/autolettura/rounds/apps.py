from django.apps import AppConfig


class RoundsConfig(AppConfig):
    name = "autolettura.rounds"
    label = "rounds"
    verbose_name = "Giri di lettura"
