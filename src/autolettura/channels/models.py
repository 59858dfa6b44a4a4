"""State the channels keep between one provider request and the next."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from autolettura.readings.models import Reading
from autolettura.service.models import FaultReport


class CallStep(models.TextChoices):
    """Where a phone call is: what the caller's next keys (or recording) answer."""

    MENU = "MENU", _("main menu")
    SUPPLY_CODE = "SUPPLY_CODE", _("supply code")
    CUSTOMER_CODE = "CUSTOMER_CODE", _("customer code")
    READING = "READING", _("reading")
    READ_ON = "READ_ON", _("reading date")
    CONFIRM = "CONFIRM", _("confirmation")
    CORRECT = "CORRECT", _("correction")
    FAULT_CATEGORY = "FAULT_CATEGORY", _("kind of fault")
    FAULT_RECORDING = "FAULT_RECORDING", _("fault recording")
    FAULT_CALLBACK = "FAULT_CALLBACK", _("callback number")
    OFFER_INFO_LINE = "OFFER_INFO_LINE", _("info line offered")
    DONE = "DONE", _("ended")


class CallOutcome(models.TextChoices):
    READING = "READING", _("reading taken in charge")
    FAULT = "FAULT", _("fault reported")
    TRANSFERRED = "TRANSFERRED", _("transferred to the info line")
    GAVE_UP = "GAVE_UP", _("too many failed tries")
    HUNG_UP = "HUNG_UP", _("caller hung up")


class PhoneCall(models.Model):
    """One call to the phone line (IVR), keyed by the provider's call id.

    `turn` numbers the prompts of the call: each prompt's answer comes back with its
    turn, so a retried webhook (a turn already answered) gets `last_response` again
    instead of being taken as new keys. `gathered` holds what the caller keyed in so far
    (`supply_code`, `customer_code`, `reading`, `read_on`, `category`, `recording_url`).
    """

    call_sid = models.CharField(max_length=64, unique=True)
    caller = models.CharField(max_length=32, blank=True)
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="it")
    step = models.CharField(max_length=16, choices=CallStep.choices, default=CallStep.MENU)
    tries = models.PositiveSmallIntegerField(default=0)  # failed tries of the current step
    gathered = models.JSONField(default=dict, blank=True)
    submissions = models.PositiveSmallIntegerField(default=0)  # readings submitted so far
    turn = models.PositiveIntegerField(default=0)
    last_response = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=CallOutcome.choices, blank=True)
    reading = models.ForeignKey(
        Reading, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fault_report = models.ForeignKey(
        FaultReport, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(step__in=CallStep.values), name="phone_call_step_known"
            ),
            models.CheckConstraint(
                condition=Q(outcome="") | Q(outcome__in=CallOutcome.values),
                name="phone_call_outcome_known",
            ),
            models.CheckConstraint(condition=~Q(call_sid=""), name="phone_call_sid_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.call_sid} {self.step} {self.outcome or '-'}"


class WhatsAppStep(models.TextChoices):
    """What the last WhatsApp reply asked for: the next bare answer fills it in."""

    IDLE = "IDLE", _("nothing asked")
    SUPPLY_CODE = "SUPPLY_CODE", _("supply code")
    CUSTOMER_CODE = "CUSTOMER_CODE", _("customer code")
    READING = "READING", _("reading")
    READ_ON = "READ_ON", _("reading date")
    REMEMBER = "REMEMBER", _("remember this number?")
    PHOTO_CONFIRM = "PHOTO_CONFIRM", _("reading read from a photo: confirm?")


class WhatsAppConversation(models.Model):
    """The conversation with one WhatsApp number: what it has told us so far, what we
    asked last, and the customer it belongs to once its owner agreed that we remember it.

    The draft (`supply_code` ... `photo`) is what the customer sent towards the next
    reading, as written; it is dropped once the reading is taken in charge, or when the
    conversation has been silent for a day.
    """

    phone = models.CharField(max_length=32, unique=True)  # E.164, such as +393471234567
    step = models.CharField(max_length=16, choices=WhatsAppStep.choices, default=WhatsAppStep.IDLE)
    supply_code = models.CharField(max_length=64, blank=True)
    customer_code = models.CharField(max_length=64, blank=True)
    reading = models.CharField(max_length=64, blank=True)
    read_on = models.CharField(max_length=64, blank=True)
    # A photo of the meter sent during the conversation (a path in the default storage),
    # kept with the reading it leads to.
    photo = models.CharField(max_length=200, blank=True)
    # Whom the codes of this conversation identified: the customer asked to be remembered.
    identified_customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The customer this number belongs to, by their own "yes": no codes needed any more.
    remembered_customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="whatsapp_numbers",
    )
    remembered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(step__in=WhatsAppStep.values), name="whatsapp_step_known"
            ),
            models.CheckConstraint(condition=~Q(phone=""), name="whatsapp_phone_not_empty"),
            models.CheckConstraint(
                condition=Q(remembered_customer__isnull=True) | Q(remembered_at__isnull=False),
                name="whatsapp_remembered_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phone} {self.step}"


class PhotoProposalStatus(models.TextChoices):
    PENDING = "PENDING", _("waiting for the customer's answer")
    CONFIRMED = "CONFIRMED", _("confirmed by the customer")
    REFUSED = "REFUSED", _("refused by the customer")
    REPLACED = "REPLACED", _("replaced by a newer photo")
    EXPIRED = "EXPIRED", _("expired without an answer")
    UNREADABLE = "UNREADABLE", _("no reading could be read")
    NOT_READ = "NOT_READ", _("not read: too many photos")


class WhatsAppPhotoProposal(models.Model):
    """A reading read from a photo a WhatsApp customer sent, waiting for their "yes".

    Nothing is taken in charge until the sender of the photo confirms it, from their own
    number (the proposal belongs to that number's conversation) and before `expires_at`.
    `token` is in the ids of the reply buttons, so that a button pressed under an older
    proposal is not taken for an answer to the current one. One row per photo tried, also
    when nothing could be read, so that a photo is proposed (or found unreadable) once.
    """

    conversation = models.ForeignKey(
        WhatsAppConversation, on_delete=models.CASCADE, related_name="photo_proposals"
    )
    token = models.CharField(max_length=32, unique=True)
    # The WhatsApp message that brought the photo, and the photo (a default storage path).
    message_id = models.CharField(max_length=200)
    photo = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    supply = models.ForeignKey("customers.Supply", on_delete=models.CASCADE, related_name="+")
    reading = models.CharField(max_length=16, blank=True)  # as the register shows it
    confidence = models.FloatField(default=0.0)
    # Other readings the photo allows, most likely first.
    alternatives = models.JSONField(default=list, blank=True)
    read_on = models.DateField()  # the day the photo was sent: the reading's date
    status = models.CharField(
        max_length=16, choices=PhotoProposalStatus.choices, default=PhotoProposalStatus.PENDING
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    # The reading the confirmation took in charge.
    reading_taken = models.ForeignKey(
        Reading, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PhotoProposalStatus.values),
                name="whatsapp_photo_proposal_status_known",
            ),
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status="PENDING"),
                name="whatsapp_photo_proposal_one_pending",
            ),
            models.CheckConstraint(
                condition=~Q(status="PENDING") | ~Q(reading=""),
                name="whatsapp_photo_proposal_pending_has_reading",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} {self.reading or '-'} {self.status}"
