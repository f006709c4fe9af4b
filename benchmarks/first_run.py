"""What a new user waits for (issue 14): the sample help center's first `kb index` into an empty
data folder (the build and the calibration apart, read from kb's own summary lines), and
`./scripts/demo` on a fresh clone of the committed tree, with an empty home folder, to the first
answered search (each step's end as the demo prints it).

    python benchmarks/first_run.py [--quick] [--no-demo]

--quick indexes one category of the sample and runs no demo (the demo installs every package
into a new virtual environment: a minute or two).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import free_port, log, machine  # noqa: E402

KB = [sys.executable, "-c", "from kb.cli import main; main()"]
# the demo's steps, by the first line each prints when it is done (or, for the model, begins)
MARKERS = (
    ("setup", re.compile(r"^kb stats|^\s*locale\s+articles|^content/")),
    ("torch model made", re.compile(r"^embedding passages 0/")),
    ("index built", re.compile(r"^indexed \d+ articles")),
    ("calibration", re.compile(r"^ranking weights:")),
    ("site built", re.compile(r"^built \d+ pages")),
    ("first answer", re.compile(r"^locale \S+ .*decision ")),
    ("serving", re.compile(r"Uvicorn running on")),
)
DEMO_LIMIT_S = 900


def _slice(out: Path) -> Path:
    """The sample's kb.toml and its `orders` articles in every locale."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "content" / "kb.toml", out / "kb.toml")
    for folder in (ROOT / "content").glob("*/orders"):
        shutil.copytree(folder, out / folder.parent.name / "orders")
    return out


def first_index(work: Path, quick: bool) -> dict[str, Any]:
    """`kb index` of the sample into an empty data folder, with a fresh embedding cache (the
    torch model folder is made first if it is missing, and not counted)."""
    content = _slice(work / "content") if quick else ROOT / "content"
    subprocess.run([*KB[:2], "from kb.search.e5convert import model_folder; model_folder()"], check=True)
    data = work / "data"
    started = time.perf_counter()
    done = subprocess.run([*KB, "index", "--content", str(content), "--data", str(data)],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"kb index failed ({done.returncode}): {done.stderr[-2000:]}")
    text = done.stdout + done.stderr
    embedded = re.search(r"embedded (\d+) passages in ([\d.]+)s \(([\d.]+)/s\)", text)
    built = re.search(r"indexed (\d+) articles \((\d+) passages\) with \S+ in ([\d.]+)s", text)
    calibrated = re.search(r"^ranking weights:.*\[([\d.]+)s\]$", text, re.M)
    return {"articles": int(built[1]) if built else None, "passages": int(built[2]) if built else None,
            "wall_s": round(wall, 1), "build_s": float(built[3]) if built else None,
            "embedding_s": float(embedded[2]) if embedded else None,
            "passages_per_s": float(embedded[3]) if embedded else None,
            "calibration_s": float(calibrated[1]) if calibrated else None, "quick": quick}


def demo(work: Path) -> dict[str, Any]:
    """./scripts/demo on a fresh clone of HEAD with an empty home folder: seconds to each step."""
    clone, home = work / "clone", work / "home"
    home.mkdir()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "HOME": str(home), "PORT": str(free_port())}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT)))
    seen: dict[str, float] = {}
    lines: list[str] = []
    load_before = round(os.getloadavg()[0], 2)
    started = time.perf_counter()
    proc = subprocess.Popen(["./scripts/demo"], cwd=clone, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.perf_counter() - started
            lines.append(line.rstrip("\n"))
            for name, pattern in MARKERS:
                if name not in seen and pattern.search(line):
                    seen[name] = round(now, 1)
            if "serving" in seen or now > DEMO_LIMIT_S:
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if "first answer" not in seen:
        raise RuntimeError("the demo gave no answer within "
                           f"{DEMO_LIMIT_S} s; its last lines:\n" + "\n".join(lines[-30:]))
    return {"seconds_to": seen, "first_answer_s": seen["first answer"], "target_s": 180,
            "load_before": load_before, "load_after": round(os.getloadavg()[0], 2)}


def run(quick: bool, with_demo: bool | None = None) -> dict[str, Any]:
    with_demo = (not quick) if with_demo is None else with_demo
    info = machine()
    log(f"first run: {info['cpu']}, {info['nproc']} cores, load average {info['load_at_start']}")
    out: dict[str, Any] = {"machine": info}
    with tempfile.TemporaryDirectory(prefix="kb-first-") as tmp:
        work = Path(tmp)
        (work / "index").mkdir()
        out["first_index"] = first_index(work / "index", quick)
        log(f"first kb index: {out['first_index']}")
        if with_demo:
            (work / "demo").mkdir()
            out["demo"] = demo(work / "demo")
            log(f"demo: {out['demo']}")
    return out


def console(out: dict[str, Any]) -> list[str]:
    """The section's lines for the console (this script's and benchmarks/report.py's)."""
    if "first_index" not in out:
        return []
    first = out["first_index"]
    lines = [f"first kb index{' (one category: quick)' if first.get('quick') else ''}: {first['wall_s']} s wall "
             f"({first['passages']} passages; build {first['build_s']} s, {first['passages_per_s']} passages/s; "
             f"calibration {first['calibration_s']} s)"]
    if "demo" in out:
        d = out["demo"]
        steps = ", ".join(f"{k} {v} s" for k, v in d["seconds_to"].items())
        lines.append(f"./scripts/demo on a fresh clone: first answer at {d['first_answer_s']} s (target 180 s); "
                     f"{steps}; load average {d['load_before']} -> {d['load_after']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one category of the sample, no demo")
    ap.add_argument("--no-demo", action="store_true", help="the first kb index only")
    args = ap.parse_args(argv)
    print("\n".join(console(run(args.quick, with_demo=False if args.no_demo else None))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
