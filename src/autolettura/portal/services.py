"""Writes of the customer area: sign-up and its confirmation, added supplies, preferences,
and a reading sent from the web (through `reading_submit`, like every channel)."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.auth.tokens import PasswordResetTokenGenerator, default_token_generator
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode

from autolettura.customers import selectors as customer_selectors
from autolettura.customers import services as customer_services
from autolettura.customers.models import Customer, Supply
from autolettura.outbox.models import Route
from autolettura.portal import selectors
from autolettura.portal.models import LinkedCustomer
from autolettura.readings import photos
from autolettura.readings.notifications import reading_notify
from autolettura.readings.services import (
    CODES_MISMATCH,
    Submission,
    SubmissionRejected,
    inbound_message_answer,
    inbound_message_record,
    reading_submit,
)
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.window import rome_today
from autolettura.service.models import FaultChannel, FaultReport
from autolettura.service.services import FaultReportRejected, fault_report_create

logger = logging.getLogger(__name__)

SIGNUP_SALT = "autolettura.portal.signup"
# The username of an account waiting for its sign-up to be confirmed.
PENDING_PREFIX = "pending-"


class AccountRejected(Exception):
    """A sign-up, confirmation, added supply or preferences change that cannot be taken as
    it is. `errors` lists what to fix, each with its field and code."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


# --- Sign-up --------------------------------------------------------------------------------


def _identify(*, customer_code: object, supply_code: object, source: str) -> Supply:
    """R1, as every channel does it (customers.services.supply_identify_by_codes), its
    errors as AccountRejected (autolettura.throttling.Throttled past the limit)."""
    try:
        return customer_services.supply_identify_by_codes(
            supply_code=supply_code, customer_code=customer_code, source=source
        )
    except FormatError as exc:
        raise AccountRejected(list(exc.errors)) from None


def _has_account(customer: Customer) -> bool:
    if (
        customer.user_id is not None
        and User.objects.filter(pk=customer.user_id, is_active=True).exists()
    ):
        return True
    return LinkedCustomer.objects.filter(customer=customer).exists()


def _mail(*, to: str, template: str, context: dict[str, object], language: str) -> None:
    """One e-mail from portal/email/<template>_subject.txt and _body.txt, in `language`."""
    with translation.override(language):
        context = {"utility_name": settings.AUTOLETTURA_UTILITY_NAME, **context}
        subject = render_to_string(f"portal/email/{template}_subject.txt", context)
        body = render_to_string(f"portal/email/{template}_body.txt", context)
    send_mail(" ".join(subject.split()), body, None, [to])


def account_signup(
    *,
    customer_code: object,
    supply_code: object,
    email: str,
    password: str,
    site_url: str,
    now: datetime,
    source: str,
) -> None:
    """Start a sign-up with the codes on page 1 of the bill: an inactive account, and an
    e-mail with the link that confirms it (and links the customer to it).

    An address that already has an account gets an e-mail saying so instead, and the page
    says the same either way, so sign-ups cannot probe which addresses are registered.
    Raises AccountRejected for codes that are malformed or do not match (R1, one generic
    error) and for a customer who already has an account.
    """
    supply = _identify(customer_code=customer_code, supply_code=supply_code, source=source)
    customer = supply.holder
    if _has_account(customer):
        raise AccountRejected([FieldError("codes", "account_exists")])
    address = User.objects.normalize_email(email.strip())
    language = translation.get_language() or settings.LANGUAGE_CODE
    # The password is hashed on both paths, and each sends one e-mail: the time taken (the
    # hash is most of it) must not tell a registered address from a new one.
    hashed = make_password(password)
    if User.objects.filter(email__iexact=address, is_active=True).exists():
        _mail(
            to=address,
            template="signup_existing",
            context={"login_url": site_url.rstrip("/") + reverse("portal:login")},
            language=language,
        )
        return
    # Each sign-up waits in an inactive account of its own until its link is followed:
    # signing up again with someone's address never changes the password of theirs.
    user = User.objects.create(
        username=f"{PENDING_PREFIX}{uuid.uuid4().hex}",
        email=address,
        password=hashed,
        is_active=False,
    )
    payload = signing.dumps({"user": user.pk, "customer": customer.pk}, salt=SIGNUP_SALT)
    link = reverse(
        "portal:signup_confirm",
        kwargs={"payload": payload, "token": default_token_generator.make_token(user)},
    )
    _mail(
        to=address,
        template="signup_confirm",
        context={"confirm_url": site_url.rstrip("/") + link, "customer": customer},
        language=language,
    )
    logger.info("sign-up started for customer %s", customer.customer_code)


