"""Machine translation: the argostranslate backend, Markdown-safe translation, a translation memory.

Nothing here imports argostranslate until a text is translated or a model is installed
from the index.
"""

from kb.translate.argos import ArgosTranslator
from kb.translate.errors import (
    ModelFileInvalid,
    ModelInstallError,
    TranslationError,
    TranslationUnavailable,
)
from kb.translate.memory import TranslationMemory
from kb.translate.models import install_from_file, install_from_index, list_installed
from kb.translate.packages import InstalledPackage

__all__ = [
    "ArgosTranslator",
    "InstalledPackage",
    "ModelFileInvalid",
    "ModelInstallError",
    "TranslationError",
    "TranslationMemory",
    "TranslationUnavailable",
    "install_from_file",
    "install_from_index",
    "list_installed",
]
