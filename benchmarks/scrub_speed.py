"""How long scrubbing personal data takes: it runs on every logged search and feedback reason.

    python benchmarks/scrub_speed.py [--quick]

Prints microseconds per call (the best of three rounds) for typical shopper queries and for
hostile 500-character inputs built from what the rules look for (a catastrophic regular
expression would show here as milliseconds or seconds). Names the CPU the figures came from.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from kb.analytics.scrub import scrub

TYPICAL = ["how do I cancel my order", "Wie storniere ich meine Bestellung?", "Où est mon colis ?",
           "¿Cuánto tarda el reembolso?", "Come posso restituire un articolo?", "Jak zmienić adres dostawy?",
           "Siparişimi nasıl iptal ederim?", "refund for order KM-12345678 not received after 14 days",
           "my card 4111 1111 1111 1111 was charged twice", "Lieferung am 08.09.2026 zwischen 08:00 und 12:00",
           "iPhone 15 Pro 256 GB price", "where is my parcel, I looked at the tracking page"]
HOSTILE = ["1 " * 250, "1." * 250, "a at " * 100, "a" * 499 + "1", "Ab " * 166 + "1", "via Ab " * 70 + "1",
           "a dot " * 80 + "at b", "password " * 55, "12 " + "Ab " * 160, "4111." * 100, "x" * 250 + "@" + "y." * 120]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def microseconds_per_call(texts: list[str], rounds: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            for text in texts:
                scrub(text)
        best = min(best, (time.perf_counter() - start) / (rounds * len(texts)) * 1e6)
    return best


def run(quick: bool) -> dict[str, float]:
    typical = microseconds_per_call(TYPICAL, 20 if quick else 500)
    worst = max(microseconds_per_call([text[:500]], 1 if quick else 20) for text in HOSTILE)
    return {"typical_us": round(typical, 1), "hostile_worst_us": round(worst, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds only (the CI smoke run)")
    result = run(parser.parse_args().quick)
    print(f"scrub on {cpu_name()}: typical query {result['typical_us']} µs a call; "
          f"worst hostile 500-character input {result['hostile_worst_us']} µs")


if __name__ == "__main__":
    main()
