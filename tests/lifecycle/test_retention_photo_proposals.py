"""The retention run and the erasure also take the readings proposed from WhatsApp photos,
and the photos they were read from, while a reading's own photo stays."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.channels.models import (
    PhotoProposalStatus,
    WhatsAppConversation,
    WhatsAppPhotoProposal,
)
from autolettura.customers.models import Supply
from autolettura.lifecycle.models import RetentionRun
from autolettura.lifecycle.services import retention_run
from tests.conftest import make_supply
from tests.lifecycle.support import NOW, photo

pytestmark = pytest.mark.django_db

LONG_AGO = NOW - timedelta(days=181)
RECENTLY = NOW - timedelta(days=179)


@pytest.fixture(autouse=True)
def _media(tmp_path: Path, settings: SettingsWrapper) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def proposal(conversation: WhatsAppConversation, supply: Supply, at: object) -> str:
    """A refused proposal read from a photo of its own; the photo's name."""
    name = photo(f"channels/whatsapp/{uuid.uuid4().hex}.png")
    WhatsAppPhotoProposal.objects.create(
        conversation=conversation,
        token=uuid.uuid4().hex,
        message_id=f"wamid.{uuid.uuid4().hex}",
        photo=name,
        sha256="0" * 64,
        supply=supply,
        reading="00530",
        confidence=0.98,
        read_on=NOW.date(),
        status=PhotoProposalStatus.REFUSED,
        created_at=at,
        expires_at=at + timedelta(hours=2),  # type: ignore[operator]
        decided_at=at,
    )
    return name


def test_a_conversation_past_its_time_takes_its_proposals_and_their_photos() -> None:
    supply = make_supply()
    conversation = WhatsAppConversation.objects.create(phone="+393470000011", updated_at=LONG_AGO)
    old_photo = proposal(conversation, supply, LONG_AGO)

    retention_run(now=NOW)

    assert not WhatsAppConversation.objects.exists()
    assert not WhatsAppPhotoProposal.objects.exists()
    assert not default_storage.exists(old_photo)
    # Counted as one conversation, not as its rows.
    assert RetentionRun.objects.get().counts["whatsapp_conversations"] == 1


def test_a_remembered_number_keeps_its_conversation_and_loses_old_proposals_only() -> None:
    supply = make_supply()
    conversation = WhatsAppConversation.objects.create(
        phone="+393470000012",
        updated_at=LONG_AGO,
        remembered_customer=supply.holder,
        remembered_at=LONG_AGO,
    )
    old_photo = proposal(conversation, supply, LONG_AGO)
    draft_photo = proposal(conversation, supply, LONG_AGO)
    recent_photo = proposal(conversation, supply, RECENTLY)
    # The draft's photo is still the conversation's: it stays with it.
    WhatsAppConversation.objects.filter(pk=conversation.pk).update(photo=draft_photo)

    retention_run(now=NOW)

    assert WhatsAppConversation.objects.filter(pk=conversation.pk).exists()
    assert list(WhatsAppPhotoProposal.objects.values_list("photo", flat=True)) == [recent_photo]
    assert not default_storage.exists(old_photo)
    assert default_storage.exists(draft_photo)
    assert default_storage.exists(recent_photo)
