"""Machine translation: the argostranslate backend, Markdown-safe translation, a translation memory.

Nothing here imports argostranslate until a text is translated or a model is installed
from the index.
"""

import importlib
from typing import Any

_HOME = {
    "ArgosTranslator": "kb.translate.argos",
    "ModelFileInvalid": "kb.translate.errors",
    "ModelInstallError": "kb.translate.errors",
    "TranslationError": "kb.translate.errors",
    "TranslationUnavailable": "kb.translate.errors",
    "TranslationMemory": "kb.translate.memory",
    "install_from_file": "kb.translate.models",
    "install_from_index": "kb.translate.models",
    "list_installed": "kb.translate.models",
    "InstalledPackage": "kb.translate.packages",
}


def __getattr__(name: str) -> Any:
    """Imported when first used: `kb build` and `kb search` need none of it."""
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'kb.translate' has no attribute {name!r}")


__all__ = sorted(_HOME)
