"""Errors of the translation backend; each says what is wrong and what to run."""

from __future__ import annotations

from kb.errors import KbError

INSTALL_HINT = "kb translate models install {src} {dst}"
INSTALL_FILE_HINT = "kb translate models install --file PATH.argosmodel"


class TranslationError(KbError):
    """Base class for translation problems."""


class TranslationUnavailable(TranslationError):
    """No installed model (direct or through the pivot language) translates `src` into `dst`."""

    def __init__(self, src: str, dst: str, message: str) -> None:
        super().__init__(message)
        self.src = src
        self.dst = dst


class ModelFileInvalid(TranslationError):
    """A file given to `models install --file` is not a usable .argosmodel package."""


class ModelInstallError(TranslationError):
    """Installing a model from the Argos package index failed."""
