"""Signing in with SPID or CIE: the request sent, the answer taken once, and the account of
the customer the identity's fiscal code names (asking the bill's two codes once when no
customer has it yet)."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import saml2.samlp
from django.contrib.auth.models import User
from django.db import transaction

from autolettura.customers import services as customer_services
from autolettura.customers.models import Customer
from autolettura.identity import saml
from autolettura.identity.models import SignInRequest
from autolettura.portal.models import LinkedCustomer
from autolettura.rules.errors import FieldError, FormatError
from autolettura.rules.fiscal_code import normalize_fiscal_code

logger = logging.getLogger(__name__)

# How long a sign-in may take at the identity provider (the SPID rules allow minutes).
REQUEST_VALID = timedelta(minutes=30)
# Requests older than this are removed when new ones are made.
REQUEST_KEPT = timedelta(days=1)


class IdentityRejected(Exception):
    """A link with the bill's codes that cannot be made; `errors` lists what to fix."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


def browser_secret() -> str:
    """The random value kept in the browser's sign-in cookie."""
    return secrets.token_urlsafe(32)


def browser_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def sign_in_start(
    *, scheme: str, provider: saml.Provider, secret: str, next_path: str, now: datetime
) -> saml.OutgoingRequest:
    """A signed AuthnRequest to `provider`, remembered for the browser holding `secret`."""
    outgoing = saml.authn_request(scheme, provider)
    SignInRequest.objects.filter(created_at__lt=now - REQUEST_KEPT).delete()
    SignInRequest.objects.create(
        request_id=outgoing.request_id,
        scheme=scheme,
        provider=provider.entity_id,
        browser_key=browser_key(secret),
        next_path=next_path,
        created_at=now,
    )
    return outgoing


@dataclass(frozen=True)
class SignedIn:
    identity: saml.Identity
    next_path: str


def _in_response_to(saml_response: str) -> str:
    """The request a Response says it answers, read before anything is verified: it only
    picks which request of this browser to check the Response against."""
    try:
        raw = base64.b64decode(saml_response, validate=True).decode()
        response = saml2.samlp.response_from_string(raw)
    except Exception as exc:
        raise saml.SamlRejected("SAMLResponse unreadable") from exc
    return (response.in_response_to or "") if response is not None else ""


def sign_in_finish(*, saml_response: str, secret: str, now: datetime) -> SignedIn:
    """The identity in a Response posted to the assertion consumer.

    The request it answers must be this browser's, recent and not answered before: it is
    used up here, before any other check, so that a Response can be tried once only
    (captured and posted again, it signs no one in). Raises saml.SamlRejected."""
    request_id = _in_response_to(saml_response)
    if not request_id or not secret:
        raise saml.SamlRejected("no request of this browser to answer")
    key = browser_key(secret)
    with transaction.atomic():
        request = (
            SignInRequest.objects.select_for_update()
            .filter(
                request_id=request_id,
                browser_key=key,
                consumed_at__isnull=True,
                created_at__gte=now - REQUEST_VALID,
            )
            .first()
        )
        if request is None:
            raise saml.SamlRejected(f"request {request_id!r} unknown, used or expired here")
        request.consumed_at = now
        request.save(update_fields=["consumed_at"])
    identity = saml.response_check(
        scheme=request.scheme,
        saml_response=saml_response,
        outstanding={request.request_id: request.created_at},
        now=now,
    )
    if identity.provider != request.provider:
        raise saml.SamlRejected("answered by another identity provider than the one asked")
    return SignedIn(identity=identity, next_path=request.next_path)


# --- The customer's account ----------------------------------------------------------------


