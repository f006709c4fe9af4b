"""`kb build` for a help center in Arabic, Chinese, Thai, Greek, Hindi and Russian (issue 15,
item 5): kb.toml accepts the locales, Arabic pages read right to left, every page says its language.

These locales have no interface catalog (kb/site/locales): their pages show the interface strings
in English ("Page not found", "Search"), the articles in their own language. The English strings
inside a right-to-left page are not marked as English."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import SCRIPT_ARTICLES, write_scripts_center
from typer.testing import CliRunner

from kb.cli import app as cli
from kb.content.config import load_config
from kb.site.i18n import ui_locale


def _html_tag(page: str) -> str:
    found = re.search(r"<html[^>]*>", page)
    assert found, page[:200]
    return found.group(0)


def test_kb_toml_accepts_the_locales(tmp_path: Path) -> None:
    root = write_scripts_center(tmp_path / "content")
    config = load_config(root)
    assert config.locales == ["en", "ar", "zh", "th", "el", "hi", "ru"]
    assert config.category_title("returns", "th") == "การคืนสินค้า"


def test_kb_build_renders_arabic_right_to_left(tmp_path: Path) -> None:
    content = write_scripts_center(tmp_path / "content")
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["build", "--content", str(content), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.output
    for locale in ("ar", "zh", "th", "el", "hi", "ru"):
        page = (out / locale / "returns" / "return-items" / "index.html").read_text(encoding="utf-8")
        direction = "rtl" if locale == "ar" else "ltr"
        assert _html_tag(page) == f'<html lang="{locale}" dir="{direction}">', locale
        title = SCRIPT_ARTICLES["return-items"][locale][0]
        assert f"<h1>{title}</h1>" in page, locale  # the article's own title, not a fallback
        home = (out / locale / "index.html").read_text(encoding="utf-8")
        assert _html_tag(home) == f'<html lang="{locale}" dir="{direction}">', locale
    # no catalog for these locales: the interface is English
    assert ui_locale("ar") == "en"
    assert "Page not found" in (out / "ar" / "404.html").read_text(encoding="utf-8")
    assert 'dir="rtl"' in _html_tag((out / "ar" / "404.html").read_text(encoding="utf-8"))


def test_the_browser_index_keeps_the_text(tmp_path: Path) -> None:
    content = write_scripts_center(tmp_path / "content")
    out = tmp_path / "site"
    assert CliRunner().invoke(cli, ["build", "--content", str(content), "--out", str(out)]).exit_code == 0
    page = (out / "zh" / "search" / "index.html").read_text(encoding="utf-8")
    config = json.loads(re.search(r'<script[^>]*id="kb-config"[^>]*>(.*?)</script>', page, re.S).group(1))
    index = out / config["index"].split("/", 1)[1] if config["index"].startswith("/") else out / config["index"]
    assert "订单页面点击退货按钮" in index.read_text(encoding="utf-8")
