"""The OpenAPI schema tells the truth: problem+json errors, the raw bodies described, strict inputs, bounds stated."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from livecommerce.kit.errors import PROBLEM_JSON

METHODS = ("get", "post", "put", "patch", "delete")


async def _schema(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in schema["paths"].items() for method, op in item.items() if method in METHODS]


def _models(base: type[BaseModel]) -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for sub in base.__subclasses__():
        found.setdefault(sub.__name__, sub)
        found.update({k: v for k, v in _models(sub).items() if k not in found})
    return found


def _nested(components: dict[str, Any], names: set[str]) -> set[str]:
    """The models the named ones contain (a line of an order, a split of a product), transitively."""
    found: set[str] = set()
    todo = list(names)
    while todo:
        for prop in components[todo.pop()].get("properties", {}).values():
            for variant in [prop, prop.get("items", {}), *prop.get("anyOf", [])]:
                ref = variant.get("$ref") or variant.get("items", {}).get("$ref")
                name = ref.rsplit("/", 1)[-1] if ref else None
                if name and name not in found and name not in names and "properties" in components[name]:
                    found.add(name)
                    todo.append(name)
    return found


class TestErrorsAreProblems:
    async def test_every_error_answer_of_every_operation_is_problem_json(self, client: httpx.AsyncClient) -> None:
        schema = await _schema(client)
        wrong = [
            (method, path, status, list(answer.get("content", {})))
            for method, path, op in _operations(schema)
            for status, answer in op["responses"].items()
            if status[:1] in ("4", "5") and list(answer.get("content", {})) != [PROBLEM_JSON]
        ]
        assert wrong == []
        assert len(_operations(schema)) > 100

    async def test_every_operation_documents_the_answers_it_can_give(self, client: httpx.AsyncClient) -> None:
        schema = await _schema(client)
        for method, path, op in _operations(schema):
            assert {"401", "403", "404", "409", "413", "422", "429"} <= op["responses"].keys(), (method, path)

    async def test_a_provider_failure_is_documented_as_a_problem(self, client: httpx.AsyncClient) -> None:
        schema = await _schema(client)
        answer = schema["paths"]["/api/payments/{provider}/reconciliation"]["get"]["responses"]["502"]
        assert answer["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}


class TestRawBodiesDescribed:
    async def test_the_payment_webhook_body_is_described_with_its_bounds(self, client: httpx.AsyncClient) -> None:
        schema = await _schema(client)
        body = schema["paths"]["/api/payments/webhook"]["post"]["requestBody"]
        described = body["content"]["application/json"]["schema"]
        assert body["required"] is True
        assert set(described["required"]) >= {"provider", "provider_txn_id", "order_id", "amount_fen", "status"}
        assert described["properties"]["order_id"]["exclusiveMinimum"] == 0
        assert described["properties"]["amount_fen"]["maximum"] == 10**12

    async def test_the_provider_notifications_are_described_in_both_protocols(self, client: httpx.AsyncClient) -> None:
        schema = await _schema(client)
        content = schema["paths"]["/api/payments/{provider}/notify"]["post"]["requestBody"]["content"]
        assert "resource" in content["application/json"]["schema"]["properties"]
        assert "sign" in content["application/x-www-form-urlencoded"]["schema"]["properties"]

    async def test_an_unsigned_webhook_is_401_problem(self, client: httpx.AsyncClient) -> None:
        body = {"provider": "x", "provider_txn_id": "t", "order_id": 1, "amount_fen": 1, "status": "paid"}
        r = await client.post("/api/payments/webhook", json=body, headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 401
        assert r.headers["content-type"].startswith(PROBLEM_JSON)
        assert r.json()["detail"] == "支付通知没有使用 webhook 密钥签名。"


class TestNoLooseCoercion:
    async def test_every_number_and_flag_of_every_request_body_refuses_other_types(self, client: httpx.AsyncClient) -> None:
        schema = await _schema(client)
        bodies = {
            content["schema"]["$ref"].rsplit("/", 1)[-1]
            for _, _, op in _operations(schema)
            for kind, content in op.get("requestBody", {}).get("content", {}).items()
            if kind == "application/json" and "$ref" in content.get("schema", {})
        }
        bodies |= _nested(schema["components"]["schemas"], bodies)
        models = _models(BaseModel)
        checked: list[str] = []
        loose: list[str] = []
        for name in sorted(bodies):
            model = models.get(name)
            assert model is not None, name
            for field, prop in schema["components"]["schemas"][name].get("properties", {}).items():
                kinds = {v.get("type") for v in [prop, *prop.get("anyOf", [])]}
                for kind, wrong in (("integer", True), ("integer", "1"), ("boolean", "true"), ("boolean", 1)):
                    if kind not in kinds:
                        continue
                    checked.append(f"{name}.{field}")
                    try:
                        model.model_validate({field: wrong})
                    except ValidationError as exc:
                        if any(e["loc"][:1] == (field,) and e["type"] != "missing" for e in exc.errors()):
                            continue
                    loose.append(f"{name}.{field}={wrong!r}")
        assert len(set(checked)) > 30
        assert loose == [], loose

    @pytest.mark.parametrize("value", ["true", "1.5", "x"])
    async def test_a_page_size_of_another_type_is_422(self, client: httpx.AsyncClient, value: str) -> None:
        r = await client.get(f"/api/counties?limit={value}", headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "query.limit"
        assert r.json()["errors"][0]["message"] == "应为整数"


class TestBoundsInTheSchema:
    async def test_page_sizes_state_their_bounds(self, client: httpx.AsyncClient) -> None:
        schema = await _schema(client)
        limits = [
            p["schema"] for _, _, op in _operations(schema) for p in op.get("parameters", []) if p["name"] == "limit" and p["in"] == "query"
        ]
        assert limits
        assert all(s.get("minimum") == 1 and isinstance(s.get("maximum"), int) for s in limits)

    async def test_an_order_quantity_states_its_bounds(self, client: httpx.AsyncClient) -> None:
        schema = await _schema(client)
        quantity = schema["components"]["schemas"]["OrderItemIn"]["properties"]["quantity"]
        assert quantity["type"] == "integer" and ("exclusiveMinimum" in quantity or "minimum" in quantity) and "maximum" in quantity
