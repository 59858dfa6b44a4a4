"""The operators' roles, as Django groups holding the back office's permissions.

Who does what (DESIGN.md section 1): the counter and the call centre find customers and
enter readings; the counter (the front office that sees customers and their paper forms)
also reviews and voids readings; the call centre also moves fault reports along, since it
answers the fault line; billing staff see the dashboard and bills, start bill runs and
check the pagoPA payments that paid no bill; the
utility's readers (letturisti) record their visits to the meters in the reader's app and
nothing else, while the counter sees what each day's round read and why it failed; the
administrator does everything.

Smart meters' leak alerts: the call centre sees and closes them. It answers the fault line,
which a customer told of a leak calls, and it sends a crew when the water is lost on the
utility's side of the meter, so the note that closes an alert (what was found, what was
done) is its own. Billing sees them and does not close them: a hidden leak changes the bill
(ARERA 609/2021 lets the bill for water lost to a hidden leak be reduced), so the billing
office must know which supplies had one before it bills or answers a claim, but it has
nothing from the field to write. An operator is a staff user in one or more of these groups.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

COUNTER = "Sportello"
CALL_CENTRE = "Call centre"
BILLING = "Fatturazione"
ADMINISTRATOR = "Amministratore"
# A role of its own rather than the counter's: a reader walks the streets with a phone that
# may be lost, so the account opens the day's round and nothing of the customers' files.
READER = "Letturista"

ALL_PERMISSIONS = (
    "search_customers",
    "enter_reading",
    "review_reading",
    "void_reading",
    "view_dashboard",
    "view_bills",
    "run_bills",
    "dispatch_fault",
    "view_auditentry",
    "check_payments",
    "record_round",
    "view_rounds",
    "view_leak_alerts",
    "close_leak_alerts",
)

ROLES: dict[str, tuple[str, ...]] = {
    COUNTER: (
        "search_customers",
        "enter_reading",
        "review_reading",
        "void_reading",
        "view_bills",
        "view_auditentry",
        "view_rounds",
    ),
    CALL_CENTRE: (
        "search_customers",
        "enter_reading",
        "dispatch_fault",
        "view_leak_alerts",
        "close_leak_alerts",
    ),
    BILLING: (
        "search_customers",
        "view_dashboard",
        "view_bills",
        "run_bills",
        "check_payments",
        "view_leak_alerts",
    ),
    READER: ("record_round",),
    ADMINISTRATOR: ALL_PERMISSIONS,
}


def roles_sync() -> None:
    """Create the groups and give each exactly the permissions ROLES lists."""
    permissions = {
        p.codename: p
        for p in Permission.objects.filter(
            content_type__app_label="backoffice", codename__in=ALL_PERMISSIONS
        )
    }
    if len(permissions) < len(ALL_PERMISSIONS):
        return  # the permissions are created by the same post_migrate, in a later handler
    for name, codenames in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set([permissions[c] for c in codenames])


def roles_sync_handler(**kwargs: Any) -> None:
    from django.contrib.auth.management import create_permissions

    # Permissions are made by auth's own post_migrate handler, which may run after ours.
    create_permissions(kwargs["app_config"], verbosity=0, using=kwargs.get("using", "default"))
    roles_sync()
