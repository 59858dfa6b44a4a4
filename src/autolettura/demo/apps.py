from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "autolettura.demo"
    label = "demo"
