"""Developers Italia's own validator, spid-sp-test, against the running service provider
(pytest-django's live server): its SPID and CIE metadata, its AuthnRequest, and how it
handles each of the tool's test Responses (signed by the tool's identity provider; the
correct ones must sign in, every broken or forged one must be refused with a 4xx)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.identity.conftest import SPID_SP_TEST, TOOL_BIN, configure_sp

pytestmark = pytest.mark.django_db(transaction=True)

TOOL_IDP = "https://localhost:8443"


@pytest.fixture
def running_sp(
    settings: Any, live_server: Any, sp_keys: tuple[Path, Path], tool_idp_metadata: Path
) -> str:
    configure_sp(
        settings,
        base_url=live_server.url,
        keys=sp_keys,
        spid=[tool_idp_metadata],
        cie=[tool_idp_metadata],
    )
    return str(live_server.url)


def spid_sp_test(tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run the tool; its JSON report. It exits non-zero when any check fails."""
    report = tmp_path / "report.json"
    run = subprocess.run(
        [str(SPID_SP_TEST), *args, "-rf", "json", "-o", str(report), "-d", "ERROR"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    summary = run.stdout + run.stderr
    assert run.returncode == 0, summary[-4000:]
    assert ", 0 failed" in summary, summary[-4000:]
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def _checks(report: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """The report's checks of the categories starting with `prefix` (metadata_strict,
    metadata_extra, authnrequest_strict, authnrequest_extra, response)."""
    return [
        check
        for category, by_class in report["test"]["sp"].items()
        if category.startswith(prefix)
        for checks in by_class.values()
        for check in checks
    ]


def test_spid_metadata_passes_spid_sp_test(running_sp: str, tmp_path: Path) -> None:
    report = spid_sp_test(
        tmp_path,
        "--metadata-url",
        f"{running_sp}/accedi/spid/metadata/",
        "--profile",
        "spid-sp-public",
        "--extra",
    )
    checks = _checks(report, "metadata")
    assert len(checks) > 50
    assert all(c["result"] == "success" for c in checks)


def test_cie_metadata_passes_spid_sp_test(running_sp: str, tmp_path: Path) -> None:
    report = spid_sp_test(
        tmp_path,
        "--metadata-url",
        f"{running_sp}/accedi/cie/metadata/",
        "--profile",
        "cie-sp-public",
    )
    assert all(c["result"] == "success" for c in _checks(report, "metadata"))


def test_authn_request_and_responses_pass_spid_sp_test(running_sp: str, tmp_path: Path) -> None:
    """The AuthnRequest's checks, then every test Response posted to the assertion
    consumer: the tool checks each answer's HTTP status (200 after the sign-in for the
    correct ones, 4xx for the rest)."""
    report = spid_sp_test(
        tmp_path,
        "--metadata-url",
        f"{running_sp}/accedi/spid/metadata/",
        "--authn-url",
        f"{running_sp}/accedi/spid/?idp={TOOL_IDP}",
        "--extra",
        "--test-response",
    )
    requests = _checks(report, "authnrequest")
    assert len(requests) > 20
    assert all(c["result"] == "success" for c in requests)
    responses = _checks(report, "response")
    assert len(responses) > 100
    assert all(c["result"] == "success" for c in responses)


def test_certificate_is_spid_compliant(sp_keys: tuple[Path, Path]) -> None:
    """The certificate `spid-keys` makes, checked by spid-compliant-certificates (the
    validator spid-sp-test runs on production metadata) for a public service provider."""
    _, cert_file = sp_keys
    script = (
        "import json, pathlib, sys\n"
        "from spid_compliant_certificates.validator.validate import validate\n"
        "report = validate(pathlib.PosixPath(sys.argv[1]), 'public').as_dict()\n"
        "print(json.dumps([c for t in report['tests'] for c in t['checks']], default=str))\n"
    )
    run = subprocess.run(
        [str(TOOL_BIN / "python"), "-c", script, str(cert_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    checks = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(checks) > 10
    failed = [c for c in checks if c["result"] != "success"]
    assert not failed, failed
