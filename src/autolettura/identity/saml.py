"""SAML 2 as the SPID technical rules and CIE want it, on pysaml2 and Debian's xmlsec1.

The service provider's metadata (signed, with the SPID and CIE extensions), its signed
AuthnRequest (HTTP-POST binding, the SPID level, transient NameID) and the checks a Response
must pass beyond pysaml2's own (signature of the assertion, audience, InResponseTo among
this browser's outstanding requests, times, Destination and Recipient, issuer formats).
"""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import saml2
import saml2.samlp
import saml2.time_util
from django.conf import settings
from django.urls import reverse
from djangosaml2.overrides import Saml2Client
from saml2.authn_context import requested_authn_context
from saml2.config import SPConfig
from saml2.mdstore import MetadataStore
from saml2.response import AuthnResponse
from saml2.saml import NAMEID_FORMAT_ENTITY, NAMEID_FORMAT_TRANSIENT
from saml2.sigver import pre_signature_part, security_context
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

SPID = "spid"
CIE = "cie"
SCHEMES = (SPID, CIE)

SPID_LEVELS = {
    "1": "https://www.spid.gov.it/SpidL1",
    "2": "https://www.spid.gov.it/SpidL2",
    "3": "https://www.spid.gov.it/SpidL3",
}
# The attributes asked for, by their SPID names (CIE gives the same ones it has).
SPID_ATTRIBUTES = ("fiscalNumber", "name", "familyName", "email")
CIE_ATTRIBUTES = ("fiscalNumber", "name", "familyName", "dateOfBirth")

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
SPID_NS = "https://spid.gov.it/saml-extensions"
CIE_NS = "https://www.cartaidentita.interno.gov.it/saml-extensions"
BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
# How far apart the identity provider's clock and this one's may be.
CLOCK_SKEW = timedelta(minutes=3)


class SamlRejected(Exception):
    """A Response that is not taken; the message is for the log (the customer reads a plain
    page). `status` is the identity provider's own error (SPID's ErrorCode nr..), if any."""

    def __init__(self, message: str, *, provider_status: str = "") -> None:
        super().__init__(message)
        self.provider_status = provider_status


def enabled() -> bool:
    return bool(settings.AUTOLETTURA_SPID_BASE_URL)


def entity_id() -> str:
    return str(settings.AUTOLETTURA_SPID_ENTITY_ID or settings.AUTOLETTURA_SPID_BASE_URL)


def _url(name: str) -> str:
    return str(settings.AUTOLETTURA_SPID_BASE_URL) + reverse(name)


def acs_url() -> str:
    return _url("identity:acs")


def slo_url() -> str:
    return _url("identity:slo")


def metadata_files(scheme: str) -> list[str]:
    if scheme == CIE:
        return list(settings.AUTOLETTURA_CIE_IDP_METADATA)
    return list(settings.AUTOLETTURA_SPID_IDP_METADATA)


def sp_config(scheme: str) -> SPConfig:
    """pysaml2's configuration of this service provider, trusting the identity providers
    of `scheme` only: an assertion from a SPID provider is no CIE sign-in, and the other
    way round."""
    attributes = CIE_ATTRIBUTES if scheme == CIE else SPID_ATTRIBUTES
    conf = SPConfig()
    conf.load(
        {
            "entityid": entity_id(),
            "xmlsec_binary": str(settings.AUTOLETTURA_XMLSEC1),
            "key_file": str(settings.AUTOLETTURA_SPID_KEY_FILE),
            "cert_file": str(settings.AUTOLETTURA_SPID_CERT_FILE),
            "metadata": {"local": metadata_files(scheme)},
            "accepted_time_diff": int(CLOCK_SKEW.total_seconds()),
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "name": str(settings.AUTOLETTURA_UTILITY_NAME),
                    "endpoints": {
                        "assertion_consumer_service": [(acs_url(), saml2.BINDING_HTTP_POST)],
                        "single_logout_service": [(slo_url(), saml2.BINDING_HTTP_POST)],
                    },
                    "name_id_format": [NAMEID_FORMAT_TRANSIENT],
                    "required_attributes": list(attributes),
                    "allow_unsolicited": False,
                    "authn_requests_signed": True,
                    "logout_requests_signed": True,
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "signing_algorithm": SIG_RSA_SHA256,
                    "digest_algorithm": DIGEST_SHA256,
                }
            },
        }
    )
    return conf


