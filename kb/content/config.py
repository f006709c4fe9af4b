"""The one configuration file of a help center: `<content>/kb.toml`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kb.content.locales import UnknownLocale, normalize_locale
from kb.errors import KbError

CONFIG_NAME = "kb.toml"


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: dict[str, str]

    @field_validator("title")
    @classmethod
    def _norm_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return {normalize_locale(k): v for k, v in value.items()}


class Support(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: list[str] = Field(min_length=1)
    hours: str
    timezone: str


class Questions(BaseModel):
    """`[questions]`: suggested questions learned from resolved searches (kb/analytics/questions.py)."""

    model_config = ConfigDict(extra="forbid")
    # a search counts as resolved when its client opened a result and searched no more for this long
    window_seconds: int = Field(120, ge=10, le=86_400)
    # a suggestion needs this many distinct clients (never fewer than two: one client alone proves nothing)
    min_clients: int = Field(2, ge=2)
    # searches closer than this cosine are one suggestion (deduplicated by meaning)
    similarity: float = Field(0.9, gt=0, le=1)
    per_article: int = Field(10, ge=1, le=200)  # at most this many suggestions per article and locale
    # accepted without an editor when both hold (`kb questions auto`); auto_accept = false turns it off
    auto_accept: bool = True
    accept_clients: int = Field(3, ge=2)
    accept_confidence: float = Field(0.8, gt=0, le=1)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    source_locale: str
    locales: list[str] = Field(min_length=1)
    base_url: str = "http://127.0.0.1:8000"
    categories: dict[str, Category]
    support: dict[str, Support] = {}
    site_origin: str | None = None
    # article ids the home page lists as popular until search analytics know better (GET /v1/popular)
    popular: list[str] = []
    questions: Questions = Questions()

    @field_validator("source_locale")
    @classmethod
    def _norm_source(cls, value: str) -> str:
        return normalize_locale(value)

    @field_validator("locales")
    @classmethod
    def _norm_locales(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for code in value:
            norm = normalize_locale(code)
            if norm not in out:
                out.append(norm)
        return out

    @field_validator("support")
    @classmethod
    def _norm_support(cls, value: dict[str, Support]) -> dict[str, Support]:
        return {normalize_locale(k): v for k, v in value.items()}

    @model_validator(mode="after")
    def _source_enabled(self) -> Config:
        if self.source_locale not in self.locales:
            raise ValueError(f"source_locale {self.source_locale!r} must be one of locales {self.locales}")
        return self

    def category_title(self, key: str, locale: str) -> str:
        cat = self.categories.get(key)
        if cat is None:
            return key
        for code in (locale, locale.split("-")[0], self.source_locale):
            if code in cat.title:
                return cat.title[code]
        return key

    def support_for(self, locale: str) -> Support | None:
        for code in (locale, locale.split("-")[0], self.source_locale):
            if code in self.support:
                return self.support[code]
        return None


def load_config(content_dir: Path) -> Config:
    """Read and validate `kb.toml`; errors name the file and the field."""
    path = Path(content_dir) / CONFIG_NAME
    if not path.is_file():
        raise KbError(f"{path}: not found; a help center needs a {CONFIG_NAME} (see content/{CONFIG_NAME} in the kb repo)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KbError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise KbError(f"{path}: field {where}: {first['msg']}") from exc
    except UnknownLocale as exc:
        raise KbError(f"{path}: {exc}") from exc
