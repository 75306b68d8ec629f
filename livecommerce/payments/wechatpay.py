"""WeChat Pay API v3: JSAPI (mini-program) and H5 orders, notifications, order query and refunds.

Written on `cryptography` and `httpx` rather than the `wechatpayv3` SDK: the SDK is
synchronous (requests) and downloads the platform certificates inside its constructor, which
would block the event loop and make every test reach the internet. The protocol is small:
each request carries an RSA-SHA256 signature of `method\\nurl\\ntimestamp\\nnonce\\nbody\\n`
made with the merchant's API key; each answer and each notification is signed the same way
(`timestamp\\nnonce\\nbody\\n`) with the platform certificate named by `Wechatpay-Serial`; a
notification's resource is AES-256-GCM encrypted under the APIv3 key.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from livecommerce.kit.errors import InvalidInput
from livecommerce.kit.i18n import _l
from livecommerce.payments.base import (
    CURRENCY,
    BillEntry,
    BillKind,
    Charge,
    NotificationRejected,
    PaymentNotice,
    PaymentStarted,
    ProviderError,
    ProviderReply,
    Refund,
    RefundAccepted,
    RefundRefused,
    Verified,
    bill_order_id,
    fen_of,
    order_id_of,
    refund_no,
    trade_no,
)
from livecommerce.payments.keys import certificate_serial, load_certificate, load_private_key, rsa_sign, rsa_verify

log = structlog.get_logger(__name__)

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
PAID_STATES = frozenset({"SUCCESS"})
ACCEPTED_REFUNDS = frozenset({"SUCCESS", "PROCESSING"})
CERT_REFRESH_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class WeChatPayConfig:
    """A merchant's WeChat Pay account, as the operator obtained it from the merchant platform."""

    mchid: str
    appid: str
    merchant_serial_no: str
    private_key_file: str
    apiv3_key: str
    notify_url: str
    platform_cert_files: tuple[str, ...] = ()
    api_base: str = "https://api.mch.weixin.qq.com"
    notify_max_age_seconds: int = 300
    timeout_seconds: float = 10.0
    trade_prefix: str = "LC"


def decrypt_resource(apiv3_key: bytes, resource: Mapping[str, Any]) -> bytes:
    """AES-256-GCM decryption of a notification's or certificate's encrypted resource; ValueError if it fails."""
    try:
        nonce = str(resource["nonce"]).encode()
        associated = str(resource.get("associated_data") or "").encode()
        ciphertext = base64.b64decode(str(resource["ciphertext"]), validate=True)
        plain: bytes = AESGCM(apiv3_key).decrypt(nonce, ciphertext, associated)
        return plain
    except (KeyError, TypeError, binascii.Error, InvalidTag, ValueError) as exc:
        raise ValueError("the resource does not decrypt under the APIv3 key") from exc


def signed_message(*parts: str | bytes) -> bytes:
    """The string WeChat Pay signs: each part followed by a newline."""
    return b"".join((p if isinstance(p, bytes) else p.encode()) + b"\n" for p in parts)


