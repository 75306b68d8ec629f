"""RSA-SHA256 signatures agree with OpenSSL's (the check python-alipay-sdk's own tests make), and never raise."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from livecommerce.payments.keys import KeyFileError, load_private_key, load_public_key, rsa_sign, rsa_verify
from tests.livecommerce.payments.fakes import private_pem, public_pem, rsa_key


@pytest.fixture
def key_files(tmp_path: Path) -> tuple[Path, Path]:
    key = rsa_key()
    private, public = tmp_path / "app_private_key.pem", tmp_path / "app_public_key.pem"
    private.write_bytes(private_pem(key))
    public.write_bytes(public_pem(key.public_key()))
    return private, public


class TestAgainstOpenSSL:
    def test_signature_is_the_one_openssl_makes(self, key_files: tuple[Path, Path]) -> None:
        private, _ = key_files
        ours = rsa_sign(load_private_key(str(private)), b"hello\n")
        theirs = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(private)], input=b"hello\n", capture_output=True, check=True
        ).stdout
        assert ours == base64.b64encode(theirs).decode()

    def test_openssl_signature_verifies(self, key_files: tuple[Path, Path]) -> None:
        private, public = key_files
        message = 'app_id=2021000118600000&biz_content={"subject":"蜂蜜"}&charset=utf-8'.encode()
        theirs = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(private)], input=message, capture_output=True, check=True
        ).stdout
        key = load_public_key(str(public))
        assert rsa_verify(key, message, base64.b64encode(theirs).decode())
        assert not rsa_verify(key, message[:-1], base64.b64encode(theirs).decode())


class TestNeverRaises:
    @pytest.mark.parametrize("signature", [None, "", "not base64!", "é", "\udcff", base64.b64encode(b"short").decode()])
    def test_bad_signature_is_false(self, key_files: tuple[Path, Path], signature: str | None) -> None:
        assert rsa_verify(load_public_key(str(key_files[1])), b"hello", signature) is False

    def test_unreadable_key_file_names_the_file_only(self, tmp_path: Path) -> None:
        bad = tmp_path / "key.pem"
        bad.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n")
        with pytest.raises(KeyFileError) as caught:
            load_private_key(str(bad))
        assert str(bad) in str(caught.value)
        assert "c2VjcmV0" not in str(caught.value)
