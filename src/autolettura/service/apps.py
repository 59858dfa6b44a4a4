from django.apps import AppConfig


class ServiceConfig(AppConfig):
    name = "autolettura.service"
    label = "service"
    verbose_name = "Servizio: guasti e orari"
