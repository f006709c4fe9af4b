"""Where Argos Translate packages live, what is installed, and a careful import of argostranslate.

Reading installed packages needs no argostranslate: each is a folder holding `metadata.json`.
Importing argostranslate creates folders under `$HOME` (or the XDG folders) and fixes its
package folder for the life of the process, so it is imported lazily, with the environment
pointing at kb's folders for the moment of the import.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

PACKAGES_ENV = "ARGOS_PACKAGES_DIR"
PIVOT = "en"


@dataclass(frozen=True)
class ArgosDirs:
    """`packages`: installed packages. `home`: argostranslate's own data, config and cache
    folders (index.json, downloads), or None for argostranslate's defaults under $HOME."""

    packages: Path
    home: Path | None = None

    @property
    def state(self) -> Path:
        """Where index.json and downloads go."""
        if self.home is not None:
            return self.home / "share" / "argos-translate"
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        return base / "argos-translate"


def resolve_dirs(data_dir: Path | str | None = None, packages_dir: Path | str | None = None) -> ArgosDirs:
    """Packages folder: `packages_dir`, else $ARGOS_PACKAGES_DIR, else `<data_dir>/argos/packages`,
    else argostranslate's default. argostranslate's other folders go under `<data_dir>/argos`."""
    home = Path(data_dir) / "argos" if data_dir is not None else None
    if packages_dir is not None:
        packages = Path(packages_dir)
    elif os.environ.get(PACKAGES_ENV):
        packages = Path(os.environ[PACKAGES_ENV])
    elif home is not None:
        packages = home / "packages"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        packages = base / "argos-translate" / "packages"
    return ArgosDirs(packages=packages.expanduser(), home=home)


@dataclass(frozen=True)
class InstalledPackage:
    path: Path
    from_code: str
    to_code: str
    from_name: str
    to_name: str
    package_version: str
    argos_version: str
    sbd: str | None  # the bundled sentence splitter: "minisbd", "stanza", "spacy" or None

    @property
    def pair(self) -> tuple[str, str]:
        return (self.from_code, self.to_code)

    @property
    def version(self) -> str:
        """The model version for the translation memory key, e.g. 'en-de@1.9'."""
        return f"{self.from_code}-{self.to_code}@{self.package_version or '0'}"

    def describe(self) -> str:
        names = f" ({self.from_name} → {self.to_name})" if self.from_name and self.to_name else ""
        return f"{self.from_code} → {self.to_code}{names}, version {self.package_version or '?'}"


def read_metadata(data: bytes | str, where: str) -> dict[str, object]:
    """Parse metadata.json; ValueError naming `where` when it is not a JSON object with from/to codes."""
    try:
        meta = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: metadata.json is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: metadata.json must hold a JSON object")
    for key in ("from_code", "to_code"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise ValueError(f"{where}: metadata.json lacks {key!r}")
    kind = meta.get("type", meta.get("package_type", "translate"))
    if kind != "translate":
        raise ValueError(f"{where}: package type is {kind!r}, not 'translate'")
    return meta


def read_package(path: Path) -> InstalledPackage | None:
    """The package in folder `path`, or None if it is not a complete translation package."""
    try:
        meta = read_metadata((path / "metadata.json").read_bytes(), str(path))
    except (OSError, ValueError):
        return None
    if not (path / "model" / "model.bin").is_file():
        return None
    if not ((path / "sentencepiece.model").is_file() or (path / "bpe.model").is_file()):
        return None
    sbd = next((name for name in ("minisbd", "stanza", "spacy") if (path / name).exists()), None)
    return InstalledPackage(
        path=path, from_code=str(meta["from_code"]), to_code=str(meta["to_code"]),
        from_name=str(meta.get("from_name", "")), to_name=str(meta.get("to_name", "")),
        package_version=str(meta.get("package_version", "")), argos_version=str(meta.get("argos_version", "")),
        sbd=sbd,
    )


def scan(packages_dir: Path) -> list[InstalledPackage]:
    """Installed translation packages, sorted by pair; folders that are not packages are skipped."""
    if not packages_dir.is_dir():
        return []
    found = []
    for child in sorted(packages_dir.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            pkg = read_package(child)
            if pkg is not None:
                found.append(pkg)
    return sorted(found, key=lambda p: (p.pair, p.path.name))


def argos_codes(locale: str) -> list[str]:
    """Argos language codes to try for a kb locale, best first: 'de-AT' → ['de'], 'pt-BR' → ['pb', 'pt']."""
    parts = locale.replace("_", "-").lower().split("-")
    lang, rest = parts[0], set(parts[1:])
    if lang == "zh" and rest & {"hant", "tw", "hk", "mo"}:
        return ["zt", "zh"]
    if lang == "pt" and "br" in rest:
        return ["pb", "pt"]
    return [lang]


# --- importing argostranslate ------------------------------------------------------------

_import_lock = threading.Lock()
_ENV_KEYS = (PACKAGES_ENV, "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")


@dataclass(frozen=True)
class Argos:
    package: ModuleType
    settings: ModuleType
    sbd: ModuleType
    translate: ModuleType


def import_argos(dirs: ArgosDirs) -> Argos:
    """Import argostranslate with its folders under `dirs` (only the first import decides them)."""
    with _import_lock:
        if "argostranslate.settings" not in sys.modules:
            saved = {key: os.environ.get(key) for key in _ENV_KEYS}
            try:
                os.environ[PACKAGES_ENV] = str(dirs.packages)
                if dirs.home is not None:
                    os.environ["XDG_DATA_HOME"] = str(dirs.home / "share")
                    os.environ["XDG_CONFIG_HOME"] = str(dirs.home / "config")
                    os.environ["XDG_CACHE_HOME"] = str(dirs.home / "cache")
                # All of it inside the window: onnxruntime (via minisbd) writes its telemetry id
                # under $XDG_CACHE_HOME or ~/.cache when imported.
                import argostranslate.settings  # noqa: F401  (creates its folders)
                import argostranslate.translate  # noqa: F401
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
        import argostranslate.package as package
        import argostranslate.sbd as sbd
        import argostranslate.settings as settings
        import argostranslate.translate as translate
    return Argos(package=package, settings=settings, sbd=sbd, translate=translate)


@contextmanager
def argos_state_dirs(argos: Argos, dirs: ArgosDirs) -> Iterator[None]:
    """Point argostranslate's index file and downloads folder at `dirs.state` for a moment."""
    settings = argos.settings
    saved = (settings.local_package_index, settings.downloads_dir)
    state = dirs.state
    (state / "downloads").mkdir(parents=True, exist_ok=True)
    settings.local_package_index = state / "index.json"
    settings.downloads_dir = state / "downloads"
    try:
        yield
    finally:
        settings.local_package_index, settings.downloads_dir = saved