# --- Identity providers --------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    entity_id: str
    name: str
    sso_url: str


def providers(scheme: str) -> list[Provider]:
    """The identity providers of `scheme` from their metadata files, by name."""
    files = tuple(metadata_files(scheme))
    stamps = tuple(Path(f).stat().st_mtime_ns if Path(f).exists() else 0 for f in files)
    return list(_providers(files, stamps))


@functools.lru_cache(maxsize=8)
def _providers(files: tuple[str, ...], stamps: tuple[int, ...]) -> tuple[Provider, ...]:
    # Read again only when a file changes (`stamps`): the sign-in page lists them each time.
    found = []
    store = MetadataStore(attrc=[], config=None)
    for path in files:
        store.load("local", path)
    for eid in store.identity_providers():
        names = store.name(eid, langpref="it") or eid
        sso = store.single_sign_on_service(eid, saml2.BINDING_HTTP_POST)
        if sso:
            found.append(Provider(entity_id=eid, name=str(names), sso_url=sso[0]["location"]))
    return tuple(sorted(found, key=lambda p: p.name.lower()))


def provider(scheme: str, eid: str) -> Provider | None:
    return next((p for p in providers(scheme) if p.entity_id == eid), None)


# --- Metadata ------------------------------------------------------------------------------


def _certificate_body() -> str:
    pem = Path(settings.AUTOLETTURA_SPID_CERT_FILE).read_text()
    return "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))


def _text(tag: str, value: str) -> str:
    return f"<{tag}>{escape(value)}</{tag}>"


def _contacts(scheme: str) -> str:
    s = settings
    common = _text("md:EmailAddress", s.AUTOLETTURA_SPID_CONTACT_EMAIL) + (
        _text("md:TelephoneNumber", s.AUTOLETTURA_SPID_CONTACT_PHONE)
        if s.AUTOLETTURA_SPID_CONTACT_PHONE
        else ""
    )
    if scheme == SPID:
        ext = _text("spid:IPACode", s.AUTOLETTURA_SPID_IPA_CODE)
        if s.AUTOLETTURA_SPID_VAT_NUMBER:
            ext += _text("spid:VATNumber", s.AUTOLETTURA_SPID_VAT_NUMBER)
        if s.AUTOLETTURA_SPID_FISCAL_CODE:
            ext += _text("spid:FiscalCode", s.AUTOLETTURA_SPID_FISCAL_CODE)
        ext += "<spid:Public/>"
        return (
            f'<md:ContactPerson contactType="other"><md:Extensions>{ext}</md:Extensions>'
            f"{common}</md:ContactPerson>"
        )
    company = _text("md:Company", str(s.AUTOLETTURA_UTILITY_NAME))
    administrative = (
        "<cie:Public/>"
        + _text("cie:IPACode", s.AUTOLETTURA_SPID_IPA_CODE)
        + _text("cie:Municipality", s.AUTOLETTURA_SPID_MUNICIPALITY)
    )
    technical = "<cie:Public/>" + _text("cie:Municipality", s.AUTOLETTURA_SPID_MUNICIPALITY)
    return "".join(
        f'<md:ContactPerson contactType="{kind}"><md:Extensions>{ext}</md:Extensions>'
        f"{company}{common}</md:ContactPerson>"
        for kind, ext in (("administrative", administrative), ("technical", technical))
    )


