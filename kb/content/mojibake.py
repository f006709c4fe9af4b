"""Find mojibake: UTF-8 text that was decoded in another encoding and saved again.

'Ã¼' for 'ü' (read as Windows-1252), 'obs艂ugi' for 'obsługi' (read as GBK). A word is
mojibake when encoding it back with the wrong codec gives valid, shorter UTF-8.
"""

from __future__ import annotations

import re
import unicodedata

_CODECS = ("cp1252", "latin-1", "cp1250", "gbk")
_WORD = re.compile(r"\S+")
_CJK_LOCALES = ("zh", "ja", "ko")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _plausible(text: str) -> bool:
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Co", "Cn", "Cs") and ch not in "\t\n":
            return False
    return True


def repair_word(word: str, locale: str = "en") -> str | None:
    """The repaired word if `word` is mojibake, else None."""
    if word.isascii():
        return None
    for codec in _CODECS:
        if codec == "gbk":
            # a CJK character inside a Latin word is the GBK signature; skip CJK locales
            if locale.split("-")[0] in _CJK_LOCALES or not re.search(r"[A-Za-z]", word):
                continue
        try:
            fixed = word.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        shorter = len(fixed) < len(word) or (codec == "gbk" and not _CJK.search(fixed))
        if fixed != word and shorter and _plausible(fixed):
            again = repair_word(fixed, locale)  # doubly encoded text
            return again or fixed
    return None


def repair_line(line: str, locale: str = "en") -> str | None:
    """The repaired line if any word in it is mojibake, else None."""
    changed = False

    def fix(match: re.Match[str]) -> str:
        nonlocal changed
        repaired = repair_word(match.group(0), locale)
        if repaired is None:
            return match.group(0)
        changed = True
        return repaired

    out = _WORD.sub(fix, line)
    return out if changed else None
