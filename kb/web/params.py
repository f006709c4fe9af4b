"""Query and header parameters that several routes share, and the shopper's locale from them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query

from kb.search.detect import choose_locale
from kb.search.engine import MAX_QUERY_CHARS, Engine
from kb.web.schemas import NOT_BLANK, Visible

QueryText = Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK,
                                 description=f"What the shopper typed (1–{MAX_QUERY_CHARS} characters, "
                                             "some of them visible)."), Visible]
Lang = Annotated[str | None, Query(min_length=1, max_length=35, description="Shopper's locale: one of the enabled locales "
                                   "(regional forms such as de-AT are matched to them); else Accept-Language, "
                                   "else the query's language, else the source locale.")]
AcceptLanguage = Annotated[str | None, Header(description="Used for the locale when lang is not given.")]


def shopper_locale(engine: Engine, lang: str | None, accept_language: str | None) -> str:
    """The shopper's locale for requests without a query: lang, Accept-Language, source locale."""
    return choose_locale("", lang, accept_language, engine.locales, engine.source_locale)[0]
