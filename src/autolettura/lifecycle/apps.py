from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LifecycleConfig(AppConfig):
    name = "autolettura.lifecycle"
    label = "lifecycle"
    verbose_name = "Data lifecycle"

    def ready(self) -> None:
        from autolettura.lifecycle.services import access_permission_sync

        post_migrate.connect(access_permission_sync, sender=self)
