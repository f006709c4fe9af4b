"""Questions learned from resolved searches: the editors' decisions, kept in the help center.

`<content>/learned-questions.toml` (git-tracked, next to kb.toml) holds one `[[question]]` table
per decision on a suggestion (kb/analytics/questions.py): the article and locale it belongs to, the
question, `status` accepted or rejected, who decided (`by`: a name, or "auto" for the automatic
rule) and when, and the evidence then (distinct clients, confidence). `kb questions` writes it;
an editor may edit it by hand too.

Accepted questions are attached to their article when the library loads (`Article.learned`) and
are indexed like its front-matter `questions:` (Article.questions); the front matter stays as the
editor wrote it until `kb questions write-back` moves them there. Rejected ones are remembered so
the same suggestion is not offered again. This module is the only reader and writer of the file;
kb/search sees the questions through the Article, never the file (layers: content <- search <-
analytics).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kb.content.article import Article
from kb.content.frontmatter import FrontMatterError, parse, render
from kb.content.problems import Problem
from kb.errors import KbError

LEARNED_NAME = "learned-questions.toml"
Status = Literal["accepted", "rejected"]
_FIELDS = {"article", "locale", "question", "status", "by", "on", "clients", "confidence"}
_HEADER = ("# Questions learned from resolved searches (kb questions): accepted ones are indexed with\n"
           "# their article, rejected ones are not suggested again. Keep this file in git.\n")


def normalize_question(text: str) -> str:
    """The form two questions are compared in: case and spacing ignored."""
    return " ".join(text.split()).casefold()


def question_id(article: str, locale: str, text: str) -> str:
    """A short stable id for a suggestion: what editors type in `kb questions accept ID`."""
    raw = f"{article}\x1f{locale}\x1f{normalize_question(text)}".encode()
    return hashlib.sha256(raw).hexdigest()[:8]


@dataclass(frozen=True)
class LearnedQuestion:
    article: str
    locale: str
    question: str
    status: Status
    by: str
    on: dt.date
    clients: int = 0
    confidence: float = 0.0

    @property
    def id(self) -> str:
        return question_id(self.article, self.locale, self.question)


def learned_path(root: Path | str) -> Path:
    return Path(root) / LEARNED_NAME


def load_learned(root: Path | str) -> list[LearnedQuestion]:
    """The decisions in `<root>/learned-questions.toml` ([] when there is none); a bad file or
    entry raises KbError naming the file, the entry and the field."""
    path = learned_path(root)
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KbError(f"{path}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"question"}
    if unknown or not isinstance(data.get("question", []), list):
        raise KbError(f"{path}: only [[question]] tables belong here (found {', '.join(sorted(unknown)) or 'question'})")
    return [_entry(path, n, raw) for n, raw in enumerate(data.get("question", []), start=1)]


def _entry(path: Path, n: int, raw: object) -> LearnedQuestion:
    where = f"{path}: question {n}"
    if not isinstance(raw, dict):
        raise KbError(f"{where}: write it as a [[question]] table")
    extra = set(raw) - _FIELDS
    if extra:
        raise KbError(f"{where}: unknown field {sorted(extra)[0]!r}; use {', '.join(sorted(_FIELDS))}")
    for name in ("article", "locale", "question", "status"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise KbError(f"{where}: field {name}: give a non-empty string")
    if raw["status"] not in ("accepted", "rejected"):
        raise KbError(f"{where}: field status: {raw['status']!r} is neither accepted nor rejected")
    on = raw.get("on", dt.date.today())
    if not isinstance(on, dt.date) or isinstance(on, dt.datetime):
        raise KbError(f"{where}: field on: write a date as YYYY-MM-DD")
    clients, confidence = raw.get("clients", 0), raw.get("confidence", 0.0)
    if not isinstance(clients, int) or isinstance(clients, bool) or clients < 0:
        raise KbError(f"{where}: field clients: give a whole number, 0 or more")
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0 <= confidence <= 1:
        raise KbError(f"{where}: field confidence: give a number from 0 to 1")
    return LearnedQuestion(raw["article"].strip(), raw["locale"].strip(), " ".join(raw["question"].split()),
                           raw["status"], str(raw.get("by", "")).strip() or "editor", on, clients, float(confidence))


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def render_learned(entries: Iterable[LearnedQuestion]) -> str:
    out = [_HEADER]
    for e in sorted(entries, key=lambda e: (e.article, e.locale, e.status, normalize_question(e.question))):
        out.append("\n[[question]]\n"
                   f"article = {_toml_string(e.article)}\nlocale = {_toml_string(e.locale)}\n"
                   f"question = {_toml_string(e.question)}\nstatus = {_toml_string(e.status)}\n"
                   f"by = {_toml_string(e.by)}\non = {e.on.isoformat()}\n"
                   f"clients = {int(e.clients)}\nconfidence = {round(float(e.confidence), 4)}\n")
    return "".join(out)


def write_text_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder and os.replace: a reader sees the old
    file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_learned(root: Path | str, entries: Iterable[LearnedQuestion]) -> Path:
    """Write the decisions atomically; one entry per suggestion id (the last given wins)."""
    kept = {e.id: e for e in entries}
    path = learned_path(root)
    write_text_atomic(path, render_learned(kept.values()))
    return path


def attach_learned(articles: Iterable[Article], root: Path | str, *, report_missing: bool = True) -> list[Problem]:
    """Set `Article.learned` of each article from the accepted decisions in `root`; the problems
    (a bad file, a question for an article that is not there, unless `articles` is only part of
    the help center: report_missing=False) are returned, never raised."""
    try:
        entries = load_learned(root)
    except KbError as exc:
        return [Problem("error", "learned-questions", LEARNED_NAME, 1, str(exc).split(": ", 1)[-1],
                        "fix the file or remove it (kb questions writes it)")]
    by_key: dict[tuple[str, str], list[str]] = {}
    for e in entries:
        if e.status == "accepted":
            by_key.setdefault((e.article, e.locale), []).append(e.question)
    problems: list[Problem] = []
    for article in articles:
        found = by_key.pop((article.id, article.locale), None)
        own = {normalize_question(q) for q in article.meta.questions}
        article.learned = [q for q in dict.fromkeys(found or []) if normalize_question(q) not in own]
    for (aid, locale) in sorted(by_key) if report_missing else ():
        problems.append(Problem("warning", "learned-questions", LEARNED_NAME, 1,
                                f"accepted questions for {aid!r} in {locale!r}, an article that is not there",
                                "remove them, or write the article"))
    return problems


def with_questions(text: str, questions: list[str]) -> str:
    """An article file's text with `questions` added to its front-matter `questions:` (block style,
    after the ones there); every other line as it was."""
    parsed = parse(text)
    lines = text.split("\n")
    head, rest = lines[:parsed.body_line - 1], lines[parsed.body_line - 1:]
    have = [str(q) for q in parsed.meta.get("questions") or []]
    seen = {normalize_question(q) for q in have}
    new = [q for q in questions if normalize_question(q) not in seen and not seen.add(normalize_question(q))]
    if not new:
        return text
    start = next((i for i, line in enumerate(head) if line.split(":")[0].strip() == "questions"
                  and not line.startswith((" ", "\t", "-"))), None)
    if start is None:
        head = head[:-1] + _block(new, with_key=True) + head[-1:]
        return "\n".join(head + rest)
    end = start + 1
    while end < len(head) - 1 and head[end].startswith((" ", "\t", "-")):
        end += 1
    if head[start].split(":", 1)[1].strip():  # `questions: [a, b]` (flow style): written again as a block
        head = head[:start] + _block(have + new, with_key=True) + head[end:]
    else:  # the editor's lines stay as they are; the new ones follow
        head = head[:end] + _block(new, with_key=False) + head[end:]
    return "\n".join(head + rest)


def _block(questions: list[str], *, with_key: bool) -> list[str]:
    lines = render({"questions": questions}, "").split("\n")[1:-2]  # 'questions:' and '  - q' lines
    return lines if with_key else lines[1:]


@dataclass(frozen=True)
class WrittenBack:
    path: Path
    article: str
    locale: str
    questions: list[str]


def write_back(articles: Iterable[Article], root: Path | str, *, article_id: str | None = None) -> list[WrittenBack]:
    """Move accepted questions from the sidecar into their articles' front matter (atomic writes,
    line endings kept), then drop them from the sidecar; rejected ones stay there."""
    root = Path(root)
    entries = load_learned(root)
    by_key = {(a.id, a.locale): a for a in articles}
    done: list[WrittenBack] = []
    moved: set[str] = set()
    for (aid, locale), group in _accepted_groups(entries, article_id).items():
        article = by_key.get((aid, locale))
        if article is None:
            continue
        raw = article.path.read_bytes().decode("utf-8")  # not read_text: it would hide '\r\n'
        crlf = "\r\n" in raw
        questions = [e.question for e in group]
        try:
            text = with_questions(raw.replace("\r\n", "\n"), questions)
        except FrontMatterError as exc:
            raise KbError(f"{article.path}: cannot write questions back: {exc}") from exc
        if text != raw.replace("\r\n", "\n"):
            write_text_atomic(article.path, text.replace("\n", "\r\n") if crlf else text)
            done.append(WrittenBack(article.path, aid, locale, questions))
        moved |= {e.id for e in group}
    if moved:
        save_learned(root, [e for e in entries if e.id not in moved])
    return done


def _accepted_groups(entries: list[LearnedQuestion], article_id: str | None) -> dict[tuple[str, str], list[LearnedQuestion]]:
    groups: dict[tuple[str, str], list[LearnedQuestion]] = {}
    for e in entries:
        if e.status == "accepted" and (article_id is None or e.article == article_id):
            groups.setdefault((e.article, e.locale), []).append(e)
    return groups
