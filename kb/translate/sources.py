"""Copies of source articles kept by content hash, and atomic file writes.

`kb review diff` shows what changed in a source since a translation was made, so the source as
it was then must be known. Whenever a draft is written or a translation approved, the source
file's text is saved as `<data_dir>/sources/<hash>.md`. For older translations the git
history of the source file is searched for a version with the recorded hash.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from kb.content.article import Article, content_hash
from kb.content.frontmatter import FrontMatterError, parse

_HASH = re.compile(r"^[0-9a-f]{8,64}$")
GIT_COMMITS = 200  # how far back the git history of a source file is searched
GIT_TIMEOUT = 10.0


def write_atomic(path: Path, text: str, *, create_only: bool = False) -> bool:
    """Write `text` to `path` through a temporary file in the same folder and os.replace.

    With `create_only`, an existing file is never replaced: returns False and writes nothing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if create_only:
            try:
                os.link(tmp, path)  # fails if the file exists: no window in which it could be clobbered
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links
                if path.exists():
                    return False
                os.replace(tmp, path)
        else:
            os.replace(tmp, path)
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def text_hash(text: str) -> str | None:
    """The content hash of an article file's text, or None when it is not an article."""
    try:
        parsed = parse(text.replace("\r\n", "\n"))
    except FrontMatterError:
        return None
    title = parsed.meta.get("title")
    return content_hash(str(title), parsed.body) if title is not None else None


class SourceStore:
    """Source article texts by content hash, under `<data_dir>/sources/`."""

    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir) / "sources"

    def _file(self, digest: str) -> Path | None:
        return self.root / f"{digest}.md" if _HASH.match(digest or "") else None

    def save(self, article: Article) -> bool:
        """Keep the article's file text under its hash (when the file still has that hash)."""
        target = self._file(article.hash)
        if target is None or target.exists():
            return False
        try:
            text = article.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        if text_hash(text) != article.hash:
            return False  # the file changed since it was loaded
        return write_atomic(target, text, create_only=True)

    def get(self, digest: str, current: Article | None = None) -> str | None:
        """The source text that had hash `digest`: a saved copy, else from git history of `current`."""
        target = self._file(digest)
        if target is None:
            return None
        if target.is_file():
            return target.read_text(encoding="utf-8")
        if current is None:
            return None
        found = _from_git(current.path, digest)
        if found is not None:
            write_atomic(target, found, create_only=True)
        return found


def _git(cwd: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT,
                                encoding="utf-8", errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _from_git(path: Path, digest: str) -> str | None:
    folder, name = path.parent, path.name
    if not folder.is_dir():
        return None
    commits = _git(folder, "log", f"-n{GIT_COMMITS}", "--format=%H", "--", name)
    for commit in (commits or "").split():
        text = _git(folder, "show", f"{commit}:./{name}")
        if text is not None and text_hash(text) == digest:
            return text
    return None
