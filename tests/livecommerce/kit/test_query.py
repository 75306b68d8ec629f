"""Query flags take only `true`/`false` and query numbers only digits, in every operation of the schema.

The parameters are found in `/openapi.json`, so a new flag or number declared as a plain `bool` or
`int` (which pydantic reads laxly: `yes` as true, `1.0` as 1) fails here.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from livecommerce.kit.principal import Role
from livecommerce.kit.query import FLAG_NOTE, NUMBER_NOTE, QueryBool, QueryInt
from livecommerce.kit.settings import Settings
from livecommerce.main.app import create_app
from tests.factories import Factory

SCHEMA: dict[str, Any] = create_app(Settings(), migrate=False).openapi()


def _query_parameters(kind: str) -> list[tuple[str, str, str]]:
    found = []
    for path, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                types = {parameter["schema"].get("type")} | {v.get("type") for v in parameter["schema"].get("anyOf", [])}
                if parameter["in"] == "query" and kind in types:
                    found.append((method.upper(), path, parameter["name"]))
    return found


FLAGS = _query_parameters("boolean")
NUMBERS = _query_parameters("integer")
BAD_FLAGS = ("yes", "on", "1", "0", "t", "True", "FALSE", "no", "")
BAD_NUMBERS = ("1.5", "1.0", "+1", " 1", "1_0", "1e1", "１", "-1x")


def _url(path: str, name: str, value: str) -> str:
    filled = re.sub(r"\{party\}", "platform", path)
    filled = re.sub(r"\{provider\}", "sandbox", filled)
    return re.sub(r"\{[a-z_]+\}", "1", filled) + "?" + httpx.QueryParams({name: value}).__str__()


async def _call(client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
    return await client.request(method, url, headers={**headers, "X-Requested-With": "test", "Accept-Language": "en"})


def _refused_fields(r: httpx.Response) -> set[str]:
    if r.status_code != 422:
        return set()
    return {e["field"] for e in r.json().get("errors", [])}


def test_the_schema_has_the_flags_the_brief_names() -> None:
    names = {(path, name) for _, path, name in FLAGS}
    assert {("/api/stats/consumption", "certified_only"), ("/api/stats/consumption", "monitored"), ("/api/slots", "open")} <= names
    assert ("/api/households/import", "dry_run") in names


@pytest.mark.parametrize(("method", "path", "name"), FLAGS, ids=[f"{m} {p} {n}" for m, p, n in FLAGS])
async def test_a_flag_takes_only_true_or_false(client: httpx.AsyncClient, make: Factory, method: str, path: str, name: str) -> None:
    admin = await make.user(Role.admin)
    for value in BAD_FLAGS:
        r = await _call(client, method, _url(path, name, value), admin.headers)
        assert r.status_code == 422, (value, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert f"query.{name}" in _refused_fields(r), (value, r.text)
    for value in ("true", "false"):
        r = await _call(client, method, _url(path, name, value), admin.headers)
        assert f"query.{name}" not in _refused_fields(r), (value, r.text)


@pytest.mark.parametrize(("method", "path", "name"), NUMBERS, ids=[f"{m} {p} {n}" for m, p, n in NUMBERS])
async def test_a_number_takes_only_digits(client: httpx.AsyncClient, make: Factory, method: str, path: str, name: str) -> None:
    admin = await make.user(Role.admin)
    for value in BAD_NUMBERS:
        r = await _call(client, method, _url(path, name, value), admin.headers)
        assert r.status_code == 422, (value, r.status_code, r.text)
        assert f"query.{name}" in _refused_fields(r), (value, r.text)
    good = "2020" if name == "year" else "1"
    r = await _call(client, method, _url(path, name, good), admin.headers)
    assert f"query.{name}" not in _refused_fields(r), r.text


@pytest.mark.parametrize(("method", "path", "name"), FLAGS + NUMBERS, ids=[f"{m} {p} {n}" for m, p, n in FLAGS + NUMBERS])
def test_the_schema_says_how_each_is_written(method: str, path: str, name: str) -> None:
    parameter = next(p for p in SCHEMA["paths"][path][method.lower()]["parameters"] if p["name"] == name)
    note = FLAG_NOTE if (method, path, name) in FLAGS else NUMBER_NOTE
    assert note in parameter.get("description", ""), parameter


async def test_a_refused_flag_is_explained_in_chinese_too(client: httpx.AsyncClient, make: Factory) -> None:
    admin = await make.user(Role.admin)
    r = await client.get("/api/stats/consumption?certified_only=yes", headers={**admin.headers, "Accept-Language": "zh-CN"})
    assert r.status_code == 422
    message = next(e["message"] for e in r.json()["errors"] if e["field"] == "query.certified_only")
    assert re.search(r"[\u4e00-\u9fff]", message), message


class TestTheTypes:
    def test_they_accept_the_plain_forms_and_nothing_else(self) -> None:
        from pydantic import TypeAdapter, ValidationError

        flag, number = TypeAdapter(QueryBool), TypeAdapter(QueryInt)
        assert (flag.validate_python("true"), flag.validate_python("false"), number.validate_python("042")) == (True, False, 42)
        for bad_flag in BAD_FLAGS:
            with pytest.raises(ValidationError):
                flag.validate_python(bad_flag)
        for bad_number in BAD_NUMBERS:
            with pytest.raises(ValidationError):
                number.validate_python(bad_number)