class WeChatPayProvider:
    """WeChat Pay API v3 for one merchant."""

    name = "wechatpay"
    settles_at_once = False

    def __init__(self, config: WeChatPayConfig) -> None:
        self.config = config
        self._key: rsa.RSAPrivateKey = load_private_key(config.private_key_file)
        self._apiv3_key = config.apiv3_key.encode()
        if len(self._apiv3_key) != 32:
            raise ValueError("the WeChat Pay APIv3 key must be 32 bytes")
        self._certs: dict[str, rsa.RSAPublicKey] = {}
        for path in config.platform_cert_files:
            self._add_certificate(Path(path).read_bytes(), source=path)
        self._refreshed_at = 0.0

    # --- the merchant's side of the protocol -------------------------------------------------

    def authorization(self, method: str, url_path: str, body: str, *, timestamp: str | None = None, nonce: str | None = None) -> str:
        """The `Authorization` header of a request: the merchant's signature over method, path, time, nonce and body."""
        ts = timestamp or str(int(time.time()))
        nonce_str = nonce or secrets.token_hex(16)
        signature = rsa_sign(self._key, signed_message(method, url_path, ts, nonce_str, body))
        return (
            f'{SCHEMA} mchid="{self.config.mchid}",nonce_str="{nonce_str}",signature="{signature}",'
            f'timestamp="{ts}",serial_no="{self.config.merchant_serial_no}"'
        )

    async def _call(self, method: str, url_path: str, payload: Mapping[str, Any] | None = None, *, verify: bool = True) -> httpx.Response:
        body = "" if payload is None else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        headers = {
            "Authorization": self.authorization(method, url_path, body),
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "livecommerce",
        }
        try:
            async with httpx.AsyncClient(base_url=self.config.api_base, timeout=self.config.timeout_seconds) as client:
                response = await client.request(method, url_path, content=body.encode() if body else None, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("wechatpay_unreachable", path=url_path.split("?")[0], error=type(exc).__name__)
            raise ProviderError(_l("WeChat Pay could not be reached; try again.")) from exc
        if verify and response.status_code < 500 and not await self._response_is_signed(response):
            log.warning("wechatpay_answer_unsigned", path=url_path.split("?")[0], status=response.status_code)
            raise ProviderError(_l("WeChat Pay's answer was not signed by a platform certificate."))
        return response

    async def _response_is_signed(self, response: httpx.Response) -> bool:
        h = response.headers
        return await self._signature_checks(
            h.get("Wechatpay-Serial"),
            h.get("Wechatpay-Timestamp"),
            h.get("Wechatpay-Nonce"),
            h.get("Wechatpay-Signature"),
            response.content,
        )

    # --- platform certificates -----------------------------------------------------------------

    def _add_certificate(self, pem: bytes, *, source: str) -> None:
        cert = load_certificate(pem, source=source)
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError(f"{source} is not an RSA certificate")
        self._certs[certificate_serial(cert)] = key

    async def refresh_certificates(self) -> None:
        """Download the platform certificates (`GET /v3/certificates`); each is decrypted, so only WeChat Pay could have sent it.

        WeChat Pay rotates them: a notification signed by a certificate this process has not
        seen triggers one refresh (at most once a minute), so a rotation needs no restart.
        """
        self._refreshed_at = time.monotonic()
        response = await self._call("GET", "/v3/certificates", verify=False)
        if response.status_code != 200:
            raise ProviderError(_l("WeChat Pay refused the certificate download ({status_code}).", status_code=response.status_code))
        for item in response.json().get("data", []):
            try:
                pem = decrypt_resource(self._apiv3_key, item["encrypt_certificate"])
                self._add_certificate(pem, source=f"certificate {item.get('serial_no')}")
            except (KeyError, TypeError, ValueError):
                log.warning("wechatpay_certificate_unreadable", serial=item.get("serial_no") if isinstance(item, dict) else None)

    async def _platform_key(self, serial: str) -> rsa.RSAPublicKey | None:
        key = self._certs.get(serial)
        if key is None and time.monotonic() - self._refreshed_at > CERT_REFRESH_INTERVAL_SECONDS:
            try:
                await self.refresh_certificates()
            except ProviderError:
                return None
            key = self._certs.get(serial)
        return key

    async def _signature_checks(self, serial: str | None, ts: str | None, nonce: str | None, signature: str | None, body: bytes) -> bool:
        if not (serial and ts and nonce and signature) or not serial.isascii():
            return False
        key = await self._platform_key(serial.upper())
        return key is not None and rsa_verify(key, signed_message(ts, nonce, body), signature)

    # --- the PaymentProvider interface -----------------------------------------------------------

    async def start(self, charge: Charge) -> PaymentStarted:
        """Create a JSAPI order (when the payer's openid is known) or an H5 order, and the client's pay parameters."""
        channel = charge.channel or ("jsapi" if charge.openid else "h5")
        payload: dict[str, Any] = {
            "appid": self.config.appid,
            "mchid": self.config.mchid,
            "description": charge.description[:127],
            "out_trade_no": trade_no(self.config.trade_prefix, charge.order_id),
            "notify_url": self.config.notify_url,
            "amount": {"total": charge.amount_fen, "currency": CURRENCY},
        }
        if charge.expires_at is not None:
            # The provider then refuses to take money after the reservation ran out.
            payload["time_expire"] = charge.expires_at.isoformat(timespec="seconds")
        if channel == "jsapi":
            if not charge.openid:
                raise InvalidInput(
                    _l("A WeChat JSAPI payment needs the payer's openid."),
                    extra={"errors": [{"field": "openid", "message": "A WeChat JSAPI payment needs the payer's openid."}]},
                )
            payload["payer"] = {"openid": charge.openid}
        elif channel == "h5":
            payload["scene_info"] = {"payer_client_ip": charge.client_ip or "127.0.0.1", "h5_info": {"type": "Wap"}}
        else:
            raise InvalidInput(
                _l("WeChat Pay has no {channel} payments here; use jsapi or h5.", channel=channel),
                extra={"errors": [{"field": "channel", "message": f"WeChat Pay has no {channel} payments here; use jsapi or h5."}]},
            )
        response = await self._call("POST", f"/v3/pay/transactions/{channel}", payload)
        data = self._json_or_error(response, "create the order")
        if channel == "h5":
            return PaymentStarted(provider=self.name, pay_params={"channel": "h5", "h5_url": str(data["h5_url"])})
        return PaymentStarted(provider=self.name, pay_params={"channel": "jsapi", **self.jsapi_params(str(data["prepay_id"]))})

    def jsapi_params(self, prepay_id: str, *, timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
        """What `wx.requestPayment` (or the JSAPI bridge) needs: signed with the merchant key over appId, time, nonce, package."""
        ts = timestamp or str(int(time.time()))
        nonce_str = nonce or secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        pay_sign = rsa_sign(self._key, signed_message(self.config.appid, ts, nonce_str, package))
        return {
            "appId": self.config.appid,
            "timeStamp": ts,
            "nonceStr": nonce_str,
            "package": package,
            "signType": "RSA",
            "paySign": pay_sign,
        }

    async def verify_notification(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> Verified:
        """Check the platform signature and freshness, decrypt the resource, and read the transaction in it."""
        ts = headers.get("Wechatpay-Timestamp")
        if not await self._signature_checks(
            headers.get("Wechatpay-Serial"), ts, headers.get("Wechatpay-Nonce"), headers.get("Wechatpay-Signature"), body
        ):
            raise NotificationRejected(_l("The notification is not signed by a WeChat Pay platform certificate."))
        assert ts is not None
        if not ts.isdigit() or abs(now.timestamp() - int(ts)) > self.config.notify_max_age_seconds:
            raise NotificationRejected(_l("The notification's timestamp is too far from now."))
        try:
            envelope = json.loads(body)
            resource = envelope["resource"]
            if resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise ValueError("unknown algorithm")
            transaction = json.loads(decrypt_resource(self._apiv3_key, resource))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise NotificationRejected(_l("The notification's resource does not decrypt under the APIv3 key.")) from exc
        event = str(envelope.get("event_type", ""))
        if event != "TRANSACTION.SUCCESS":
            return Verified(notice=None, event=event)
        return Verified(notice=self._paid_notice(transaction), event=event)

    def _paid_notice(self, transaction: Any) -> PaymentNotice | None:
        """The notice in a transaction WeChat Pay signed, None unless it was paid; NotificationRejected if it is not ours."""
        if not isinstance(transaction, dict):
            raise NotificationRejected(_l("The transaction is malformed."))
        if transaction.get("mchid") != self.config.mchid or transaction.get("appid") != self.config.appid:
            raise NotificationRejected(_l("The transaction is not addressed to this merchant."))
        order_id = order_id_of(self.config.trade_prefix, transaction.get("out_trade_no"))
        if transaction.get("trade_state") not in PAID_STATES:
            return None
        amount = transaction.get("amount") or {}
        total, txn = amount.get("total"), transaction.get("transaction_id")
        if not isinstance(total, int) or isinstance(total, bool) or not isinstance(txn, str) or not txn:
            raise NotificationRejected(_l("The transaction has no amount or transaction id."))
        return PaymentNotice(
            provider=self.name, provider_txn_id=txn, order_id=order_id, amount_fen=total, currency=str(amount.get("currency") or CURRENCY)
        )

    async def query(self, order_id: int) -> PaymentNotice | None:
        """`GET /v3/pay/transactions/out-trade-no/{no}`: the notice if WeChat Pay holds the order as paid."""
        no = quote(trade_no(self.config.trade_prefix, order_id), safe="")
        response = await self._call("GET", f"/v3/pay/transactions/out-trade-no/{no}?mchid={quote(self.config.mchid, safe='')}")
        if response.status_code == 404:
            return None
        data = self._json_or_error(response, "query the order")
        try:
            return self._paid_notice(data)
        except NotificationRejected as exc:
            raise ProviderError(_l("WeChat Pay's answer to the query does not concern this merchant's order.")) from exc

    async def refund(self, refund: Refund) -> RefundAccepted:
        """`POST /v3/refund/domestic/refunds`; accepted when WeChat Pay answers SUCCESS or PROCESSING."""
        payload = {
            "transaction_id": refund.provider_txn_id,
            "out_refund_no": refund_no(self.config.trade_prefix, refund.order_id),
            "reason": refund.reason[:80],
            "amount": {"refund": refund.amount_fen, "total": refund.total_fen, "currency": CURRENCY},
        }
        response = await self._call("POST", "/v3/refund/domestic/refunds", payload)
        if 400 <= response.status_code < 500:
            raise RefundRefused(_l("WeChat Pay refused the refund: {code}.", code=_error_code(response)))
        data = self._json_or_error(response, "refund")
        status = str(data.get("status", ""))
        if status not in ACCEPTED_REFUNDS:
            raise RefundRefused(_l("WeChat Pay did not accept the refund (status {provider_status}).", provider_status=status or "unknown"))
        return RefundAccepted(provider_refund_id=str(data.get("refund_id", "")), status=status)

    def reply(self, accepted: bool, message: str) -> ProviderReply:
        """WeChat Pay's expected answer: 200 to take the notification, 4xx with `{"code": "FAIL"}` to have it retried."""
        if accepted:
            return ProviderReply(status_code=200, body=b"", media_type="application/json")
        body = json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False).encode()
        return ProviderReply(status_code=400, body=body, media_type="application/json")

    async def bill(self, day: date) -> list[BillEntry]:
        """The trade bill of a day (`GET /v3/bill/tradebill`), downloaded and checked against the hash WeChat Pay signed."""
        response = await self._call("GET", f"/v3/bill/tradebill?bill_date={day.isoformat()}&bill_type=ALL")
        if response.status_code == 400 and _error_code(response) == "NO_STATEMENT_EXIST":
            return []
        data = self._json_or_error(response, "find the bill")
        # The file is fetched from our own API base whatever host the link names: a merchant-signed request goes nowhere else.
        link = urlsplit(str(data.get("download_url", "")))
        download = await self._call("GET", link.path + (f"?{link.query}" if link.query else ""), verify=False)
        if download.status_code != 200:
            raise ProviderError(_l("WeChat Pay's bill could not be downloaded (HTTP {status_code}).", status_code=download.status_code))
        if hashlib.sha1(download.content).hexdigest() != str(data.get("hash_value", "")).lower():  # noqa: S324 - WeChat Pay's own choice of hash
            raise ProviderError(_l("WeChat Pay's bill does not match the hash in its signed answer."))
        return parse_trade_bill(download.content.decode("utf-8-sig"), self.config.trade_prefix)

    def _json_or_error(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code >= 300:
            log.warning("wechatpay_error", action=what, status=response.status_code, code=_error_code(response))
            raise ProviderError(_l("WeChat Pay could not {what}: {code}.", what=what, code=_error_code(response)))
        try:
            data = response.json()
        except ValueError as exc:
            raise ProviderError(_l("WeChat Pay's answer to {what} is not JSON.", what=what)) from exc
        if not isinstance(data, dict):
            raise ProviderError(_l("WeChat Pay's answer to {what} is malformed.", what=what))
        return data


def _error_code(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    return str(data.get("code", f"HTTP {response.status_code}")) if isinstance(data, dict) else f"HTTP {response.status_code}"


def parse_trade_bill(text: str, prefix: str) -> list[BillEntry]:
    """The payments and refunds in a WeChat Pay trade bill (CSV, each field behind a backtick, amounts in yuan)."""
    rows = [[cell.strip().lstrip("`") for cell in row] for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        return []
    header, entries = rows[0], []
    column = {name: i for i, name in enumerate(header)}
    for row in rows[1:]:
        if row[0].startswith("总交易单数") or len(row) < len(header):
            break
        order_id = bill_order_id(prefix, row[column["商户订单号"]])
        if order_id is None:
            continue
        txn, state = row[column["微信订单号"]], row[column["交易状态"]]
        kind: BillKind
        if state == "SUCCESS":
            amount = fen_of(row[column["订单金额"]] if "订单金额" in column else row[column["应结订单金额"]])
            kind = "payment"
        elif state == "REFUND":
            amount = fen_of(row[column["申请退款金额"]] if "申请退款金额" in column else row[column["退款金额"]])
            kind = "refund"
        else:
            continue
        if amount is None:
            raise ProviderError(_l("WeChat Pay's bill has an amount that cannot be read."))
        entries.append(BillEntry(order_id=order_id, provider_txn_id=txn, amount_fen=amount, kind=kind))
    return entries
