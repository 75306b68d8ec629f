"""Real refusals of the order desk in the reader's language: the product named, the machine fields unchanged."""

from __future__ import annotations

import re

import httpx

from livecommerce.kit.db import Database
from tests.factories import Factory
from tests.livecommerce.orders.helpers import make_buyers, open_stream

CJK = re.compile(r"[\u4e00-\u9fff]")


async def _eggs_shop(make: Factory, db: Database) -> tuple[int, int]:
    county = await make.county()
    assert county.id is not None
    eggs = await make.product(county.id, name="岭南土鸡蛋", stock=1)
    anchor = await make.anchor(county.id)
    assert eggs.id and anchor.id
    return await open_stream(db, anchor.id, [eggs.id]), eggs.id


async def _order(client: httpx.AsyncClient, headers: dict[str, str], stream_id: int, body: object, lang: str | None) -> httpx.Response:
    sent = {**headers, "Idempotency-Key": f"k-{lang}-{id(body)}"}
    if lang:
        sent["Accept-Language"] = lang
    return await client.post(f"/api/streams/{stream_id}/orders", json=body, headers=sent)


class TestOutOfStockByName:
    async def test_chinese_reader_reads_the_product_name_in_chinese(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        stream_id, eggs = await _eggs_shop(make, db)
        buyer = (await make_buyers(db, make, 1))[0]
        body = {"items": [{"product_id": eggs, "quantity": 2}]}
        zh = await _order(client, buyer.headers, stream_id, body, "zh-CN,zh;q=0.9")
        en = await _order(client, buyer.headers, stream_id, body, "en-US")
        default = await _order(client, buyer.headers, stream_id, body, None)
        assert zh.status_code == en.status_code == default.status_code == 409
        assert zh.headers["content-type"].startswith("application/problem+json")
        assert zh.json()["title"] == "库存不足"
        assert zh.headers["content-language"] == "zh-CN" and en.headers["content-language"] == "en"
        assert zh.json()["detail"] == "「岭南土鸡蛋」只剩 1 件，您要了 2 件。"
        assert en.json()["title"] == "Out of stock"
        assert en.json()["detail"] == "岭南土鸡蛋 has 1 unit(s) left; 2 requested."
        assert default.json()["detail"] == en.json()["detail"]  # no Accept-Language: English
        # The machine-readable fields do not change with the language.
        for field in ("type", "status", "product_id", "available"):
            assert zh.json()[field] == en.json()[field]

    async def test_the_pages_language_cookie_chooses_chinese_too(self, client: httpx.AsyncClient, make: Factory, db: Database) -> None:
        stream_id, eggs = await _eggs_shop(make, db)
        buyer = (await make_buyers(db, make, 1))[0]
        client.cookies.set("lc_lang", "zh-CN")
        try:
            r = await _order(client, buyer.headers, stream_id, {"items": [{"product_id": eggs, "quantity": 5}]}, None)
        finally:
            client.cookies.delete("lc_lang")
        assert r.status_code == 409
        assert "岭南土鸡蛋" in r.json()["detail"] and "只剩" in r.json()["detail"]


class TestValidationInChinese:
    async def test_missing_and_out_of_range_fields_are_explained_in_chinese(
        self, client: httpx.AsyncClient, make: Factory, db: Database
    ) -> None:
        stream_id, eggs = await _eggs_shop(make, db)
        buyer = (await make_buyers(db, make, 1))[0]
        body = {"items": [{"product_id": eggs, "quantity": 0}, {"quantity": 1}]}
        zh = await _order(client, buyer.headers, stream_id, body, "zh-CN")
        en = await _order(client, buyer.headers, stream_id, body, "en")
        assert zh.status_code == en.status_code == 422
        assert zh.json()["title"] == "输入无效" and en.json()["title"] == "Invalid input"
        assert CJK.search(zh.json()["detail"]) and not CJK.search(en.json()["detail"])
        by_field = {e["field"]: e for e in zh.json()["errors"]}
        assert by_field.keys() == {e["field"] for e in en.json()["errors"]}
        assert by_field["items.1.product_id"]["message"] == "必填项"
        assert by_field["items.0.quantity"]["message"] == "应大于 0"
        assert [e["type"] for e in zh.json()["errors"]] == [e["type"] for e in en.json()["errors"]]

    async def test_not_signed_in_is_chinese(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/me", headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 401
        assert r.json()["title"] == "未登录" and r.json()["detail"] == "请先登录。"

    async def test_unknown_path_and_wrong_method_are_problems_in_the_language(self, client: httpx.AsyncClient) -> None:
        r = await client.delete("/api/auth/token", headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 405
        assert "此处不允许 DELETE" in r.json()["detail"]