def metadata_xml(scheme: str) -> str:
    """The service provider's metadata for `scheme`, signed with its key (the SPID rules
    and CIE's: AuthnRequestsSigned, WantAssertionsSigned, one POST assertion consumer
    service at index 0, the attributes asked for, the organization and contacts)."""
    conf = sp_config(scheme)
    s = settings
    eid = entity_id()
    ident = "_" + re.sub(r"[^A-Za-z0-9]", "", base64.b32encode(eid.encode()).decode())[:40]
    certificate = _certificate_body()
    attributes = CIE_ATTRIBUTES if scheme == CIE else SPID_ATTRIBUTES
    requested = "".join(
        f'<md:RequestedAttribute Name={quoteattr(a)} NameFormat="{BASIC}"/>' for a in attributes
    )
    name = str(s.AUTOLETTURA_UTILITY_NAME)
    url = s.AUTOLETTURA_SPID_ORGANIZATION_URL or s.AUTOLETTURA_SPID_BASE_URL + "/"
    organization = "".join(
        f'<md:{tag} xml:lang="it">{escape(value)}</md:{tag}>'
        for tag, value in (
            ("OrganizationName", name),
            ("OrganizationDisplayName", name),
            ("OrganizationURL", url),
        )
    )
    namespace = f'xmlns:cie="{CIE_NS}"' if scheme == CIE else f'xmlns:spid="{SPID_NS}"'
    signature = str(
        pre_signature_part(ident, certificate, digest_alg=DIGEST_SHA256, sign_alg=SIG_RSA_SHA256)
    )
    xml = (
        f'<md:EntityDescriptor xmlns:md="{MD_NS}" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" {namespace} '
        f"entityID={quoteattr(eid)} ID={quoteattr(ident)}>"
        f"{signature}"
        '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" '
        'AuthnRequestsSigned="true" WantAssertionsSigned="true">'
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
        f"<ds:X509Certificate>{certificate}</ds:X509Certificate>"
        "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        '<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f"Location={quoteattr(slo_url())}/>"
        f"<md:NameIDFormat>{NAMEID_FORMAT_TRANSIENT}</md:NameIDFormat>"
        '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f'Location={quoteattr(acs_url())} index="0" isDefault="true"/>'
        '<md:AttributeConsumingService index="0">'
        f'<md:ServiceName xml:lang="it">{escape(name)}</md:ServiceName>'
        f"{requested}</md:AttributeConsumingService>"
        "</md:SPSSODescriptor>"
        f"<md:Organization>{organization}</md:Organization>"
        f"{_contacts(scheme)}"
        "</md:EntityDescriptor>"
    )
    signed: str = security_context(conf).sign_statement(
        xml, "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", node_id=ident
    )
    return signed


# --- AuthnRequest --------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingRequest:
    request_id: str
    issue_instant: datetime
    sso_url: str
    saml_request: str  # base64, for the auto-submitted form


def _level(scheme: str) -> str:
    # CIE's identity provider answers SpidL3 only (the card and its PIN).
    return SPID_LEVELS["3" if scheme == CIE else str(settings.AUTOLETTURA_SPID_LEVEL)]


