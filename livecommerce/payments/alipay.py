"""Alipay open API: wap and page pay parameters, notifications, trade query and refunds, all signed RSA2.

Written on `cryptography` and `httpx` rather than `python-alipay-sdk`: that SDK is synchronous
(urllib), pulls in pycryptodomex beside the `cryptography` we already use, and hides the
gateway call behind blocking I/O. The protocol is small: every request's parameters, sorted
by name and joined as `k=v&...`, are signed RSA-SHA256 with the app's private key; a
notification is verified the same way with Alipay's public key (its `sign` and `sign_type`
left out); an API answer is verified over the raw JSON text of its `*_response` member.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa

from livecommerce.kit.clock import utcnow
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
from livecommerce.payments.keys import load_private_key, load_public_key, rsa_sign, rsa_verify

log = structlog.get_logger(__name__)

ALIPAY_ZONE = ZoneInfo("Asia/Shanghai")  # Alipay reads and writes its times in Beijing time
PAID_STATES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
SUCCESS_CODE = "10000"
_decoder = json.JSONDecoder()
_KINDS: dict[str, BillKind] = {"交易": "payment", "退款": "refund"}


@dataclass(frozen=True)
class AlipayConfig:
    """An Alipay application, as the operator obtained it from the open platform console."""

    app_id: str
    app_private_key_file: str
    alipay_public_key_file: str
    notify_url: str
    return_url: str | None = None
    seller_id: str | None = None
    gateway: str = "https://openapi.alipay.com/gateway.do"
    timeout_seconds: float = 10.0
    trade_prefix: str = "LC"


def signing_string(params: Mapping[str, str], *, exclude: frozenset[str] = frozenset({"sign"})) -> bytes:
    """Alipay's content to sign: non-empty parameters other than `exclude`, sorted by name, as `k=v` joined by `&`."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k] != "").encode()


def yuan(fen: int) -> str:
    """Fen as Alipay writes an amount: yuan with two decimals."""
    return f"{fen // 100}.{fen % 100:02d}"


def response_content(text: str, method: str) -> tuple[str, Any, str | None]:
    """The raw JSON text of an answer's `<method>_response` member (what Alipay signed), its value, and the `sign`."""
    key = method.replace(".", "_") + "_response"
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ProviderError(_l("Alipay's answer is not JSON.")) from exc
    marker = f'"{key}"'
    at = text.find(marker)
    if not isinstance(document, dict) or at < 0:
        raise ProviderError(_l("Alipay's answer has no response member."))
    start = text.index(":", at + len(marker)) + 1
    while text[start] in " \t\r\n":
        start += 1
    value, end = _decoder.raw_decode(text, start)
    sign = document.get("sign")
    return text[start:end], value, sign if isinstance(sign, str) else None


