"""A per-code-point normalisation map in the format `tokenizers.normalizers.Precompiled` reads:
SentencePiece's "precompiled charsmap", a darts-clone double array (a 4-byte size, then 32-bit
units) followed by the NUL-terminated replacements the array's values point to.

Reading is what tokenizers' spm_precompiled does: start at unit 0, for each byte c move to
base ^ c and require the unit there to carry label c; a unit flagged "has leaf" keeps its value
in the unit at its base (bit 31 set, so it never passes a label check).
"""

from __future__ import annotations

import struct

import numpy as np


def precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """A darts-clone double array over the UTF-8 bytes of each mapped code point, whose values
    point into a blob of NUL-terminated replacements: the format `normalizers.Precompiled` reads."""
    blob = bytearray()
    where: dict[str, int] = {}
    trie: dict = {}
    for cp, rep in sorted(norm.items()):
        if cp == 0 or rep == chr(cp):
            continue  # NUL cannot be a key (the lookup stops there); identities change nothing
        if rep not in where:
            where[rep] = len(blob)
            blob += rep.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = where[rep]
    units = _double_array(trie)
    return struct.pack("<I", 4 * len(units)) + np.asarray(units, dtype="<u4").tobytes() + bytes(blob)


def _double_array(trie: dict) -> list[int]:
    """Place the trie's nodes: a node at `pos` with base b keeps child byte c at b ^ c (the unit
    there has label c) and its value, if any, at b ^ 0; bases are unique, so a label check
    is enough to tell a node's own children from its neighbours'."""
    size = 1 << 12
    units = [0] * size
    used = bytearray(size)
    bases: set[int] = set()
    labels = {0: 0}
    used[0] = 1
    todo = [(trie, 0)]
    low = 1
    while todo:
        node, pos = todo.pop()
        children = sorted(k for k in node if k >= 0)
        slots = ([0] if -1 in node else []) + children
        while used[low]:
            low += 1
        base = low ^ slots[0]
        while base in bases or any(base ^ c < len(used) and used[base ^ c] for c in slots):
            base += 1
        bases.add(base)
        while (base | 0xFF) >= len(units):
            units += [0] * size
            used += bytearray(size)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap too large")
        units[pos] = (offset << 10) | ((1 << 8) if -1 in node else 0) | labels[pos]
        if -1 in node:
            units[base] = (1 << 31) | node[-1]
            used[base] = 1
        for c in children:
            used[base ^ c] = 1
            labels[base ^ c] = c
            todo.append((node[c], base ^ c))
    while units and units[-1] == 0:
        units.pop()
    return units
