"""Autolettura: a water utility's meter self-reading service."""

from .celery import app as celery_app

__all__ = ["celery_app"]
