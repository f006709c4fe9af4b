"""`kb check` warns about a chat promised to shoppers when kb.toml configures none (issue 16)."""

from __future__ import annotations

from pathlib import Path

from helpers import CONFIG_TOML, ROOT, article_text, write

from kb.content.check import check
from kb.content.library import Library

PROMISE = "Lead text.\n\n## Quick help\n\nOpen the live chat on any help page.\n"
HARMLESS = "Pay with WeChat Pay or Alipay.\n\nThe chatbot hands you to a person by e-mail.\n"


def _center(root: Path, channels: str | None) -> Library:
    config = CONFIG_TOML.format(locales='["en", "de"]')
    if channels is not None:
        config += f'[support.en]\nchannels = [{channels}]\nhours = "Mon-Fri"\ntimezone = "Europe/London"\n'
    write(root, "kb.toml", config)
    write(root, "en/orders/promise.md", article_text("promise", "Help", PROMISE))
    write(root, "en/orders/harmless.md", article_text("harmless", "Paying", HARMLESS, questions=["Is there a live chat?"]))
    write(root, "de/orders/chat.md", article_text("chat", "Per Live-Chat zu uns", "Text.\n"))
    return Library.load(root)


def _flagged(library: Library) -> set[tuple[str, int]]:
    return {(Path(p.path).name, p.line) for p in check(library) if p.kind == "no-chat"}


def test_a_chat_promise_without_a_chat_channel_is_flagged(tmp_path: Path) -> None:
    library = _center(tmp_path, '"E-mail: help@example.com"')
    # the promise is the 5th body line (the body starts on line 7), and the German title (line 3)
    assert _flagged(library) == {("promise.md", 11), ("chat.md", 3)}
    problem = next(p for p in check(library) if p.kind == "no-chat")
    assert problem.severity == "warning" and "kb.toml" in problem.hint


def test_no_support_section_counts_as_no_chat(tmp_path: Path) -> None:
    assert ("promise.md", 11) in _flagged(_center(tmp_path, None))


def test_a_configured_chat_allows_the_promise_in_its_locales(tmp_path: Path) -> None:
    library = _center(tmp_path, '"Live chat: on every page", "E-mail: help@example.com"')
    # en has a chat; de falls back to en's support, which has one too
    assert _flagged(library) == set()


def test_the_sample_help_center_promises_no_chat() -> None:
    library = Library.load(ROOT / "content")
    problems = [str(p) for p in check(library) if p.kind == "no-chat"]
    assert not problems, "\n".join(problems)
