"""Search throughput with and without a stream of wrong admin keys (issue 17: wrong keys used to
cost ~37 ms of scrypt each and cut search throughput from 45 to 27.5 requests/s).

    python benchmarks/abuse.py --data DIR            # an index in DIR/index; 3 rounds of 20 s per phase
    python benchmarks/abuse.py --data DIR --quick    # the smoke run: 1 round of 3 s

`kb serve` runs on 127.0.0.1 with an admin key, the rate limit off and the query-vector cache
off (as in load.py). Searches come closed-loop from `--concurrency` clients; the attack is four
clients each sending 12 requests a second with a wrong key to GET /v1/admin/gaps, paced (open
loop), on kept-alive connections. Two servers are measured: one as shipped (after 10 wrong keys
a minute an address gets 429), and one with the failure limit off (KB_ADMIN_FAILURES=off), where
every wrong key is hashed and compared. Phases alternate (quiet, attacked, quiet, attacked, …)
so that other load on the machine falls on both alike; the verdict compares their medians.
Bounded: every phase stops after its duration, every server is stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import log, machine  # noqa: E402
from benchmarks.load import KbServer, Req, _Conn, _load, encode_request, load_queries  # noqa: E402

ATTACKERS, ATTACK_RATE = 4, 12.0  # clients, wrong keys a second each
ADMIN_KEY = "abuse-benchmark-admin-key-0123456789abcdef"
ALLOWED_DROP = 0.10


async def _attack(base_url: str, duration: float, statuses: dict[str, int]) -> None:
    """ATTACKERS clients, each sending ATTACK_RATE wrong-key requests a second for `duration` s."""
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80

    async def client(n: int) -> None:
        conn = _Conn(host, port)
        interval = 1.0 / ATTACK_RATE
        start = time.perf_counter() + n * interval / ATTACKERS  # spread the clients over the interval
        sent = 0
        try:
            while (due := start + sent * interval) < start + duration:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                raw = encode_request(Req("GET", "/v1/admin/gaps"), url.netloc, {"X-API-Key": f"wrong-{n}-{sent}"})
                try:
                    status = str(await asyncio.wait_for(conn.send(raw), 5.0))
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    conn.close()
                    status = type(exc).__name__
                statuses[status] = statuses.get(status, 0) + 1
                sent += 1
        finally:
            conn.close()

    await asyncio.gather(*(client(n) for n in range(ATTACKERS)))


async def _phase(base_url: str, reqs: list[Req], concurrency: int, duration: float, attacked: bool) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    jobs = [_load(base_url, reqs, concurrency, duration, headers=None, max_requests=1_000_000, timeout=10.0)]
    if attacked:
        jobs.append(_attack(base_url, duration, statuses))
    result = (await asyncio.gather(*jobs))[0]
    out = result.summary()
    if attacked:
        out["attack"] = {"requests": sum(statuses.values()), "rps": round(sum(statuses.values()) / duration, 1),
                         "statuses": dict(sorted(statuses.items()))}
    return out


async def _warm_up(base_url: str, reqs: list[Req]) -> None:
    """A few searches, waited for however long the first takes (the server loads its models then)."""
    url = urlsplit(base_url)
    conn = _Conn(url.hostname or "127.0.0.1", url.port or 80)
    try:
        for req in reqs[:5]:
            await asyncio.wait_for(conn.send(encode_request(req, url.netloc, None)), 600)
    finally:
        conn.close()


def _cpu_seconds(pid: int) -> float:
    try:
        import psutil

        proc = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [proc, *proc.children(recursive=True)])
    except Exception:  # noqa: BLE001 - the CPU column is a nicety
        return float("nan")


def measure(data_dir: Path, failures: str, rounds: int, duration: float, concurrency: int,
            queries: list[str]) -> dict[str, Any]:
    reqs = [Req("GET", "/v1/search", params={"q": q, "lang": "en", "k": 10}) for q in queries]
    phases: dict[str, list[dict[str, Any]]] = {"quiet": [], "attacked": []}
    with tempfile.TemporaryDirectory(prefix="kb-abuse-") as tmp, \
            KbServer(data_dir, env={"KB_ADMIN_KEY": ADMIN_KEY, "KB_RATE_LIMIT": "off", "KB_ADMIN_FAILURES": failures,
                                    "KB_DATABASE_URL": f"sqlite:///{tmp}/abuse.sqlite"}) as server:
        assert server.proc is not None
        asyncio.run(_warm_up(server.url, reqs))
        for i in range(rounds):
            for name in ("quiet", "attacked"):
                log(f"abuse: failures={failures} round {i + 1}/{rounds} {name} for {duration:.0f}s")
                cpu = _cpu_seconds(server.proc.pid)
                out = asyncio.run(_phase(server.url, reqs, concurrency, duration, name == "attacked"))
                out["server_cpu_s"] = round(_cpu_seconds(server.proc.pid) - cpu, 2)
                out["load_average"] = round(os.getloadavg()[0], 1)
                phases[name].append(out)
    med = {name: {"rps": round(statistics.median(p["rps"] for p in runs), 2),
                  "p95_ms": round(statistics.median(p["p95_ms"] for p in runs), 1),
                  "p50_ms": round(statistics.median(p["p50_ms"] for p in runs), 1)} for name, runs in phases.items()}
    ratio = med["attacked"]["rps"] / med["quiet"]["rps"] if med["quiet"]["rps"] else 0.0
    paired = [a["rps"] / q["rps"] for q, a in zip(phases["quiet"], phases["attacked"], strict=True) if q["rps"]]
    return {"failure_limit": failures, "phases": phases, "median": med, "rps_ratio": round(ratio, 3),
            "paired_ratio_median": round(statistics.median(paired), 3) if paired else None,
            "within_10_percent": ratio >= 1 - ALLOWED_DROP, "cpu_ms_per_wrong_key": cpu_per_wrong_key(phases)}


def cpu_per_wrong_key(phases: dict[str, list[dict[str, Any]]]) -> float | None:
    """The server's CPU time per wrong-key request, less sensitive to other load on the machine than
    throughput: CPU per search from the quiet phases, the attacked phases' CPU less their searches'
    share, divided by the wrong keys sent."""
    quiet_cpu = sum(p["server_cpu_s"] for p in phases["quiet"])
    quiet_requests = sum(p["requests"] for p in phases["quiet"])
    attacks = sum(p["attack"]["requests"] for p in phases["attacked"])
    if not quiet_requests or not attacks:
        return None
    per_search = quiet_cpu / quiet_requests
    extra = sum(p["server_cpu_s"] - p["requests"] * per_search for p in phases["attacked"])
    return round(1000 * extra / attacks, 2)


def run(data_dir: Path, quick: bool, rounds: int | None = None, duration: float | None = None,
        concurrency: int = 4) -> dict[str, Any]:
    rounds = rounds or (1 if quick else 3)
    duration = duration or (3.0 if quick else 20.0)
    queries = load_queries(100 if quick else 2000)
    out: dict[str, Any] = {"quick": quick, "rounds": rounds, "duration_s": duration, "concurrency": concurrency,
                           "attack": f"{ATTACKERS} clients x {ATTACK_RATE:g} wrong keys/s on GET /v1/admin/gaps",
                           "cpu": machine().get("cpu"), "servers": {}}
    for failures in ("10", "off"):
        out["servers"][failures] = measure(data_dir, failures, rounds, duration, concurrency, queries)
    out["ok"] = quick or all(s["within_10_percent"] for s in out["servers"].values())  # 3 s phases are a smoke test
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/abuse.py", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a kb data folder with an index")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 3 s per phase")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="length of each phase")
    parser.add_argument("--concurrency", type=int, default=4, help="search clients")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    result = run(args.data, args.quick, args.rounds, args.seconds, args.concurrency)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(summary(result))
    return 0 if result["ok"] else 1


def verdict(result: dict[str, Any], server: dict[str, Any]) -> str:
    if result.get("quick"):
        return "smoke run: phases too short to judge"
    return "within 10 %" if server["within_10_percent"] else "OVER 10 %"


def summary(result: dict[str, Any]) -> str:
    lines = [f"abuse: {result['attack']}, searches from {result['concurrency']} clients, "
             f"{result['rounds']} x {result['duration_s']:g} s per phase, CPU {result.get('cpu')}"]
    for failures, s in result.get("servers", {}).items():
        q, a = s["median"]["quiet"], s["median"]["attacked"]
        statuses = {}
        for p in s["phases"]["attacked"]:
            for k, v in p["attack"]["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
        lines.append(f"  failure limit {failures:>3}: search {q['rps']:.1f} -> {a['rps']:.1f} req/s "
                     f"({(s['rps_ratio'] - 1) * 100:+.1f} %; round by round {s.get('paired_ratio_median')}), p95 {q['p95_ms']:.0f} -> {a['p95_ms']:.0f} ms; "
                     f"wrong keys answered {statuses}, server CPU per wrong key ~{s.get('cpu_ms_per_wrong_key')} ms; "
                     f"{verdict(result, s)}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
