"""A SPID identity provider of the tests' own, on loopback: pysaml2 acting as one, with a key
and certificate made for the run. It answers the service provider's real AuthnRequest with
a signed Response as SPID providers send them (transient NameID with its NameQualifier, the
entity-format Issuer, the level asked for, fiscalNumber, name, familyName and email).

`LocalIdp.response_for(saml_request, ...)` makes a Response directly (for the Django test
client); `LocalIdp.serve()` runs it as a small HTTP server whose page has an "Accedi" button
that posts the Response to the service provider (for Chromium).
"""

from __future__ import annotations

import base64
import html
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import saml2
from saml2.attribute_converter import AttributeConverter
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_ENTITY, NAMEID_FORMAT_TRANSIENT, NameID
from saml2.server import Server

from autolettura.identity.certificates import CertificateSubject, certificate_make

XMLSEC1 = "/usr/bin/xmlsec1"


@dataclass
class Person:
    fiscal_number: str = "TINIT-RSSMRA80A01H501U"
    name: str = "Mario"
    family_name: str = "Rossi"
    email: str = "mario.rossi@example.org"


@dataclass
class LocalIdp:
    base_url: str
    folder: Path
    sp_metadata: str = ""
    person: Person = field(default_factory=Person)

    def __post_init__(self) -> None:
        self.key_file = self.folder / "idp.key"
        self.cert_file = self.folder / "idp.crt"
        if not self.key_file.exists():
            certificate_make(
                CertificateSubject(
                    organization="IdP di prova",
                    ipa_code="idp_test",
                    entity_id=self.sso_url,
                    locality="Roma",
                ),
                key_file=self.key_file,
                cert_file=self.cert_file,
                now=datetime.now(UTC),
                days=30,
            )
        self.metadata_file = self.folder / "idp-metadata.xml"
        self.metadata_file.write_text(str(entity_descriptor(self._config())))

    @property
    def entity_id(self) -> str:
        # The SPID rules address an AuthnRequest to the provider's entityID, while pysaml2
        # takes only requests addressed to its endpoint: here the two are one address.
        return self.sso_url

    @property
    def sso_url(self) -> str:
        return f"{self.base_url}/sso"

    def _config(self, others: tuple[str, ...] = ()) -> IdPConfig:
        conf = IdPConfig()
        conf.load(
            {
                "entityid": self.entity_id,
                "xmlsec_binary": XMLSEC1,
                "key_file": str(self.key_file),
                "cert_file": str(self.cert_file),
                "metadata": {"inline": [self.sp_metadata, *others]} if self.sp_metadata else {},
                "organization": {
                    "name": [("IdP di prova", "it")],
                    "display_name": [("IdP di prova", "it")],
                    "url": [(self.base_url, "it")],
                },
                "service": {
                    "idp": {
                        "name": "IdP di prova",
                        "endpoints": {
                            "single_sign_on_service": [
                                (self.sso_url, saml2.BINDING_HTTP_POST),
                            ]
                        },
                        "name_id_format": [NAMEID_FORMAT_TRANSIENT],
                        "want_authn_requests_signed": True,
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_BASIC,
                            }
                        },
                    }
                },
            }
        )
        return conf

    def _server(self, others: tuple[str, ...] = ()) -> Server:
        server = Server(config=self._config(others))
        # The SPID names as they are, in the basic format (pysaml2 would rename some, such
        # as `name` and `email`, to their eduPerson URNs).
        names = {n: n for n in ("fiscalNumber", "name", "familyName", "email")}
        converter = AttributeConverter(NAME_FORMAT_BASIC)
        converter.from_dict({"identifier": NAME_FORMAT_BASIC, "fro": names, "to": names})
        server.config.attribute_converters = [converter]
        return server

    def response_for(
        self,
        saml_request: str,
        *,
        audience: str | None = None,
        level: str | None = None,
        sign_assertion: bool = True,
    ) -> str:
        """The base64 SAMLResponse answering `saml_request` (checked: it must be signed by
        the service provider in its metadata), signed-in as `self.person`."""
        server = self._server()
        request = server.parse_authn_request(saml_request, saml2.BINDING_HTTP_POST).message
        sp_entity = request.issuer.text
        if audience:
            # Another service provider known to this provider, with the same assertion
            # consumer address: its assertions are addressed (Audience) to it, not to us.
            other = self.sp_metadata.replace(f'entityID="{sp_entity}"', f'entityID="{audience}"')
            server = self._server((other,))
        acs = server.metadata.assertion_consumer_service(sp_entity, saml2.BINDING_HTTP_POST)[0][
            "location"
        ]
        asked = request.requested_authn_context.authn_context_class_ref[0].text
        identity = {
            "fiscalNumber": [self.person.fiscal_number],
            "name": [self.person.name],
            "familyName": [self.person.family_name],
            "email": [self.person.email],
        }
        response = server.create_authn_response(
            identity=identity,
            in_response_to=request.id,
            destination=acs,
            sp_entity_id=audience or sp_entity,
            name_id=NameID(
                format=NAMEID_FORMAT_TRANSIENT,
                name_qualifier=self.entity_id,
                text=secrets.token_hex(16),
            ),
            authn={"class_ref": level or asked, "authn_auth": self.entity_id},
            sign_assertion=sign_assertion,
            sign_response=True,
        )
        text = str(response)
        # pysaml2 leaves the Issuer's Format out; the SPID rules want it on the assertion.
        text = text.replace(
            f"<ns1:Issuer>{self.entity_id}</ns1:Issuer>",
            f'<ns1:Issuer Format="{NAMEID_FORMAT_ENTITY}">{self.entity_id}</ns1:Issuer>',
        )
        return base64.b64encode(text.encode()).decode()

    # --- As an HTTP server, for the browser --------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(size).decode())
        saml_request = form.get("SAMLRequest", [""])[0]
        relay_state = form.get("RelayState", [""])[0]
        if environ["PATH_INFO"] != "/sso" or not saml_request:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return iter([b"not found"])
        saml_response = self.response_for(saml_request)
        server = Server(config=self._config())
        request = server.parse_authn_request(saml_request, saml2.BINDING_HTTP_POST).message
        acs = server.metadata.assertion_consumer_service(
            request.issuer.text, saml2.BINDING_HTTP_POST
        )[0]["location"]
        page = (
            "<!doctype html><html lang='it'><head><title>IdP di prova</title></head><body>"
            f"<h1>IdP di prova</h1><p>{html.escape(self.person.fiscal_number)}</p>"
            f"<form method='post' action='{html.escape(acs)}'>"
            f"<input type='hidden' name='SAMLResponse' value='{saml_response}'>"
            f"<input type='hidden' name='RelayState' value='{html.escape(relay_state)}'>"
            "<button type='submit'>Accedi</button></form></body></html>"
        )
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return iter([page.encode()])

    @contextmanager
    def serve(self, port: int) -> Iterator[None]:
        class Quiet(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd: WSGIServer = make_server("127.0.0.1", port, self._app, handler_class=Quiet)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            httpd.shutdown()
            httpd.server_close()
