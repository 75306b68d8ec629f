"""The gettext catalogs are complete and compiled, and every error message reads right in Chinese and in English.

The messages are what `make messages` extracts (babel.cfg, the same keywords), so a new `_l(...)`
without a translation, or a `.po` edited without `pybabel compile`, fails here.
"""

from __future__ import annotations

import functools
import io
import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from livecommerce.kit.errors import LiveCommerceError, NotFound, OutOfStock, request_language
from livecommerce.kit.i18n import LOCALE_DIR, LazyMessage, _l, at_time, negotiate, status_word

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_l": None, "t": None, "N_": None, "_": None, "gettext": None, "ngettext": (1, 2)}
CJK = re.compile(r"[\u4e00-\u9fff]")
# Things a reader knows by name: a detail about one of them names it, never only its id
# (a "does not exist" detail has nothing but the id to go by).
NAMED = ("product", "stream", "county", "station", "anchor", "household", "slot", "booking", "studio")


@functools.cache
def extracted() -> dict[str, set[str]]:
    """Every message id the code uses, with the files it is used in."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(ROOT, method_map, options_map, keywords=KEYWORDS):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, set()).add(filename)
    return found


def catalog(locale: str) -> Catalog:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po)


def error_templates() -> list[str]:
    """The messages of the domain layers (error details, titles, status words, validation messages)."""
    layers = ("livecommerce/", "streams/", "schedulers/")
    return sorted(m for m, files in extracted().items() if any(f.startswith(layers) for f in files))


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class TestCatalogs:
    def test_every_message_has_a_chinese_translation(self) -> None:
        zh = catalog("zh_CN")
        missing = [m for m in extracted() if not (zh.get(m) and zh.get(m).string)]  # type: ignore[union-attr]
        assert missing == [], "run `make messages` and translate these in livecommerce/locale/zh_CN/LC_MESSAGES/messages.po"

    def test_every_page_message_has_an_english_text(self) -> None:
        en = catalog("en")
        pages = [m for m, files in extracted().items() if any(f.startswith("web/") for f in files)]
        assert len(pages) > 200
        missing = [m for m in pages if not (en.get(m) and en.get(m).string)]  # type: ignore[union-attr]
        assert missing == []

    def test_translations_keep_the_placeholders(self) -> None:
        # A page message's id is a key (`home.starts`): its English text is the source.
        english = {m.id: m.string or m.id for m in catalog("en") if m.id}
        wrong = [
            (m.id, m.string)
            for m in catalog("zh_CN")
            if m.id and m.string and placeholders(str(english.get(m.id, m.id))) != placeholders(str(m.string))
        ]
        assert wrong == []

    @pytest.mark.parametrize("locale", ["zh_CN", "en"])
    def test_compiled_catalog_is_the_po_file(self, locale: str) -> None:
        folder = LOCALE_DIR / locale / "LC_MESSAGES"
        with (folder / "messages.mo").open("rb") as mo:
            compiled = {m.id: m.string for m in read_mo(mo) if m.id}
        expected = {m.id: m.string for m in catalog(locale) if m.id and m.string and not m.fuzzy}
        assert compiled == expected, f"run `pybabel compile -d livecommerce/locale` ({locale})"
        buffer = io.BytesIO()
        write_mo(buffer, catalog(locale))  # and the .po compiles
        assert buffer.getvalue()

    def test_no_message_of_the_catalog_is_unused(self) -> None:
        used = extracted()
        unused = [m.id for m in catalog("zh_CN") if m.id and m.id not in used]
        assert unused == [], "run `make messages` (pybabel update drops them)"


class TestErrorMessages:
    """Every message the API can answer with, in both languages."""

    @staticmethod
    def sample(template: str, lang: str) -> dict[str, str]:
        words = {"zh-CN": "岭南土鸡蛋", "en": "Lingnan eggs"}
        return {name: "7" if name.endswith(("_id", "left", "quantity")) else words[lang] for name in placeholders(template)}

    def test_there_are_error_messages_to_check(self) -> None:
        assert len(error_templates()) > 150

    @pytest.mark.parametrize("template", error_templates())
    def test_chinese_detail_is_chinese_and_english_detail_is_english(self, template: str) -> None:
        zh = LazyMessage(template, **self.sample(template, "en")).render("zh-CN")
        en = LazyMessage(template, **self.sample(template, "en")).render("en")
        assert CJK.search(zh), zh
        assert not CJK.search(en), en
        assert re.search(r"[A-Za-z]{2,}", en), en

    @pytest.mark.parametrize("template", error_templates())
    def test_no_detail_is_only_an_id(self, template: str) -> None:
        words = re.sub(r"\{[^}]*\}", "", template)
        assert re.search(r"[A-Za-z]{2,}", words), template
        if "does not exist" in template or template.startswith(("No such", "There is no")):
            return
        by_id = [p for p in placeholders(template) if p.removesuffix("_id") in NAMED and p.endswith("_id")]
        assert by_id == [], f"name the {by_id} by name: {template}"

    def test_the_example_of_the_issue(self) -> None:
        error = OutOfStock(_l("{name} has {left} unit(s) left; {quantity} requested.", name="岭南土鸡蛋", left=0, quantity=2))
        assert error.render("zh-CN") == ("库存不足", "「岭南土鸡蛋」只剩 0 件，您要了 2 件。")
        assert error.render("en") == ("Out of stock", "岭南土鸡蛋 has 0 unit(s) left; 2 requested.")
        assert error.detail == "岭南土鸡蛋 has 0 unit(s) left; 2 requested."

    def test_a_plain_string_detail_still_works_in_both_languages(self) -> None:
        error = NotFound("Import 3 has no row 9.")
        assert error.render("zh-CN") == ("未找到", "Import 3 has no row 9.")
        assert error.render("en") == ("Not found", "Import 3 has no row 9.")
        assert str(error) == error.detail == "Import 3 has no row 9."

    def test_a_subclass_with_a_plain_title_still_works(self) -> None:
        class ImportRefused(LiveCommerceError):
            status, slug, title = 422, "import-refused", "Import refused"

        assert ImportRefused(_l("Field required")).render("zh-CN") == ("Import refused", "必填项")

    def test_status_words_and_times_are_rendered_in_the_language(self) -> None:
        from datetime import UTC, datetime

        message = _l(
            "The booking at {time} is {status} and cannot be moved.",
            time=at_time(datetime(2026, 5, 3, 11, tzinfo=UTC)),
            status=status_word("cancelled"),
        )
        assert message.render("zh-CN") == "2026-05-03 19:00 的预约已取消，无法改期。"
        assert message.render("en") == "The booking at 2026-05-03 19:00 is cancelled and cannot be moved."
        assert status_word("unheard_of") == "unheard_of"


class TestNegotiation:
    @pytest.mark.parametrize(
        ("header", "cookie", "lang"),
        [
            ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh-CN"),
            ("zh", None, "zh-CN"),
            ("en-US,en;q=0.9", None, "en"),
            ("fr-FR, en;q=0.5, zh;q=0.8", None, "zh-CN"),
            (None, None, "en"),
            (None, "zh-CN", "zh-CN"),
            ("en", "zh-CN", "en"),
            ("de", None, "en"),
        ],
    )
    def test_api_language(self, header: str | None, cookie: str | None, lang: str) -> None:
        assert negotiate(header, cookie) == lang

    def test_request_language_reads_the_header_then_the_cookie(self) -> None:
        from starlette.requests import Request

        scope = {"type": "http", "headers": [(b"cookie", b"lc_lang=zh-CN")], "method": "GET", "path": "/"}
        assert request_language(Request(scope)) == "zh-CN"
        scope["headers"] = [(b"accept-language", b"en"), (b"cookie", b"lc_lang=zh-CN")]
        assert request_language(Request(scope)) == "en"
