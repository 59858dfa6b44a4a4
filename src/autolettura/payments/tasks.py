"""Celery interface onto the reporting flows' daily import."""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from autolettura.payments.services import flows_import_folder

logger = logging.getLogger(__name__)


@shared_task
def flows_import_task() -> dict[str, int]:
    """Import the flows waiting in AUTOLETTURA_PAGOPA_FLOWS_DIR (nothing when unset)."""
    folder = settings.AUTOLETTURA_PAGOPA_FLOWS_DIR
    if not folder:
        return {"imported": 0, "refused": 0}
    result = flows_import_folder(folder=Path(folder), now=timezone.now())
    for name, reason in result.refused:
        logger.warning("pagoPA flow %s refused: %s", name, reason)
    return {"imported": len(result.imported), "refused": len(result.refused)}