def authn_request(scheme: str, idp: Provider) -> OutgoingRequest:
    """A signed AuthnRequest to `idp`, as the SPID rules have it: Destination the
    provider's entityID, Issuer with NameQualifier and the entity format, the level asked
    with Comparison minimum (ForceAuthn above level 1), transient NameID, the assertion
    consumer and attribute set by index 0."""
    client = Saml2Client(sp_config(scheme))
    request = saml2.samlp.AuthnRequest()
    request.id = saml2.s_utils.sid()
    request.version = saml2.VERSION
    request.issue_instant = saml2.time_util.instant()
    request.destination = idp.entity_id if scheme == SPID else idp.sso_url
    request.issuer = saml2.saml.Issuer(
        text=entity_id(), name_qualifier=entity_id(), format=NAMEID_FORMAT_ENTITY
    )
    request.name_id_policy = saml2.samlp.NameIDPolicy(format=NAMEID_FORMAT_TRANSIENT)
    level = _level(scheme)
    request.requested_authn_context = requested_authn_context(class_ref=level)
    request.requested_authn_context.comparison = "minimum"
    if level != SPID_LEVELS["1"]:
        request.force_authn = "true"
    request.assertion_consumer_service_index = "0"
    request.attribute_consuming_service_index = "0"
    signed = client.sign(request, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
    return OutgoingRequest(
        request_id=request.id,
        issue_instant=_instant(request.issue_instant),
        sso_url=idp.sso_url,
        saml_request=base64.b64encode(str(signed).encode()).decode(),
    )


# --- Response ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who the identity provider says signed in."""

    scheme: str
    provider: str
    fiscal_number: str
    name: str
    family_name: str
    email: str
    level: str
    in_response_to: str


_INSTANT_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")


def _instant(value: str | None) -> datetime:
    for fmt in _INSTANT_FORMATS:
        try:
            return datetime.strptime(value or "", fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise SamlRejected(f"not a SAML instant: {value!r}")


def _provider_status(response: saml2.samlp.Response) -> str:
    status = response.status
    if status is None or status.status_code is None:
        raise SamlRejected("no Status")
    code = status.status_code.value
    if code == saml2.samlp.STATUS_SUCCESS:
        return ""
    message = status.status_message.text if status.status_message is not None else ""
    raise SamlRejected(f"the identity provider answered {code}", provider_status=message or code)


def response_check(
    *,
    scheme: str,
    saml_response: str,
    outstanding: dict[str, datetime],
    now: datetime,
) -> Identity:
    """The identity in a SAMLResponse posted to the assertion consumer, once every check of
    the SPID rules passes; SamlRejected otherwise.

    `outstanding` maps the IDs of this browser's requests not yet answered to when they were
    made: a Response to any other request (another browser's, one already used, or none)
    is refused, and so is one issued before its request.
    """
    try:
        raw = base64.b64decode(saml_response, validate=True)
    except (ValueError, TypeError) as exc:
        raise SamlRejected("SAMLResponse is not base64") from exc
    # A first look without trusting anything, for the SPID checks pysaml2 leaves out and
    # for the identity provider's error answers (which carry no assertion to verify).
    try:
        unsigned = saml2.samlp.response_from_string(raw.decode())
    except Exception as exc:
        raise SamlRejected(f"SAMLResponse is not a Response: {exc}") from exc
    if unsigned is None:
        raise SamlRejected("SAMLResponse is not a Response")
    _envelope_check(unsigned, outstanding=outstanding, now=now)
    _provider_status(unsigned)

    client = Saml2Client(sp_config(scheme))
    try:
        parsed: AuthnResponse | None = client.parse_authn_request_response(
            saml_response,
            saml2.BINDING_HTTP_POST,
            outstanding={key: "" for key in outstanding},
        )
    except Exception as exc:
        raise SamlRejected(f"{type(exc).__name__}: {exc}") from exc
    if parsed is None or parsed.assertion is None:
        raise SamlRejected("no verified assertion")
    # Checked again on what pysaml2 verified (the signed assertion), not on the first look:
    # a wrapped document may show one assertion to a parser and sign another.
    return _assertion_identity(scheme, parsed, outstanding=outstanding, now=now)


def _envelope_check(
    response: saml2.samlp.Response, *, outstanding: dict[str, datetime], now: datetime
) -> None:
    if response.version != "2.0":
        raise SamlRejected("Version is not 2.0")
    if not response.id:
        raise SamlRejected("no ID")
    issued = _instant(response.issue_instant)
    requested = outstanding.get(response.in_response_to or "")
    if requested is None:
        raise SamlRejected("InResponseTo names no request of this browser")
    if issued < requested - CLOCK_SKEW or issued > now + CLOCK_SKEW:
        raise SamlRejected("IssueInstant out of range")
    if response.destination != acs_url():
        raise SamlRejected(f"Destination {response.destination!r} is not {acs_url()!r}")
    if response.issuer is None or not (response.issuer.text or "").strip():
        raise SamlRejected("no Issuer")
    if response.issuer.format not in (None, NAMEID_FORMAT_ENTITY):
        raise SamlRejected("Issuer Format is not entity")


def _assertion_identity(
    scheme: str, parsed: AuthnResponse, *, outstanding: dict[str, datetime], now: datetime
) -> Identity:
    response = parsed.response
    assertion = parsed.assertion
    idp = (response.issuer.text or "").strip()
    requested = outstanding[response.in_response_to]
    if len(response.assertion) != 1:
        raise SamlRejected("not exactly one assertion")
    if assertion.version != "2.0" or not assertion.id:
        raise SamlRejected("assertion Version or ID")
    issued = _instant(assertion.issue_instant)
    if issued < requested - CLOCK_SKEW or issued > now + CLOCK_SKEW:
        raise SamlRejected("assertion IssueInstant out of range")
    issuer = assertion.issuer
    if issuer is None or (issuer.text or "").strip() != idp:
        raise SamlRejected("assertion Issuer is not the response's")
    if scheme == SPID and issuer.format != NAMEID_FORMAT_ENTITY:
        raise SamlRejected("assertion Issuer Format is not entity")
    subject = assertion.subject
    if subject is None or subject.name_id is None or not (subject.name_id.text or "").strip():
        raise SamlRejected("no NameID")
    if subject.name_id.format != NAMEID_FORMAT_TRANSIENT or not subject.name_id.name_qualifier:
        raise SamlRejected("NameID not transient with its NameQualifier")
    if not subject.subject_confirmation:
        raise SamlRejected("no SubjectConfirmation")
    for confirmation in subject.subject_confirmation:
        if confirmation.method != "urn:oasis:names:tc:SAML:2.0:cm:bearer":
            raise SamlRejected("SubjectConfirmation Method is not bearer")
        data = confirmation.subject_confirmation_data
        if data is None:
            raise SamlRejected("no SubjectConfirmationData")
        if data.recipient != acs_url():
            raise SamlRejected("Recipient is not this assertion consumer")
        if data.in_response_to != response.in_response_to:
            raise SamlRejected("SubjectConfirmationData InResponseTo differs")
        if _instant(data.not_on_or_after) < now - CLOCK_SKEW:
            raise SamlRejected("SubjectConfirmationData expired")
    conditions = assertion.conditions
    if conditions is None:
        raise SamlRejected("no Conditions")
    if _instant(conditions.not_before) > now + CLOCK_SKEW:
        raise SamlRejected("Conditions NotBefore in the future")
    if _instant(conditions.not_on_or_after) < now - CLOCK_SKEW:
        raise SamlRejected("Conditions expired")
    audiences = [
        (audience.text or "").strip()
        for restriction in conditions.audience_restriction or []
        for audience in restriction.audience or []
    ]
    if audiences != [entity_id()]:
        raise SamlRejected(f"Audience {audiences!r} is not this service provider")
    if not assertion.authn_statement:
        raise SamlRejected("no AuthnStatement")
    context = assertion.authn_statement[0].authn_context
    ref = context.authn_context_class_ref if context is not None else None
    level = (ref.text or "").strip() if ref is not None else ""
    if level not in SPID_LEVELS.values():
        raise SamlRejected(f"unknown level {level!r}")
    if int(level[-1]) < int(_level(scheme)[-1]):
        raise SamlRejected(f"level {level} below {_level(scheme)}")
    attributes = _attributes(assertion)
    fiscal_number = attributes.get("fiscalNumber", "")
    if not fiscal_number:
        raise SamlRejected("no fiscalNumber")
    return Identity(
        scheme=scheme,
        provider=idp,
        fiscal_number=fiscal_number,
        name=attributes.get("name", ""),
        family_name=attributes.get("familyName", ""),
        email=attributes.get("email", ""),
        level=level,
        in_response_to=response.in_response_to,
    )


def _attributes(assertion: Any) -> dict[str, str]:
    if not assertion.attribute_statement:
        raise SamlRejected("no AttributeStatement")
    found: dict[str, str] = {}
    for statement in assertion.attribute_statement:
        if not statement.attribute:
            raise SamlRejected("AttributeStatement without Attribute")
        for attribute in statement.attribute:
            values = [v.text for v in attribute.attribute_value or [] if v.text]
            if attribute.name and values:
                found[attribute.name] = str(values[0]).strip()
    return found
