"""`/favicon.ico`: the brand mark of static/favicon.svg (a rounded square with a K), drawn here
into a 32×32 PNG inside an ICO file, so browsers and hosts that ask for the old name find it.

No imaging library: the two shapes are sampled 4×4 times per pixel (anti-aliased, with numpy)
and written as a PNG with zlib.
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

import numpy as np

SIZE, SAMPLES = 32, 4
BRAND = (0x0B, 0x5E, 0x55)
RADIUS = 8.0
# the K of static/favicon.svg: M10 22V10h3v5l5-5h4l-6 6 6 6h-4l-5-5v5z
K = [(10, 22), (10, 10), (13, 10), (13, 15), (18, 10), (22, 10), (16, 16), (22, 22), (18, 22), (13, 17), (13, 22)]


def _coverage() -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: the share of its samples inside the rounded square, and inside the K as well."""
    steps = (np.arange(SIZE * SAMPLES) + 0.5) / SAMPLES
    x, y = np.meshgrid(steps, steps)
    cx, cy = np.clip(x, RADIUS, SIZE - RADIUS), np.clip(y, RADIUS, SIZE - RADIUS)
    square = (x - cx) ** 2 + (y - cy) ** 2 <= RADIUS ** 2
    letter = np.zeros_like(square)
    for (x1, y1), (x2, y2) in zip(K, K[1:] + K[:1], strict=True):  # even-odd rule
        if y1 != y2:
            crosses = ((y1 > y) != (y2 > y)) & (x < x1 + (y - y1) * (x2 - x1) / (y2 - y1))
            letter ^= crosses
    letter &= square

    def per_pixel(mask: np.ndarray) -> np.ndarray:
        return mask.reshape(SIZE, SAMPLES, SIZE, SAMPLES).mean(axis=(1, 3))

    return per_pixel(square), per_pixel(letter)


def _png(rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + row for row in rows)
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


@lru_cache(maxsize=1)
def favicon_ico() -> bytes:
    square, letter = _coverage()
    white = np.divide(letter, square, out=np.zeros_like(square), where=square > 0)
    rgb = np.array(BRAND) + (255 - np.array(BRAND)) * white[..., None]
    rgba = np.concatenate([rgb, 255 * square[..., None]], axis=2).round().astype(np.uint8)
    png = _png([row.tobytes() for row in rgba])
    directory = struct.pack("<HHH", 0, 1, 1)  # reserved, type icon, one image
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(png), 6 + 16)
    return directory + entry + png
