"""A service provider configured for the run: its own key and certificate (made here, never
a committed one), the settings of a public administration, and the identity providers'
metadata: the local pysaml2 identity provider's and, for spid-sp-test, the tool's own."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from autolettura.identity import saml
from autolettura.identity.certificates import CertificateSubject, certificate_make
from tests.identity.idp import LocalIdp

# spid-sp-test and its pinned dependencies live in a virtualenv of their own (`make install`):
# they pin versions (packaging, pyparsing) the product's test tools cannot share.
TOOL_BIN = Path(__file__).resolve().parents[2] / ".venv" / "spid-sp-test" / "bin"
SPID_SP_TEST = TOOL_BIN / "spid_sp_test"
IDP_PORT = 8791


@dataclass
class ServiceProvider:
    base_url: str
    key_file: Path
    cert_file: Path


@pytest.fixture(scope="session")
def sp_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("spid-sp")
    key_file, cert_file = folder / "sp.key", folder / "sp.crt"
    certificate_make(
        CertificateSubject(
            organization="Acque di Valmora",
            ipa_code="c_l750",
            entity_id="http://testserver",
            locality="Valmora",
        ),
        key_file=key_file,
        cert_file=cert_file,
        now=datetime.now(UTC),
        days=30,
    )
    return key_file, cert_file


@pytest.fixture(scope="session")
def tool_idp_metadata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SPID_SP_TEST.exists():
        pytest.fail(f"{SPID_SP_TEST} is missing: run `make install`")
    path = tmp_path_factory.mktemp("spid-sp-test") / "idp-metadata.xml"
    made = subprocess.run(
        [str(SPID_SP_TEST), "--idp-metadata"], capture_output=True, text=True, check=True
    )
    path.write_text(made.stdout)
    return path


def configure_sp(
    settings: Any, *, base_url: str, keys: tuple[Path, Path], spid: list[Path], cie: list[Path]
) -> None:
    settings.AUTOLETTURA_SPID_BASE_URL = base_url
    settings.AUTOLETTURA_SPID_ENTITY_ID = ""
    settings.AUTOLETTURA_SPID_KEY_FILE, settings.AUTOLETTURA_SPID_CERT_FILE = keys
    settings.AUTOLETTURA_SPID_IDP_METADATA = [str(p) for p in spid]
    settings.AUTOLETTURA_CIE_IDP_METADATA = [str(p) for p in cie]
    settings.AUTOLETTURA_SPID_LEVEL = "2"
    settings.AUTOLETTURA_SPID_IPA_CODE = "c_l750"
    settings.AUTOLETTURA_SPID_VAT_NUMBER = "IT01234567890"
    settings.AUTOLETTURA_SPID_FISCAL_CODE = "01234567890"
    settings.AUTOLETTURA_SPID_CONTACT_EMAIL = "spid@acquedivalmora.example"
    settings.AUTOLETTURA_SPID_CONTACT_PHONE = "+390131000000"
    settings.AUTOLETTURA_SPID_MUNICIPALITY = "L750"


@pytest.fixture
def local_idp(tmp_path: Path) -> LocalIdp:
    return LocalIdp(base_url=f"http://127.0.0.1:{IDP_PORT}", folder=tmp_path)


@pytest.fixture
def sp(settings: Any, sp_keys: tuple[Path, Path], local_idp: LocalIdp) -> LocalIdp:
    """The service provider at the test client's address, trusting the local identity
    provider for SPID; the identity provider knows the service provider's metadata."""
    configure_sp(
        settings,
        base_url="http://testserver",
        keys=sp_keys,
        spid=[local_idp.metadata_file],
        cie=[],
    )
    local_idp.sp_metadata = saml.metadata_xml(saml.SPID)
    return local_idp