def account_confirm(*, payload: str, token: str, now: datetime) -> User:
    """Confirm a sign-up from its e-mailed link: activate the account and make it the
    customer's. Following the link again is harmless. Raises AccountRejected `link_invalid`
    for a link that is altered or expired, and `account_exists` when the customer got
    another account meanwhile."""
    invalid = AccountRejected([FieldError("link", "link_invalid")])
    try:
        data = signing.loads(payload, salt=SIGNUP_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT)
    except signing.BadSignature:
        raise invalid from None
    user = User.objects.filter(pk=data.get("user")).first()
    if user is None or not default_token_generator.check_token(user, token):
        raise invalid
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(pk=data.get("customer")).first()
        if customer is None:
            raise invalid
        if not user.is_active:
            # The address confirmed another sign-up first: that account is the address's
            # (its owner proved it), and this customer joins it.
            confirmed = User.objects.filter(email__iexact=user.email, is_active=True).first()
            if confirmed is not None:
                user = confirmed
        if (
            customer.user_id == user.pk
            or LinkedCustomer.objects.filter(user=user, customer=customer).exists()
        ):
            return user  # confirmed already
        if _has_account(customer):
            raise AccountRejected([FieldError("codes", "account_exists")])
        if Customer.objects.filter(user=user).exists():
            # The same address confirmed another customer first: add this one to it.
            LinkedCustomer.objects.create(user=user, customer=customer, linked_at=now)
        else:
            customer.user = user
        # The address just confirmed is the customer's contact from now on, over whatever
        # older one the customer record held: outcomes go where the customer confirmed.
        customer.email = user.email
        customer.save(update_fields=["user", "email"])
        if not user.is_active:
            _account_activate(user)
    logger.info("sign-up confirmed for customer %s", customer.customer_code)
    return user


def _account_activate(user: User) -> None:
    """A confirmed sign-up becomes an account named by its address. Other sign-ups still
    waiting for that address stay inactive: their links add their customers to this one."""
    username = user.email.lower()
    if User.objects.filter(username=username).exclude(pk=user.pk).exists():
        username = user.username  # an older account holds that name: keep the pending one
    user.username = username
    user.is_active = True
    user.save(update_fields=["username", "is_active"])


def account_supply_add(
    *, user: User, customer_code: object, supply_code: object, now: datetime, source: str
) -> Supply:
    """Add a supply to the account with the codes on its bill (R1). Its holder's other
    supplies come along. Raises AccountRejected for codes that are malformed or do not
    match, for a supply already in the account and for one registered to another account;
    Throttled after too many wrong codes from `source`."""
    supply = _identify(customer_code=customer_code, supply_code=supply_code, source=source)
    customer = supply.holder
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if selectors.account_customers(user).filter(pk=customer.pk).exists():
            raise AccountRejected([FieldError("codes", "already_yours")])
        if _has_account(customer):
            raise AccountRejected([FieldError("codes", "other_account")])
        if Customer.objects.filter(user=user).exists():
            LinkedCustomer.objects.create(user=user, customer=customer, linked_at=now)
        else:
            customer.user = user
        # One account, one confirmed address: the added customer's news goes there too.
        if user.email:
            customer.email = user.email
        customer.save(update_fields=["user", "email"])
    return supply


# --- Preferences -----------------------------------------------------------------------------

_PHONE = re.compile(r"\+?[0-9]{6,15}")


