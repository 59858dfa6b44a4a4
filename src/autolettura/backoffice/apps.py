from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    name = "autolettura.backoffice"
    label = "backoffice"
    verbose_name = "Back office"

    def ready(self) -> None:
        from autolettura.backoffice.roles import roles_sync_handler

        # After every migrate (and every test database flush): the roles and their
        # permissions exist and match ROLES, so a role is configured in code, not by hand.
        post_migrate.connect(roles_sync_handler, sender=self)
