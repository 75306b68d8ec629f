"""Local stand-ins for WeChat Pay and Alipay that speak each provider's real protocol over real sockets.

Each fake holds key material made in the test (RSA key pairs, a self-signed platform
certificate, an APIv3 key), checks the merchant's signature on every request exactly as the
provider does, signs its answers as the provider does, and makes notifications the way the
provider would send them, so the code under test meets the protocol, not a mock of our code.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import secrets
import socket
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livecommerce.payments.alipay import signing_string


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def self_signed_certificate(key: rsa.RSAPrivateKey, serial: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA test platform")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verifies(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


def lines(*parts: str | bytes) -> bytes:
    return b"".join((p if isinstance(p, bytes) else p.encode()) + b"\n" for p in parts)


class ThreadedServer:
    """An ASGI app under uvicorn in a thread, on a port the OS picked."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("fake provider did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@contextmanager
def serving(app: Any) -> Iterator[ThreadedServer]:
    server = ThreadedServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- WeChat Pay API v3 --------------------------------------------------------------------------


@dataclass
class WeChatTrade:
    out_trade_no: str
    total: int
    currency: str
    trade_type: str
    trade_state: str = "NOTPAY"
    transaction_id: str | None = None
    refunds: list[dict[str, Any]] = field(default_factory=list)