def phone_normalize(raw: str) -> str:
    """A phone number with spaces, dots, dashes and brackets taken out; "" when empty.
    Raises AccountRejected `phone_invalid` when what is left is not a number."""
    phone = re.sub(r"[\s.\-/()]", "", raw or "")
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    if phone and not _PHONE.fullmatch(phone):
        raise AccountRejected([FieldError("phone", "phone_invalid")])
    return phone


EMAIL_CHANGE_SALT = "autolettura.portal.email-change"


class EmailChangeTokenGenerator(PasswordResetTokenGenerator):
    """Tokens of e-mail change links: a salt of their own, so that a link sent to a
    mistyped address can never serve as a password reset token for the account. Like
    those, a token ends once the account's address or password changes."""

    key_salt = "autolettura.portal.services.EmailChangeTokenGenerator"


email_change_tokens = EmailChangeTokenGenerator()


@dataclass(frozen=True)
class PreferencesSaved:
    """`email_pending`: a new address waiting for its confirmation link to be followed."""

    email_pending: str | None


def preferences_update(
    *,
    user: User,
    language: str,
    email: str,
    phone: str,
    notify_by_email: bool,
    notify_by_sms: bool,
    notify_by_whatsapp: bool,
    site_url: str = "",
) -> PreferencesSaved:
    """Save the language, contact data and channels for reminders and outcomes of every
    customer the account acts for.

    The e-mail address is the account's confirmed one: a new address takes effect only
    once the link e-mailed to it is followed (`account_email_confirm`); until then news
    keeps going to the confirmed address. An empty address leaves it as it is. Raises
    AccountRejected with every problem found: a channel chosen without the address or
    number it needs, a malformed one, a language the portal does not speak."""
    errors: list[FieldError] = []
    if language not in dict(settings.LANGUAGES):
        errors.append(FieldError("language", "language_invalid"))
    email = email.strip()
    if email:
        try:
            validate_email(email)
        except Exception:
            errors.append(FieldError("email", "email_invalid"))
    elif notify_by_email:
        errors.append(FieldError("email", "email_required"))
    try:
        phone = phone_normalize(phone)
    except AccountRejected as exc:
        errors.extend(exc.errors)
    else:
        if not phone and (notify_by_sms or notify_by_whatsapp):
            errors.append(FieldError("phone", "phone_required"))
    if errors:
        raise AccountRejected(errors)
    current = selectors.account_preferences(user)
    confirmed = current.email if current is not None else ""
    pending = email if email and email.casefold() != confirmed.casefold() else None
    selectors.account_customers(user).update(
        language=language,
        phone=phone,
        notify_by_email=notify_by_email,
        notify_by_sms=notify_by_sms,
        notify_by_whatsapp=notify_by_whatsapp,
    )
    if pending is not None:
        _email_change_send(user=user, email=pending, site_url=site_url, language=language)
    return PreferencesSaved(email_pending=pending)


def _email_change_send(*, user: User, email: str, site_url: str, language: str) -> None:
    """The link that confirms `email` as the account's address, sent to that address."""
    payload = signing.dumps({"user": user.pk, "email": email}, salt=EMAIL_CHANGE_SALT)
    link = reverse(
        "portal:email_confirm",
        kwargs={"payload": payload, "token": email_change_tokens.make_token(user)},
    )
    _mail(
        to=email,
        template="email_change",
        context={"confirm_url": site_url.rstrip("/") + link, "email": email},
        language=language,
    )
    logger.info("e-mail change asked for account %s", user.pk)


