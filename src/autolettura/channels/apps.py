from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "autolettura.channels"
    label = "channels"
    verbose_name = "Canali"
