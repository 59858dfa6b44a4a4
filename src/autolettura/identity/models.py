"""The sign-ins started with SPID or CIE: each AuthnRequest sent, until its answer is used.

An answer (a SAML Response) is taken only for a request of the same browser, and only once:
a Response captured and posted again, or posted into another browser, signs no one in.
"""

from __future__ import annotations

from django.db import models


class Scheme(models.TextChoices):
    SPID = "spid", "SPID"
    CIE = "cie", "CIE"


class SignInRequest(models.Model):
    # The AuthnRequest's ID, which the Response's InResponseTo must name.
    request_id = models.CharField(max_length=100, unique=True)
    scheme = models.CharField(max_length=8, choices=Scheme.choices)
    provider = models.CharField(max_length=500)
    # SHA-256 of the random value in the browser's sign-in cookie (the value itself is never
    # stored: a copy of the table cannot finish anyone's sign-in).
    browser_key = models.CharField(max_length=64, db_index=True)
    next_path = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.scheme} {self.request_id}"
