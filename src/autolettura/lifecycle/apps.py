from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "autolettura.lifecycle"
    label = "lifecycle"
    verbose_name = "Data lifecycle"