class AlipayProvider:
    """Alipay for one application."""

    name = "alipay"
    settles_at_once = False

    def __init__(self, config: AlipayConfig) -> None:
        self.config = config
        self._key: rsa.RSAPrivateKey = load_private_key(config.app_private_key_file)
        self._alipay_key: rsa.RSAPublicKey = load_public_key(config.alipay_public_key_file)

    def signed_params(self, method: str, biz_content: Mapping[str, Any], *, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A request's parameters, the common ones included, with their RSA2 `sign`."""
        params = {
            "app_id": self.config.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": utcnow().astimezone(ALIPAY_ZONE).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz_content, separators=(",", ":"), ensure_ascii=False),
            **(extra or {}),
        }
        params["sign"] = rsa_sign(self._key, signing_string(params))
        return params

    async def _call(self, method: str, biz_content: Mapping[str, Any]) -> dict[str, Any]:
        params = self.signed_params(method, biz_content)
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout_seconds) as client:
                response = await client.post(
                    self.config.gateway,
                    content=urlencode(params).encode(),
                    headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
                )
        except httpx.HTTPError as exc:
            log.warning("alipay_unreachable", method=method, error=type(exc).__name__)
            raise ProviderError(_l("Alipay could not be reached; try again.")) from exc
        if response.status_code != 200:
            raise ProviderError(_l("Alipay answered HTTP {status_code}.", status_code=response.status_code))
        content, value, sign = response_content(response.text, method)
        if not isinstance(value, dict):
            raise ProviderError(_l("Alipay's answer is malformed."))
        # An answer with a business error may come unsigned (a bad app id has no key to sign with).
        if sign is None and value.get("code") != SUCCESS_CODE:
            return value
        if not rsa_verify(self._alipay_key, content.encode(), sign):
            log.warning("alipay_answer_unsigned", method=method)
            raise ProviderError(_l("Alipay's answer was not signed with Alipay's key."))
        return value

    async def start(self, charge: Charge) -> PaymentStarted:
        """The signed parameters of a wap (phone browser) or page (desktop) payment, and the gateway URL that carries them."""
        channel = charge.channel or "wap"
        if channel not in ("wap", "page"):
            raise InvalidInput(
                _l("Alipay has no {channel} payments here; use wap or page.", channel=channel),
                extra={"errors": [{"field": "channel", "message": f"Alipay has no {channel} payments here; use wap or page."}]},
            )
        biz: dict[str, Any] = {
            "out_trade_no": trade_no(self.config.trade_prefix, charge.order_id),
            "total_amount": yuan(charge.amount_fen),
            "subject": charge.description[:256],
            "product_code": "QUICK_WAP_WAY" if channel == "wap" else "FAST_INSTANT_TRADE_PAY",
        }
        if charge.expires_at is not None:
            biz["time_expire"] = charge.expires_at.astimezone(ALIPAY_ZONE).strftime("%Y-%m-%d %H:%M:%S")
        extra = {"notify_url": self.config.notify_url}
        if self.config.return_url:
            # Only the configured page: a return address from the client would be an open redirect.
            extra["return_url"] = self.config.return_url
        method = "alipay.trade.wap.pay" if channel == "wap" else "alipay.trade.page.pay"
        params = self.signed_params(method, biz, extra=extra)
        return PaymentStarted(
            provider=self.name, pay_params={"channel": channel, "url": f"{self.config.gateway}?{urlencode(params)}", "params": params}
        )

    async def verify_notification(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> Verified:
        """Verify the RSA2 signature over the sorted form fields, then read the trade."""
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError) as exc:
            raise NotificationRejected(_l("The notification is not a form.")) from exc
        if fields.get("sign_type") != "RSA2":
            raise NotificationRejected(_l("The notification is not signed RSA2."))
        content = signing_string(fields, exclude=frozenset({"sign", "sign_type"}))
        if not rsa_verify(self._alipay_key, content, fields.get("sign")):
            raise NotificationRejected(_l("The notification is not signed with Alipay's key."))
        return Verified(notice=self._paid_notice(fields), event=str(fields.get("trade_status", "")))

    def _paid_notice(self, trade: Mapping[str, Any]) -> PaymentNotice | None:
        """The notice in a trade Alipay signed, None unless it was paid; NotificationRejected if it is not ours."""
        if trade.get("app_id", self.config.app_id) != self.config.app_id:
            raise NotificationRejected(_l("The trade is not addressed to this application."))
        if self.config.seller_id and trade.get("seller_id", self.config.seller_id) != self.config.seller_id:
            raise NotificationRejected(_l("The trade is not addressed to this seller."))
        order_id = order_id_of(self.config.trade_prefix, trade.get("out_trade_no"))
        if trade.get("trade_status") not in PAID_STATES:
            return None
        amount, txn = fen_of(trade.get("total_amount")), trade.get("trade_no")
        if amount is None or not isinstance(txn, str) or not txn:
            raise NotificationRejected(_l("The trade has no amount or trade number."))
        # Domestic trades are in yuan and name no currency; cross-border ones say which.
        currency = str(trade.get("trans_currency") or trade.get("currency") or CURRENCY).upper()
        return PaymentNotice(provider=self.name, provider_txn_id=txn, order_id=order_id, amount_fen=amount, currency=currency)

    async def query(self, order_id: int) -> PaymentNotice | None:
        """`alipay.trade.query`: the notice if Alipay holds the trade as paid."""
        value = await self._call("alipay.trade.query", {"out_trade_no": trade_no(self.config.trade_prefix, order_id)})
        if value.get("code") != SUCCESS_CODE:
            if value.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return None
            raise ProviderError(_l("Alipay could not query the trade: {code}.", code=value.get("sub_code") or value.get("code")))
        try:
            return self._paid_notice(value)
        except NotificationRejected as exc:
            raise ProviderError(_l("Alipay's answer to the query does not concern this application's trade.")) from exc

    async def refund(self, refund: Refund) -> RefundAccepted:
        """`alipay.trade.refund` of the whole trade; `out_request_no` makes a retry the same refund."""
        biz = {
            "trade_no": refund.provider_txn_id,
            "refund_amount": yuan(refund.amount_fen),
            "out_request_no": refund_no(self.config.trade_prefix, refund.order_id),
        }
        value = await self._call("alipay.trade.refund", {**biz, "refund_reason": refund.reason[:256]})
        if value.get("code") != SUCCESS_CODE:
            raise RefundRefused(_l("Alipay refused the refund: {code}.", code=value.get("sub_code") or value.get("code")))
        return RefundAccepted(
            provider_refund_id=str(value.get("trade_no", refund.provider_txn_id)), status=str(value.get("fund_change", ""))
        )

    async def bill(self, day: date) -> list[BillEntry]:
        """The trade bill of a day: its link from `alipay.data.dataservice.bill.downloadurl.query`, then the zipped CSV."""
        value = await self._call("alipay.data.dataservice.bill.downloadurl.query", {"bill_type": "trade", "bill_date": day.isoformat()})
        if value.get("code") != SUCCESS_CODE:
            if value.get("sub_code") == "isp.bill_not_exist":
                return []
            raise ProviderError(_l("Alipay could not find the bill: {code}.", code=value.get("sub_code") or value.get("code")))
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout_seconds) as client:
                download = await client.get(str(value["bill_download_url"]))
        except (httpx.HTTPError, KeyError) as exc:
            raise ProviderError(_l("Alipay's bill could not be downloaded.")) from exc
        if download.status_code != 200:
            raise ProviderError(_l("Alipay's bill could not be downloaded (HTTP {status_code}).", status_code=download.status_code))
        return parse_trade_bill(download.content, self.config.trade_prefix)

    def reply(self, accepted: bool, message: str) -> ProviderReply:
        """Alipay stops retrying when the answer is the plain text `success`."""
        return ProviderReply(status_code=200 if accepted else 400, body=b"success" if accepted else b"fail", media_type="text/plain")