class FakeWeChatPay:
    """WeChat Pay's merchant API for one merchant, with its own platform certificate and the merchant's APIv3 key."""

    def __init__(self, folder: Path) -> None:
        self.mchid = "1900000109"
        self.appid = "wxd678efh567hg6787"
        self.merchant_serial_no = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
        self.merchant_key = rsa_key()
        self.platform_key = rsa_key()
        self.platform_cert = self_signed_certificate(self.platform_key, 0x444F4EBEA6D8D1C0B8CA3B4B4D5E6F01)
        self.platform_serial = format(self.platform_cert.serial_number, "X")
        self.apiv3_key = secrets.token_hex(16)  # 32 ASCII characters, as the merchant platform issues it
        self.trades: dict[str, WeChatTrade] = {}
        self.requests: list[str] = []
        self.refund_status = "SUCCESS"
        self.base_url = ""
        self.hidden_from_bill: set[str] = set()
        self.bill_amounts: dict[str, int] = {}
        self.key_file = folder / "wechatpay_apiclient_key.pem"
        self.key_file.write_bytes(private_pem(self.merchant_key))
        self.cert_file = folder / "wechatpay_platform_cert.pem"
        self.cert_file.write_bytes(self.platform_cert.public_bytes(serialization.Encoding.PEM))
        self.app = Starlette(
            routes=[
                Route("/v3/pay/transactions/{kind}", self._create, methods=["POST"]),
                Route("/v3/pay/transactions/out-trade-no/{no}", self._query, methods=["GET"]),
                Route("/v3/refund/domestic/refunds", self._refund, methods=["POST"]),
                Route("/v3/certificates", self._certificates, methods=["GET"]),
                Route("/v3/bill/tradebill", self._tradebill, methods=["GET"]),
                Route("/v3/billdownload/file", self._billfile, methods=["GET"]),
            ]
        )

    # What the provider's servers do

    def _signed(self, status: int, payload: Any) -> Response:
        body = b"" if payload is None else json.dumps(payload).encode()
        ts, nonce = str(int(time.time())), secrets.token_hex(16)
        headers = {
            "Wechatpay-Serial": self.platform_serial,
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": sign(self.platform_key, lines(ts, nonce, body)),
            "Request-ID": uuid.uuid4().hex,
        }
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    async def _authorized(self, request: Request) -> tuple[bool, bytes]:
        body = await request.body()
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("WECHATPAY2-SHA256-RSA2048 "):
            return False, body
        fields = dict(part.split("=", 1) for part in auth.split(" ", 1)[1].split(","))
        fields = {k: v.strip('"') for k, v in fields.items()}
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        message = lines(request.method, path, fields.get("timestamp", ""), fields.get("nonce_str", ""), body)
        ok = (
            fields.get("mchid") == self.mchid
            and fields.get("serial_no") == self.merchant_serial_no
            and verifies(self.merchant_key.public_key(), message, fields.get("signature", ""))
        )
        return ok, body

    async def _create(self, request: Request) -> Response:
        ok, body = await self._authorized(request)
        self.requests.append(f"POST {request.url.path}")
        if not ok:
            return self._signed(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        data = json.loads(body)
        kind = request.path_params["kind"]
        if data.get("mchid") != self.mchid or data.get("appid") != self.appid or not data.get("notify_url"):
            return self._signed(400, {"code": "PARAM_ERROR", "message": "参数错误"})
        if kind == "jsapi" and not data.get("payer", {}).get("openid"):
            return self._signed(400, {"code": "PARAM_ERROR", "message": "缺少openid"})
        if kind == "h5" and not data.get("scene_info", {}).get("payer_client_ip"):
            return self._signed(400, {"code": "PARAM_ERROR", "message": "缺少scene_info"})
        amount = data["amount"]
        no = data["out_trade_no"]
        existing = self.trades.get(no)
        if existing is not None and existing.total != amount["total"]:
            return self._signed(400, {"code": "INVALID_REQUEST", "message": "商户订单号重复"})
        self.trades[no] = existing or WeChatTrade(no, amount["total"], amount.get("currency", "CNY"), kind.upper())
        if kind == "h5":
            return self._signed(200, {"h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx{no}"})
        return self._signed(200, {"prepay_id": f"wx201410272009395522657a690389285100{no}"})

    def transaction(self, trade: WeChatTrade, *, total: int | None = None, currency: str | None = None) -> dict[str, Any]:
        return {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.transaction_id,
            "trade_type": trade.trade_type,
            "trade_state": trade.trade_state,
            "trade_state_desc": "支付成功" if trade.trade_state == "SUCCESS" else "未支付",
            "bank_type": "CMC",
            "success_time": datetime.now(UTC).isoformat(timespec="seconds"),
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {
                "total": trade.total if total is None else total,
                "payer_total": trade.total if total is None else total,
                "currency": currency or trade.currency,
                "payer_currency": currency or trade.currency,
            },
        }

    async def _query(self, request: Request) -> Response:
        ok, _ = await self._authorized(request)
        self.requests.append(f"GET {request.url.path}")
        if not ok:
            return self._signed(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        if request.query_params.get("mchid") != self.mchid:
            return self._signed(400, {"code": "PARAM_ERROR", "message": "mchid"})
        trade = self.trades.get(request.path_params["no"])
        if trade is None:
            return self._signed(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
        return self._signed(200, self.transaction(trade))

    async def _refund(self, request: Request) -> Response:
        ok, body = await self._authorized(request)
        self.requests.append(f"POST {request.url.path}")
        if not ok:
            return self._signed(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        data = json.loads(body)
        trade = next((t for t in self.trades.values() if t.transaction_id == data.get("transaction_id")), None)
        if trade is None or trade.trade_state not in ("SUCCESS", "REFUND"):
            return self._signed(404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"})
        amount = data["amount"]
        if amount["total"] != trade.total or amount["refund"] > trade.total:
            return self._signed(400, {"code": "PARAM_ERROR", "message": "退款金额错误"})
        earlier = next((r for r in trade.refunds if r["out_refund_no"] == data["out_refund_no"]), None)
        if earlier is None:
            earlier = {
                "refund_id": f"50000{len(trade.refunds) + 1:05d}",
                "out_refund_no": data["out_refund_no"],
                "amount": amount["refund"],
            }
            trade.refunds.append(earlier)
            trade.trade_state = "REFUND"
        return self._signed(
            200, {"refund_id": earlier["refund_id"], "out_refund_no": earlier["out_refund_no"], "status": self.refund_status}
        )

    async def _certificates(self, request: Request) -> Response:
        ok, _ = await self._authorized(request)
        if not ok:
            return self._signed(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        pem = self.platform_cert.public_bytes(serialization.Encoding.PEM)
        return self._signed(200, {"data": [{"serial_no": self.platform_serial, "encrypt_certificate": self.encrypt(pem, "certificate")}]})

    WECHAT_BILL_HEADER = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
        "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
        "手续费,费率,订单金额,申请退款金额,费率备注"
    )

    def bill_file(self) -> bytes:
        """The day's trade bill as WeChat Pay writes it: every field behind a backtick, amounts in yuan, a summary at the end."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.WECHAT_BILL_HEADER.split(","))
        rows = 0
        for trade in self.trades.values():
            if trade.transaction_id is None or trade.out_trade_no in self.hidden_from_bill:
                continue
            total = self.bill_amounts.get(trade.out_trade_no, trade.total)
            yuan = f"{total / 100:.2f}"
            common = [
                "2026-12-01 10:00:00",
                self.appid,
                self.mchid,
                "0",
                "",
                trade.transaction_id,
                trade.out_trade_no,
                "oUpF8u",
                trade.trade_type,
            ]
            pay = [
                *common,
                "SUCCESS",
                "CMC",
                "CNY",
                yuan,
                "0.00",
                "0",
                "0",
                "0.00",
                "0.00",
                "",
                "",
                "Order",
                "",
                "0.01",
                "0.60%",
                yuan,
                "0.00",
                "",
            ]
            writer.writerow([f"`{c}" for c in pay])
            rows += 1
            for refund in trade.refunds:
                r_yuan = f"{refund['amount'] / 100:.2f}"
                ref = [*common, "REFUND", "CMC", "CNY", "0.00", "0.00", refund["refund_id"], refund["out_refund_no"], r_yuan, "0.00"]
                ref += ["ORIGINAL", "SUCCESS", "Order", "", "-0.01", "0.60%", "0.00", r_yuan, ""]
                writer.writerow([f"`{c}" for c in ref])
                rows += 1
        writer.writerow(["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"])
        writer.writerow([f"`{rows}", "`0.00", "`0.00", "`0.00", "`0.00", "`0.00", "`0.00"])
        return out.getvalue().encode("utf-8")

    async def _tradebill(self, request: Request) -> Response:
        ok, _ = await self._authorized(request)
        if not ok:
            return self._signed(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        digest = hashlib.sha1(self.bill_file()).hexdigest()
        link = f"{self.base_url}/v3/billdownload/file?token={secrets.token_hex(8)}"
        return self._signed(200, {"hash_type": "SHA1", "hash_value": digest, "download_url": link})

    async def _billfile(self, request: Request) -> Response:
        ok, _ = await self._authorized(request)
        if not ok:
            return JSONResponse({"code": "SIGN_ERROR"}, status_code=401)
        return Response(self.bill_file(), media_type="application/octet-stream")

    # What the provider's users and notifiers do

    def encrypt(self, plaintext: bytes, associated: str) -> dict[str, str]:
        nonce = secrets.token_hex(6)
        ciphertext = AESGCM(self.apiv3_key.encode()).encrypt(nonce.encode(), plaintext, associated.encode())
        return {
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": associated,
            "nonce": nonce,
            "original_type": associated,
        }

    def buyer_pays(self, out_trade_no: str) -> WeChatTrade:
        trade = self.trades[out_trade_no]
        trade.trade_state = "SUCCESS"
        trade.transaction_id = trade.transaction_id or f"4200000{secrets.randbelow(10**15):015d}"
        return trade

    def notification(
        self,
        out_trade_no: str,
        *,
        total: int | None = None,
        currency: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        timestamp: int | None = None,
        event_type: str = "TRANSACTION.SUCCESS",
    ) -> tuple[dict[str, str], bytes]:
        """A payment notification as WeChat Pay posts it: encrypted resource, platform-signed headers."""
        trade = self.trades[out_trade_no]
        transaction = json.dumps(self.transaction(trade, total=total, currency=currency)).encode()
        envelope = {
            "id": str(uuid.uuid4()),
            "create_time": datetime.now(UTC).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": self.encrypt(transaction, "transaction"),
        }
        body = json.dumps(envelope).encode()
        ts, nonce = str(int(time.time()) if timestamp is None else timestamp), secrets.token_hex(16)
        headers = {
            "Content-Type": "application/json",
            "Wechatpay-Serial": self.platform_serial,
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": sign(key or self.platform_key, lines(ts, nonce, body)),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }
        return headers, body


# --- Alipay open API ----------------------------------------------------------------------------


@dataclass
class AlipayTrade:
    out_trade_no: str
    total_amount: str
    subject: str
    trade_status: str = "WAIT_BUYER_PAY"
    trade_no: str | None = None
    refunds: list[str] = field(default_factory=list)


class FakeAlipay:
    """Alipay's gateway for one application: checks RSA2 on every call and signs every answer."""

    def __init__(self, folder: Path) -> None:
        self.app_id = "2021000118600000"
        self.seller_id = "2088102147948060"
        self.app_key = rsa_key()  # the merchant's application key pair
        self.alipay_key = rsa_key()  # Alipay's own key pair
        self.trades: dict[str, AlipayTrade] = {}
        self.calls: list[str] = []
        self.base_url = ""
        self.hidden_from_bill: set[str] = set()
        self.bill_amounts: dict[str, str] = {}
        self.key_file = folder / "alipay_app_private_key.pem"
        self.key_file.write_bytes(private_pem(self.app_key))
        self.public_key_file = folder / "alipay_public_key.txt"
        # The console shows Alipay's public key as bare base64 DER; the provider reads that form too.
        der = self.alipay_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key_file.write_bytes(base64.b64encode(der))
        self.app = Starlette(
            routes=[Route("/gateway.do", self._gateway, methods=["POST", "GET"]), Route("/bills/{name}", self._bill_zip, methods=["GET"])]
        )

    def _answer(self, method: str, payload: dict[str, Any], *, signed: bool = True) -> Response:
        key = method.replace(".", "_") + "_response"
        content = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        text = f'{{"{key}":{content}'
        if signed:
            text += f',"sign":"{sign(self.alipay_key, content.encode())}"'
        return Response(text + "}", media_type="text/html;charset=utf-8")

    def _check(self, params: dict[str, str]) -> bool:
        return (
            params.get("app_id") == self.app_id
            and params.get("sign_type") == "RSA2"
            and params.get("charset") == "utf-8"
            and verifies(self.app_key.public_key(), signing_string(params), params.get("sign", ""))
        )

    def accept_pay_params(self, params: dict[str, str]) -> AlipayTrade:
        """What the gateway does when the buyer's browser arrives with wap/page pay parameters."""
        assert self._check(params), "pay parameters not signed with the app key"
        assert params["method"] in ("alipay.trade.wap.pay", "alipay.trade.page.pay")
        assert params.get("notify_url")
        biz = json.loads(params["biz_content"])
        trade = AlipayTrade(biz["out_trade_no"], biz["total_amount"], biz["subject"])
        self.trades[trade.out_trade_no] = trade
        return trade

    async def _gateway(self, request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode()))
        method = params.get("method", "")
        self.calls.append(method)
        if not self._check(params):
            return self._answer(method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}, signed=False)
        biz = json.loads(params["biz_content"])
        if method == "alipay.trade.query":
            trade = self.trades.get(biz.get("out_trade_no", ""))
            if trade is None:
                return self._answer(method, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"})
            return self._answer(method, {"code": "10000", "msg": "Success", **self.trade_fields(trade)})
        if method == "alipay.trade.refund":
            trade = next((t for t in self.trades.values() if t.trade_no == biz.get("trade_no")), None)
            if trade is None or trade.trade_status != "TRADE_SUCCESS":
                return self._answer(method, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_STATUS_ERROR"})
            if biz["refund_amount"] != trade.total_amount:
                return self._answer(method, {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"})
            if biz["out_request_no"] not in trade.refunds:
                trade.refunds.append(biz["out_request_no"])
            return self._answer(
                method,
                {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no, "fund_change": "Y"},
            )
        if method == "alipay.data.dataservice.bill.downloadurl.query":
            url = f"{self.base_url}/bills/{secrets.token_hex(8)}.zip"
            return self._answer(method, {"code": "10000", "msg": "Success", "bill_download_url": url})
        return JSONResponse({"error": "unknown method"}, status_code=400)

    ALIPAY_BILL_HEADER = (
        "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
        "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,"
        "卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
    )

    def bill_zip(self) -> bytes:
        """The day's trade bill as Alipay ships it: a zip of GBK CSVs, the detail one with `#` comment lines around it."""
        out = io.StringIO()
        out.write("#支付宝业务明细查询\r\n#账号：[" + self.seller_id + "0156]\r\n")
        out.write("#-----------------------------------------业务明细列表----------------------------------------\r\n")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.ALIPAY_BILL_HEADER.split(","))
        for trade in self.trades.values():
            if trade.trade_no is None or trade.out_trade_no in self.hidden_from_bill:
                continue
            amount = self.bill_amounts.get(trade.out_trade_no, trade.total_amount)
            row = [trade.trade_no, trade.out_trade_no, "交易", trade.subject, "2026-12-01 10:00:00", "2026-12-01 10:00:09", "", "", "", ""]
            writer.writerow(
                [*row, "159****5620", amount, amount, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", "", "-0.24", "0.00", ""]
            )
            for request_no in trade.refunds:
                refund = [trade.trade_no, trade.out_trade_no, "退款", trade.subject, "2026-12-01 11:00:00", "2026-12-01 11:00:01"]
                amounts = [f"-{amount}", f"-{amount}", "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00"]
                writer.writerow([*refund, "", "", "", "", "159****5620", *amounts, request_no, "0.24", "0.00", ""])
        out.write("#-----------------------------------------业务明细列表结束------------------------------------\r\n")
        out.write("#导出时间：[2026年12月02日 09:00:00]\r\n")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr(f"{self.seller_id}0156_20261201_业务明细.csv", out.getvalue().encode("gbk"))
            zipped.writestr(f"{self.seller_id}0156_20261201_业务明细(汇总).csv", "#汇总\r\n".encode("gbk"))
        return archive.getvalue()

    async def _bill_zip(self, request: Request) -> Response:
        return Response(self.bill_zip(), media_type="application/zip")

    def trade_fields(self, trade: AlipayTrade) -> dict[str, str]:
        fields = {
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade.trade_status,
            "total_amount": trade.total_amount,
            "buyer_logon_id": "159****5620",
        }
        if trade.trade_no:
            fields["trade_no"] = trade.trade_no
        return fields

    def buyer_pays(self, out_trade_no: str) -> AlipayTrade:
        trade = self.trades[out_trade_no]
        trade.trade_status = "TRADE_SUCCESS"
        trade.trade_no = trade.trade_no or f"2026120122001{secrets.randbelow(10**15):015d}"
        return trade

    def notification(
        self,
        out_trade_no: str,
        *,
        total_amount: str | None = None,
        extra: dict[str, str] | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """An asynchronous notification as Alipay posts it: a signed form."""
        trade = self.trades[out_trade_no]
        fields = {
            "notify_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex,
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade.trade_no or "",
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade.trade_status,
            "total_amount": total_amount or trade.total_amount,
            "receipt_amount": total_amount or trade.total_amount,
            "seller_id": self.seller_id,
            "subject": trade.subject,
            "gmt_payment": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            **(extra or {}),
        }
        fields["sign"] = sign(key or self.alipay_key, signing_string(fields))
        fields["sign_type"] = "RSA2"
        return {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, urlencode(fields).encode()
