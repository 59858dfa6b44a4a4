"""What the optical reader saw in a photo of a meter, kept so that a photo is read once.

Keyed by the SHA-256 of the photo's bytes: the same photo sent again (a retry, the portal's
confirm step, the same picture on two channels) costs a database lookup, not a second
reading. What is kept is what the wheels show; the choice of a reading (the meter's
digits, the supply's history) is made again on each use, since it is cheap and the history
changes.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class PhotoReading(models.Model):
    sha256 = models.CharField(max_length=64, unique=True)
    # The wheels left to right: [{"p": [ten probabilities], "between": [lower, upper] | null,
    # "red": bool}], empty when no register was found.
    wheels = models.JSONField(default=list)
    # The register's corners in the photo's pixels, four [x, y]; empty when not found.
    box = models.JSONField(default=list)
    # False when the bytes could not be decoded as an image at all.
    decoded = models.BooleanField(default=True)
    engine = models.CharField(max_length=40)
    duration_ms = models.PositiveIntegerField()
    read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="photo_reading_sha256_hex"
            ),
        ]

    def __str__(self) -> str:
        return f"photo {self.sha256[:12]}"