def _member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's name; Alipay writes them in GBK without the UTF-8 flag, which zipfile reads as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def parse_trade_bill(archive: bytes, prefix: str) -> list[BillEntry]:
    """The payments and refunds in an Alipay trade bill: the detail CSV (GBK, `#` comment lines) inside its zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            detail = next((i for i in zipped.infolist() if "业务明细" in _member_name(i) and "汇总" not in _member_name(i)), None)
            if detail is None:
                raise ProviderError(_l("Alipay's bill has no detail file."))
            text = zipped.read(detail).decode("gbk")
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ProviderError(_l("Alipay's bill cannot be read.")) from exc
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text)) if row and not row[0].startswith("#")]
    if not rows:
        return []
    column = {name: i for i, name in enumerate(rows[0])}
    entries = []
    for row in rows[1:]:
        if len(row) < len(column):
            continue
        order_id = bill_order_id(prefix, row[column["商户订单号"]])
        kind: BillKind | None = _KINDS.get(row[column["业务类型"]])
        if order_id is None or kind is None:
            continue
        amount = fen_of(row[column["订单金额（元）"]].lstrip("-"))
        if amount is None:
            raise ProviderError(_l("Alipay's bill has an amount that cannot be read."))
        entries.append(BillEntry(order_id=order_id, provider_txn_id=row[column["支付宝交易号"]], amount_fen=amount, kind=kind))
    return entries
