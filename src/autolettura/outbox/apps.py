from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "autolettura.outbox"
    label = "outbox"
    verbose_name = "Messaggi in uscita"
