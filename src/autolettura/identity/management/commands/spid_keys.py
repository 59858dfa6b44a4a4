"""`autolettura spid-keys`: the SPID and CIE service provider's key and certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from autolettura import clock
from autolettura.identity import saml
from autolettura.identity.certificates import CertificateSubject, certificate_make


class Command(BaseCommand):
    help = (
        "Make the key and the self-signed certificate that sign the SPID and CIE metadata "
        "and requests, with the extensions the SPID rules ask for (Avviso SPID n. 29 v3). "
        "Written to AUTOLETTURA_SPID_KEY_FILE and AUTOLETTURA_SPID_CERT_FILE; never "
        "overwritten."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--locality", required=True, help="the utility's town, as in its address"
        )
        parser.add_argument(
            "--days", type=int, default=730, help="how long the certificate lasts (days)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        missing = [
            name
            for name in ("AUTOLETTURA_SPID_BASE_URL", "AUTOLETTURA_SPID_IPA_CODE")
            if not getattr(settings, name)
        ]
        if missing:
            raise CommandError(f"Set {' and '.join(missing)} first (see .env.example).")
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        key_file = Path(settings.AUTOLETTURA_SPID_KEY_FILE)
        cert_file = Path(settings.AUTOLETTURA_SPID_CERT_FILE)
        try:
            certificate_make(
                CertificateSubject(
                    organization=str(settings.AUTOLETTURA_UTILITY_NAME),
                    ipa_code=str(settings.AUTOLETTURA_SPID_IPA_CODE),
                    entity_id=saml.entity_id(),
                    locality=options["locality"],
                ),
                key_file=key_file,
                cert_file=cert_file,
                now=clock.now(),
                days=options["days"],
            )
        except FileExistsError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Key: {key_file} (readable by this user only)\nCertificate: {cert_file}")
