"""`kb index --verify`: every check of the live generation on disk, as `kb serve` does before
serving it (kb/search/index/load.py), with every problem found rather than the first."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import KbError
from kb.search.index.integrity import Damage, IndexDamaged
from kb.search.index.layout import live_generation
from kb.search.index.load import open_generation
from kb.search.index.manifest import read_manifest


@dataclass
class Verification:
    generation: str | None  # None when CURRENT names none
    problems: list[str] = field(default_factory=list)  # one line each
    files: int = 0  # files checked against their hashes
    bytes: int = 0
    seconds: float = 0.0
    hashed: bool = True  # False: a generation written before hashes (its counts checked only)

    @property
    def ok(self) -> bool:
        return not self.problems and self.hashed


def verify(data_dir: Path) -> Verification:
    started = time.perf_counter()
    try:
        gen = live_generation(Path(data_dir))
    except KbError as exc:
        return Verification(None, [str(exc)], seconds=time.perf_counter() - started)
    out = Verification(gen.name)
    try:
        manifest, _ = read_manifest(gen)
        record = manifest.get("integrity")
        if isinstance(record, dict) and isinstance(record.get("files"), dict):
            out.files = len(record["files"])
            out.bytes = sum(int(entry.get("size", 0)) for entry in record["files"].values())
        else:
            out.hashed = False
            out.problems.append(f"{gen.name}: manifest.json records no hashes (written by an older kb): "
                                "run 'kb index' to write a generation with them")
        _, problems = open_generation(gen)
        out.problems += [_line(gen.name, p) for p in problems]
    except IndexDamaged as exc:
        out.problems.append(_line(gen.name, Damage(exc.file, exc.what)))
    except KbError as exc:
        out.problems.append(str(exc))
    out.seconds = time.perf_counter() - started
    return out


def _line(generation: str, damage: Damage) -> str:
    return f"{generation}: {damage}"