def account_email_confirm(*, payload: str, token: str) -> str:
    """Make the address of an e-mailed change link the account's, and the contact of every
    customer it acts for. Returns the address. The token ends with the change it confirms
    (it depends on the account's address and password), so a link works once. Raises
    AccountRejected `email_link_invalid` for a link that is altered, expired or used, and
    `email_taken` when another account signs in with that address meanwhile."""
    invalid = AccountRejected([FieldError("link", "email_link_invalid")])
    try:
        data = signing.loads(
            payload, salt=EMAIL_CHANGE_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT
        )
    except signing.BadSignature:
        raise invalid from None
    user = User.objects.filter(pk=data.get("user"), is_active=True).first()
    email = data.get("email")
    if user is None or not isinstance(email, str) or not email:
        raise invalid
    if not email_change_tokens.check_token(user, token):
        raise invalid
    with transaction.atomic():
        others = User.objects.filter(email__iexact=email, is_active=True).exclude(pk=user.pk)
        if others.exists():
            # Signing in by e-mail needs the address to be one account's only.
            raise AccountRejected([FieldError("email", "email_taken")])
        user.email = email
        user.save(update_fields=["email"])
        selectors.account_customers(user).update(email=email)
    logger.info("e-mail change confirmed for account %s", user.pk)
    return email


def language_set(*, user: User | None, language: str) -> str:
    """The language asked for if the portal speaks it, else the default; saved as the
    account's customers' language when someone is signed in."""
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    if user is not None and user.is_authenticated:
        selectors.account_customers(user).update(language=language)
    return language


# --- A reading from the web --------------------------------------------------------------------


# --- "Comunica la lettura", photo first ---------------------------------------------------------

# The session's photos waiting for the customer to confirm the value read:
# {sha256: {"name": the file's name in the storage, "box": the register's corners}}.
PENDING_PHOTOS = "reading_photos"
# A customer trying again keeps their last few photos; older ones are forgotten.
MAX_PENDING_PHOTOS = 3
PENDING_FOLDER = "readings/pending"


@dataclass(frozen=True)
class PhotoProposal:
    """What "Comunica la lettura" proposes from a photo: the register read (None: nothing
    read, or not in time), whether it is sure enough to say so plainly, and the photo's
    key in the session."""

    sha256: str
    reading: str | None
    actionable: bool
    late: bool
    cropped: bool


def web_photo_read(
    *, user: User, supply_code: str, photo: IO[bytes], session: Any, now: datetime
) -> PhotoProposal:
    """Check a photo of the meter, keep it for the session (until the customer sends the
    reading, so that it is not sent twice) and read it with the meter's digits and the
    supply's history, waiting at most AUTOLETTURA_PHOTO_READ_SECONDS.

    Raises FormatError (field `photo`) for a file that is not a photo `reading_submit`
    would take. The same photo sent again is kept and read once (by its SHA-256).
    """
    from autolettura.photos.selectors import register_history
    from autolettura.photos.services import PhotoReadLate, photo_read

    checked = photos.photo_check(photo)
    image = checked.read()
    sha256 = hashlib.sha256(image).hexdigest()
    extension = ".png" if (checked.name or "").endswith(".png") else ".jpg"
    name = f"{PENDING_FOLDER}/{sha256}{extension}"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(image))
    supply = selectors.account_supply(user, supply_code) if supply_code else None
    meter = customer_selectors.meter_current(supply) if supply is not None else None
    box: list[list[int]] = []
    try:
        read = photo_read(
            image=image,
            meter_digits=meter.digits if meter is not None else None,
            history=register_history(supply=supply, read_on=rome_today(now)) if supply else None,
            now=now,
            within=settings.AUTOLETTURA_PHOTO_READ_SECONDS,
        )
    except PhotoReadLate:
        proposal = PhotoProposal(sha256, None, False, late=True, cropped=False)
    except Exception:
        # A reader that fails is a reader that is late: the customer types the value.
        logger.exception("photo could not be read for Comunica la lettura")
        proposal = PhotoProposal(sha256, None, False, late=True, cropped=False)
    else:
        box = [list(corner) for corner in read.box]
        proposal = PhotoProposal(
            sha256, read.reading, read.actionable, late=False, cropped=bool(box)
        )
    pending = dict(session.get(PENDING_PHOTOS, {}))
    pending.pop(sha256, None)
    pending[sha256] = {"name": name, "box": box}
    entries = list(pending.items())
    for _forgotten, entry in entries[:-MAX_PENDING_PHOTOS]:
        default_storage.delete(entry["name"])
    session[PENDING_PHOTOS] = dict(entries[-MAX_PENDING_PHOTOS:])
    return proposal


