"""RSA-SHA256 signatures and key loading shared by WeChat Pay and Alipay (both sign with PKCS#1 v1.5)."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class KeyFileError(ValueError):
    """A key or certificate file that cannot be used; the message names the file, never its content."""


def load_private_key(path: str) -> rsa.RSAPrivateKey:
    """An RSA private key from a PEM file (PKCS#8 or PKCS#1)."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"cannot read the RSA private key in {path}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError(f"{path} does not hold an RSA private key")
    return key


def load_public_key(path: str) -> rsa.RSAPublicKey:
    """An RSA public key from a PEM file, or Alipay's bare base64 form of one."""
    try:
        data = Path(path).read_bytes().strip()
    except OSError as exc:
        raise KeyFileError(f"cannot read the RSA public key in {path}") from exc
    return public_key_from_bytes(data, source=path)


def public_key_from_bytes(data: bytes, *, source: str) -> rsa.RSAPublicKey:
    """An RSA public key from PEM, or from the bare base64 DER that Alipay's console shows."""
    try:
        if data.startswith(b"-----"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(base64.b64decode(data, validate=False))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise KeyFileError(f"cannot read the RSA public key in {source}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFileError(f"{source} does not hold an RSA public key")
    return key


def load_certificate(data: bytes, *, source: str) -> x509.Certificate:
    """An X.509 certificate from PEM."""
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise KeyFileError(f"cannot read the certificate in {source}") from exc


def certificate_serial(cert: x509.Certificate) -> str:
    """A certificate's serial number as WeChat Pay writes it: upper-case hex."""
    return format(cert.serial_number, "X")


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """The base64 RSA-SHA256 (PKCS#1 v1.5) signature of a message."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature: str | None) -> bool:
    """True when `signature` (base64) is the RSA-SHA256 signature of `message`; never raises."""
    if not signature:
        return False
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
