"""The service provider's key and self-signed certificate, as the SPID rules want them
(Avviso SPID n. 29 v3, "Specifiche SP pubblici e privati"): RSA 3072 or more, SHA-256, a
SubjectDN with the organization, its identifier (PA:IT-<IPA code> for a public
administration), the entityID as URI, the country and the locality; keyUsage (critical)
digitalSignature and nonRepudiation; the AgID certificate policies, public SP."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_BITS = 3072
URI = x509.ObjectIdentifier("2.5.4.83")
ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")


@dataclass(frozen=True)
class CertificateSubject:
    organization: str
    ipa_code: str
    entity_id: str
    locality: str


def _policies() -> x509.CertificatePolicies:
    return x509.CertificatePolicies(
        [
            x509.PolicyInformation(
                x509.ObjectIdentifier("1.3.76.16"), [x509.UserNotice(None, "AgIDroot")]
            ),
            x509.PolicyInformation(
                x509.ObjectIdentifier("1.3.76.16.6"), [x509.UserNotice(None, "agIDcert")]
            ),
            x509.PolicyInformation(
                x509.ObjectIdentifier("1.3.76.16.4.2.1"), [x509.UserNotice(None, "cert_SP_Pub")]
            ),
        ]
    )


def certificate_make(
    subject: CertificateSubject, *, key_file: Path, cert_file: Path, now: datetime, days: int
) -> None:
    """Write a new key (readable by this user only) and its certificate. Refuses to
    overwrite either: a new key means registering new metadata with AgID."""
    for path in (key_file, cert_file):
        if path.exists():
            raise FileExistsError(f"{path} exists already: move it away to make a new one")
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject.organization),
            x509.NameAttribute(NameOID.COMMON_NAME, subject.organization),
            x509.NameAttribute(URI, subject.entity_id),
            x509.NameAttribute(ORGANIZATION_IDENTIFIER, f"PA:IT-{subject.ipa_code}"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, subject.locality),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(_policies(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
