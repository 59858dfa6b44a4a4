"""`autolettura spid-keys`: the key stays private, the certificate carries what the SPID rules
ask for, and neither is ever overwritten."""

from __future__ import annotations

import stat
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from django.core.management import call_command
from django.core.management.base import CommandError


def test_makes_a_private_key_and_a_spid_certificate(settings: Any, tmp_path: Path) -> None:
    settings.AUTOLETTURA_SPID_BASE_URL = "https://sportello.acquedivalmora.example"
    settings.AUTOLETTURA_SPID_IPA_CODE = "c_l750"
    settings.AUTOLETTURA_SPID_KEY_FILE = tmp_path / "spid" / "sp.key"
    settings.AUTOLETTURA_SPID_CERT_FILE = tmp_path / "spid" / "sp.crt"
    out = StringIO()
    call_command("spid_keys", "--locality", "Valmora", stdout=out)
    assert stat.S_IMODE((tmp_path / "spid" / "sp.key").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((tmp_path / "spid" / "sp.crt").read_bytes())
    subject = {a.oid.dotted_string: a.value for a in cert.subject}
    assert subject["2.5.4.97"] == "PA:IT-c_l750"
    assert subject["2.5.4.83"] == "https://sportello.acquedivalmora.example"
    assert cert.public_key().key_size >= 3072  # type: ignore[union-attr]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    with pytest.raises(CommandError, match="exists already"):
        call_command("spid_keys", "--locality", "Valmora", stdout=out)


def test_says_which_settings_are_missing(settings: Any) -> None:
    settings.AUTOLETTURA_SPID_BASE_URL = ""
    settings.AUTOLETTURA_SPID_IPA_CODE = ""
    with pytest.raises(CommandError, match="AUTOLETTURA_SPID_BASE_URL and AUTOLETTURA_SPID_IPA"):
        call_command("spid_keys", "--locality", "Valmora")
