"""Translation models: list installed ones, install from a file (offline) or from the Argos index.

Only `install_from_index` goes online, and it is the only caller of argostranslate's
`update_package_index` / `get_available_packages`: offline, `get_available_packages`
retries itself recursively for about 84 s before failing, so kb checks that the index was
downloaded before asking it anything.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from kb.translate.errors import INSTALL_FILE_HINT, ModelFileInvalid, ModelInstallError
from kb.translate.packages import (
    ArgosDirs,
    InstalledPackage,
    argos_state_dirs,
    import_argos,
    read_metadata,
    read_package,
    resolve_dirs,
    scan,
)

INDEX_TIMEOUT = 30.0  # seconds per network operation while installing from the index


def list_installed(data_dir: Path | str | None = None, *, packages_dir: Path | str | None = None) -> list[InstalledPackage]:
    return scan(resolve_dirs(data_dir, packages_dir).packages)


def install_from_file(path: Path | str, data_dir: Path | str | None = None, *,
                      packages_dir: Path | str | None = None) -> InstalledPackage:
    """Install a `.argosmodel` file; it replaces an installed package for the same pair."""
    dirs = resolve_dirs(data_dir, packages_dir)
    path = Path(path)
    if not path.is_file():
        raise ModelFileInvalid(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ModelFileInvalid(f"{path}: not an Argos model: not a zip archive (a .argosmodel file is a zip "
                               "holding metadata.json, model/ and sentencepiece.model)")
    try:
        with zipfile.ZipFile(path) as zf:
            root, meta = _check_archive(zf, path)
            return _extract(zf, root, meta, dirs)
    except zipfile.BadZipFile as exc:
        raise ModelFileInvalid(f"{path}: damaged zip archive ({exc})") from exc


def _check_archive(zf: zipfile.ZipFile, path: Path) -> tuple[str, dict[str, object]]:
    """(folder inside the zip holding the package, '' for the top, and its metadata)."""
    names = zf.namelist()
    for name in names:
        parts = PurePosixPath(name).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise ModelFileInvalid(f"{path}: unsafe path {name!r} in the archive")
    metas = [n for n in names if PurePosixPath(n).name == "metadata.json" and len(PurePosixPath(n).parts) <= 2]
    if not metas:
        raise ModelFileInvalid(f"{path}: not an Argos model: no metadata.json in the archive")
    if len(metas) > 1:
        raise ModelFileInvalid(f"{path}: more than one package in the archive ({', '.join(metas)})")
    root = str(PurePosixPath(metas[0]).parent)
    root = "" if root == "." else root + "/"
    try:
        meta = read_metadata(zf.read(metas[0]), str(path))
    except ValueError as exc:
        raise ModelFileInvalid(str(exc)) from exc
    if root + "model/model.bin" not in names:
        raise ModelFileInvalid(f"{path}: incomplete package: no model/model.bin (the CTranslate2 model)")
    if root + "sentencepiece.model" not in names and root + "bpe.model" not in names:
        raise ModelFileInvalid(f"{path}: incomplete package: no sentencepiece.model or bpe.model")
    return root, meta


def _extract(zf: zipfile.ZipFile, root: str, meta: dict[str, object], dirs: ArgosDirs) -> InstalledPackage:
    packages = dirs.packages
    packages.mkdir(parents=True, exist_ok=True)
    name = root.rstrip("/") or f"translate-{meta['from_code']}_{meta['to_code']}-{meta.get('package_version', '0')}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "package"
    # Unpack beside the packages folder: argostranslate fails on any folder in it without metadata.json.
    staging = Path(tempfile.mkdtemp(prefix=".kb-argos-install-", dir=packages.parent))
    try:
        members = [n for n in zf.namelist() if n.startswith(root)]
        zf.extractall(staging, members=members)
        unpacked = staging / root if root else staging
        pkg = read_package(unpacked)
        if pkg is None:
            raise ModelFileInvalid(f"{zf.filename}: the unpacked package is incomplete")
        for old in scan(packages):
            if old.pair == pkg.pair:
                shutil.rmtree(old.path)
        target = packages / name
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    installed = read_package(target)
    assert installed is not None
    return installed


def install_from_index(src: str, dst: str, data_dir: Path | str | None = None, *,
                       packages_dir: Path | str | None = None) -> InstalledPackage:
    """Download the src → dst package from the Argos package index and install it (online only)."""
    dirs = resolve_dirs(data_dir, packages_dir)
    argos = import_argos(dirs)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(INDEX_TIMEOUT)
    try:
        with argos_state_dirs(argos, dirs):
            index = Path(argos.settings.local_package_index)
            argos.package.update_package_index()  # logs and returns on network errors
            if not index.is_file():
                raise ModelInstallError(
                    f"could not download the Argos package index from {argos.settings.remote_package_index} "
                    f"(offline?); install a model file instead: `{INSTALL_FILE_HINT}`")
            try:
                available = argos.package.get_available_packages()
            except (json.JSONDecodeError, OSError) as exc:
                raise ModelInstallError(f"unreadable Argos package index {index}: {exc}") from exc
            match = [p for p in available
                     if p.from_code == src and p.to_code == dst and getattr(p, "type", "translate") == "translate"]
            if not match:
                raise ModelInstallError(_no_such_pair(src, dst, available))
            try:
                download = match[0].download()
            except Exception as exc:  # argostranslate raises bare Exception on download failure
                raise ModelInstallError(f"downloading the {src} → {dst} model failed: {exc}; "
                                        f"install a model file instead: `{INSTALL_FILE_HINT}`") from exc
            try:
                return install_from_file(download, packages_dir=dirs.packages)
            finally:
                Path(download).unlink(missing_ok=True)
    finally:
        socket.setdefaulttimeout(previous_timeout)


def _no_such_pair(src: str, dst: str, available: list) -> str:
    pairs = sorted({(p.from_code, p.to_code) for p in available if getattr(p, "type", "translate") == "translate"})
    related = [f"{a}→{b}" for a, b in pairs if a == src or b == dst]
    hint = f" Related pairs: {', '.join(related)}." if related else ""
    pivot = ""
    if ("en" not in (src, dst)) and (src, "en") in pairs and ("en", dst) in pairs:
        pivot = f" Install {src}→en and en→{dst}: kb pivots through English."
    return f"the Argos package index has no {src} → {dst} model.{hint}{pivot}"
