"""What the sign-in page offers: the SPID identity providers and CIE, when configured."""

from __future__ import annotations

from typing import Any

from autolettura.identity import saml


def sign_in_options() -> dict[str, Any]:
    if not saml.enabled():
        return {"spid_providers": [], "cie_enabled": False}
    return {
        "spid_providers": saml.providers(saml.SPID),
        "cie_enabled": bool(saml.providers(saml.CIE)),
    }
