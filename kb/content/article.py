"""One article in one locale: validated front matter, Markdown body, and where it came from."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kb.content.locales import normalize_locale

ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Review = Literal["human", "machine", "reviewed"]


class FrontMatter(BaseModel):
    """The fields an editor writes at the top of an article."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=ID_PATTERN, max_length=120)
    title: str = Field(min_length=1, max_length=300)
    category: str = Field(min_length=1)
    tags: list[str] = []
    questions: list[str] = []
    updated: dt.date
    source_locale: str | None = None
    source_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{8,64}$")
    review: Review | None = None
    reviewed_by: str | None = None
    reviewed_on: dt.date | None = None

    @field_validator("source_locale")
    @classmethod
    def _norm_locale(cls, value: str | None) -> str | None:
        return normalize_locale(value) if value is not None else None

    @model_validator(mode="after")
    def _review_fields(self) -> FrontMatter:
        if self.review == "reviewed" and (not self.reviewed_by or self.reviewed_on is None):
            raise ValueError("review: reviewed needs reviewed_by and reviewed_on")
        return self


@dataclass
class Article:
    meta: FrontMatter
    body: str
    locale: str
    path: Path  # as found on disk
    body_line: int = 1
    field_lines: dict[str, int] = field(default_factory=dict)
    # accepted questions learned from resolved searches (kb/content/learned.py), not in the file
    learned: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def title(self) -> str:
        return self.meta.title

    @property
    def questions(self) -> list[str]:
        """What search indexes as the article's questions: the front matter's, then the learned ones."""
        return [*self.meta.questions, *self.learned] if self.learned else self.meta.questions

    @property
    def category(self) -> str:
        return self.meta.category

    @property
    def review(self) -> Review:
        return self.meta.review or "human"

    @property
    def is_translation(self) -> bool:
        return self.meta.source_locale is not None

    @property
    def is_machine(self) -> bool:
        return self.review == "machine"

    @property
    def hash(self) -> str:
        return content_hash(self.meta.title, self.body)

    def line_of(self, field_name: str) -> int:
        return self.field_lines.get(field_name, 1)


_BLANKS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()


def content_hash(title: str, body: str) -> str:
    """Hash of an article's normalized title and body: what `source_hash` records."""
    data = normalize_text(title) + "\n\n" + normalize_text(body)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]