@dataclass(frozen=True)
class PendingIdentity:
    """A verified identity whose fiscal code no customer has yet (kept in the session until
    the bill's codes link it)."""

    scheme: str
    fiscal_code: str
    name: str
    family_name: str
    email: str
    verified_at: str  # ISO 8601

    def as_session(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_session(cls, data: object, *, now: datetime) -> PendingIdentity | None:
        """The identity kept in the session, while fresh: the codes must follow the sign-in
        within REQUEST_VALID, as a sign-in left open on a shared computer should not stay
        usable by the next person."""
        if not isinstance(data, dict):
            return None
        try:
            pending = cls(**{k: str(data[k]) for k in cls.__dataclass_fields__})
            verified = datetime.fromisoformat(pending.verified_at)
        except (KeyError, ValueError):
            return None
        if not now - REQUEST_VALID <= verified <= now:
            return None
        return pending


def identity_fiscal_code(identity: saml.Identity) -> str:
    """The identity's codice fiscale; SamlRejected when the provider sent no valid one."""
    try:
        return normalize_fiscal_code(identity.fiscal_number)
    except FormatError as exc:
        raise saml.SamlRejected(f"fiscalNumber {identity.fiscal_number!r} not valid") from exc


def _active_account(customer: Customer) -> User | None:
    if customer.user_id is not None:
        user = User.objects.filter(pk=customer.user_id, is_active=True).first()
        if user is not None:
            return user
    link = LinkedCustomer.objects.filter(customer=customer).select_related("user").first()
    if link is not None and link.user.is_active:
        return link.user
    return None


def _new_account(pending: PendingIdentity) -> User:
    username = f"cf-{pending.fiscal_code.lower()}"
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user
    user = User(
        username=username,
        first_name=pending.name[:150],
        last_name=pending.family_name[:150],
        email=pending.email[:254],
        is_active=True,
    )
    # No password: this account signs in with SPID or CIE (or sets one with a reset).
    user.set_unusable_password()
    user.save()
    return user


def _attach(user: User, customers: list[Customer], now: datetime) -> None:
    """Give `user` the customers that have no account yet."""
    for customer in customers:
        if _active_account(customer) is not None:
            continue
        if customer.user_id is None and not Customer.objects.filter(user=user).exists():
            customer.user = user
            customer.save(update_fields=["user"])
        elif customer.user_id != user.pk:
            LinkedCustomer.objects.get_or_create(
                customer=customer, defaults={"user": user, "linked_at": now}
            )


def identity_account(*, identity: saml.Identity, now: datetime) -> User | PendingIdentity:
    """The account the identity signs in to: that of the customers with its fiscal code
    (made for them at their first sign-in), or, when no customer has that fiscal code, the
    identity itself, to be linked with the bill's codes."""
    fiscal_code = identity_fiscal_code(identity)
    pending = PendingIdentity(
        scheme=identity.scheme,
        fiscal_code=fiscal_code,
        name=identity.name,
        family_name=identity.family_name,
        email=identity.email,
        verified_at=now.isoformat(),
    )
    with transaction.atomic():
        customers = list(
            Customer.objects.select_for_update()
            .filter(fiscal_code=fiscal_code)
            .order_by("customer_code")
        )
        if not customers:
            return pending
        user = next((u for u in map(_active_account, customers) if u is not None), None)
        if user is None:
            user = _new_account(pending)
        _attach(user, customers, now)
    logger.info("%s sign-in for customer %s", identity.scheme, customers[0].customer_code)
    return user


def identity_link(
    *,
    pending: PendingIdentity,
    customer_code: object,
    supply_code: object,
    now: datetime,
) -> User:
    """Link the identity to the customer the bill's two codes name, once: the customer gets
    the identity's fiscal code and an account, and later sign-ins go straight in.

    Wrong codes count like wrong codes on every channel, against the identity's fiscal code
    and the supply (Throttled past the limit), so the page answers no more guesses than any
    other. Raises IdentityRejected for codes that are malformed or do not match, for a
    customer registered with another fiscal code, and for one who already has an account
    (signed in with e-mail and password: linking would hand that account to whoever holds
    the bill)."""
    try:
        supply = customer_services.supply_identify_by_codes(
            supply_code=supply_code,
            customer_code=customer_code,
            source=f"fiscal_code:{pending.fiscal_code}",
        )
    except FormatError as exc:
        raise IdentityRejected(list(exc.errors)) from None
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=supply.holder_id)
        if customer.fiscal_code and customer.fiscal_code != pending.fiscal_code:
            raise IdentityRejected([FieldError("codes", "other_fiscal_code")])
        if _active_account(customer) is not None:
            raise IdentityRejected([FieldError("codes", "account_exists")])
        customer.fiscal_code = pending.fiscal_code
        if pending.email and not customer.email:
            customer.email = pending.email
        customer.save(update_fields=["fiscal_code", "email"])
        user = _new_account(pending)
        _attach(user, [customer], now)
    logger.info("%s identity linked to customer %s", pending.scheme, customer.customer_code)
    return user
