from django.apps import AppConfig


class RegulationConfig(AppConfig):
    name = "autolettura.regulation"
    label = "regulation"
    verbose_name = "Obblighi ARERA"
