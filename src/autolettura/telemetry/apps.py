from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "autolettura.telemetry"
    label = "telemetry"
    verbose_name = "Telelettura"
