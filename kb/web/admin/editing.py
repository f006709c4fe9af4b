"""Changing article files from the desk: edits, sending back to machine draft, new skeletons.

Pure text in, text out, except `save`, which writes only when the file on disk is still the one
the editor opened (its SHA-256 travels in the form) and replaces it atomically.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from kb.content.article import ID_PATTERN, FrontMatter
from kb.content.frontmatter import DELIM, FrontMatterError, parse, render, update_fields
from kb.content.sections import slugify
from kb.translate.sources import write_atomic

SKELETON_BODY = "Answer the questions above here, in short steps.\n"


class EditError(ValueError):
    """The edited text is not a valid article: the message says what to fix."""


@dataclass
class Edit:
    title: str
    questions: list[str]
    body: str

    @classmethod
    def from_form(cls, title: str, questions: str, body: str) -> Edit:
        lines = [" ".join(q.split()) for q in questions.replace("\r\n", "\n").split("\n")]
        return cls(" ".join(title.split()), [q for q in lines if q], body.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass
class Conflict:
    """The file changed on disk after the editor opened it."""

    on_disk: str
    disk_hash: str


def file_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _front(text: str) -> tuple[list[str], str]:
    """The front matter lines (both '---' included) and the body of an article file."""
    parsed = parse(text)
    lines = text.split("\n")
    return lines[:parsed.body_line - 1], "\n".join(lines[parsed.body_line - 1:])


def _set_questions(head: list[str], questions: list[str]) -> list[str]:
    """Replace the `questions:` block of front matter lines (block style, one question a line)."""
    block = render({"questions": questions}, "").split("\n")[1:-2] if questions else []
    start = next((i for i, line in enumerate(head) if line.split(":")[0].strip() == "questions"
                  and not line.startswith((" ", "\t", "-"))), None)
    if start is None:
        return head[:-1] + block + head[-1:]
    end = start + 1
    while end < len(head) - 1 and head[end].startswith((" ", "\t", "-")):
        end += 1
    return head[:start] + block + head[end:]


def apply_edit(text: str, edit: Edit) -> str:
    """The file `text` with the title, questions and body the editor wrote; other fields unchanged."""
    head, _ = _front(text)
    head = _set_questions(head, edit.questions)
    titled = update_fields("\n".join(head) + "\n", {"title": edit.title})
    body = edit.body.strip("\n")
    return titled.rstrip("\n").rstrip() + "\n" + (body + "\n" if body else "")


def send_back(text: str) -> str:
    """Mark the translation a machine draft again (for `kb translate --stale` to refresh)."""
    return update_fields(text, {"review": "machine", "reviewed_by": None, "reviewed_on": None})


def check(text: str, expected_id: str) -> FrontMatter:
    """The validated front matter of `text`, which must still be article `expected_id`."""
    try:
        meta = FrontMatter.model_validate(parse(text).meta)
    except FrontMatterError as exc:
        raise EditError(f"front matter, line {exc.line}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "front matter"
        raise EditError(f"{where}: {first.get('msg', 'invalid value')}") from exc
    if meta.id != expected_id:
        raise EditError(f"id: the article's id must stay {expected_id!r}")
    return meta


def save(path: Path, opened_hash: str, new_text: str, lock: threading.Lock) -> Conflict | bool:
    """Write `new_text` to `path` if the file still hashes to `opened_hash`: a Conflict when it
    changed, True when written, False when nothing differed. Line endings follow the file."""
    with lock:
        raw = path.read_text(encoding="utf-8")
        if file_hash(raw) != opened_hash:
            return Conflict(raw, file_hash(raw))
        text = new_text.replace("\n", "\r\n") if "\r\n" in raw else new_text
        if text == raw:
            return False
        write_atomic(path, text)
        return True


# -- new articles ----------------------------------------------------------------------------------
def new_id(title: str) -> str:
    slug = slugify(title).strip("-")[:80].strip("-")
    return slug if slug and slug.isascii() and slug.replace("-", "").isalnum() and slug == slug.lower() else "new-article"


def skeleton(article_id: str, title: str, category: str, questions: list[str], today: dt.date) -> str:
    """A new article file with the title and questions filled in and a body to write."""
    meta = {"id": article_id, "title": " ".join(title.split()), "category": category,
            "questions": [" ".join(q.split()) for q in questions if q.strip()], "updated": today}
    text = render(meta, SKELETON_BODY)
    check(text, article_id)
    return text


def skeleton_path(content: Path, locale: str, category: str, article_id: str) -> Path:
    return content / locale / category / f"{article_id}.md"


__all__ = ["DELIM", "ID_PATTERN", "Conflict", "Edit", "EditError", "apply_edit", "check", "file_hash", "new_id",
           "save", "send_back", "skeleton", "skeleton_path"]
