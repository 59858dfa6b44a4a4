"""The portal's own data: further customer codes added to an account.

An account (a Django user) belongs to the customer it signed up with (`Customer.user`). A
person who holds supplies under another customer code too adds them with that code and a
supply code (R1), and the link is kept here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from autolettura.customers.models import Customer


class LinkedCustomer(models.Model):
    """A further customer whose supplies an account may see and send readings for."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="linked_customers"
    )
    # One account at most per customer: the codes on a bill open one account, not several.
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="portal_link")
    linked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.customer_id} in the account of {self.user_id}"