def web_photo_sent(*, session: Any, sha256: str) -> None:
    """The photo went with a reading: its waiting copy is no longer needed."""
    pending = dict(session.get(PENDING_PHOTOS, {}))
    entry = pending.pop(sha256, None)
    session[PENDING_PHOTOS] = pending
    if entry is not None:
        default_storage.delete(entry["name"])


@dataclass(frozen=True)
class WebSubmission:
    submission: Submission
    emailed: bool


def web_reading_submit(
    *,
    user: User,
    supply_code: str,
    reading: str,
    read_on: str,
    photo: IO[bytes] | None,
    now: datetime,
    idempotency_key: str = "",
) -> WebSubmission:
    """Send a reading from "Comunica la lettura" for one of the account's supplies, as its
    holder (channel WEB), and queue the outcome by e-mail when the customer wants it so.

    `idempotency_key` (the app's, for a reading kept on the phone without signal): sent
    again by the same account with the same values, the first answer comes back and
    nothing more is taken.

    Raises SubmissionRejected (from `reading_submit`) with every format error found.
    """
    supply = selectors.account_supply(user, supply_code) if supply_code else None
    customer = supply.holder if supply is not None else selectors.account_customers(user).first()
    if customer is None:
        raise SubmissionRejected([CODES_MISMATCH])
    values = {"supply_code": supply_code, "reading": reading, "read_on": read_on}
    message = None
    if IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        message, _created = inbound_message_record(
            channel="WEB",
            provider_message_id=_idempotency_id(user, idempotency_key, values),
            payload=values,
            now=now,
        )
        answered = inbound_message_answer(message, now)
        if answered is not None:
            return WebSubmission(answered, emailed=False)
    submission = reading_submit(
        channel="WEB",
        customer=customer,
        supply_code=supply_code,
        reading=reading,
        read_on=read_on,
        photo=photo,
        submitted_by=user,
        inbound_message=message,
        now=now,
    )
    emailed = False
    if submission.created and customer.notify_by_email and customer.email:
        # Through the outbox: sent after commit and retried, so a mail server outage loses
        # no answer and never fails the submission.
        reading_notify(
            reading=submission.reading, route=Route.EMAIL, recipient=customer.email, now=now
        )
        emailed = True
    return WebSubmission(submission, emailed)


# An app's key: a UUID, or any short token of letters, digits and dashes.
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{8,100}")


def _idempotency_id(user: User, key: str, values: dict[str, str]) -> str:
    """The inbound message id of a key: scoped to its account and values, as the API does,
    so that another account (or other values) sending the same key is another request."""
    scope = f"{user.pk}\n{key}\n{values['supply_code']}\n{values['reading']}\n{values['read_on']}"
    return "idempotency:web:" + hashlib.sha256(scope.encode()).hexdigest()


def web_fault_report(
    *,
    category: str,
    description: str,
    address: str,
    contact_name: str,
    contact_phone: str,
    contact_email: str,
    photo: IO[bytes] | None,
    language: str,
    now: datetime,
) -> FaultReport:
    """A fault reported from the portal (R13): the photo checked by its content as every
    channel's is, the report taken by `fault_report_create`, which queues the reporter's
    confirmation with the link to follow it (service.notifications).

    Raises FaultReportRejected with every problem found, the photo's included.
    """
    errors: list[FieldError] = []
    checked = None
    if photo is not None:
        try:
            checked = photos.photo_check(photo)
        except FormatError as exc:
            errors.extend(exc.errors)
    if errors:
        raise FaultReportRejected(errors)
    return fault_report_create(
        category=category,
        description=description,
        address=address,
        latitude=None,
        longitude=None,
        contact_name=contact_name,
        contact_phone=contact_phone,
        contact_email=contact_email,
        channel=FaultChannel.WEB,
        now=now,
        photo=checked,
        language=language,
    )


def fault_follow_path(ticket: str) -> str:
    return f"{reverse('portal:fault_follow')}?{urlencode({'ticket': ticket})}"
