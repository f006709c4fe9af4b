"""Average-linkage clustering of unit vectors by cosine similarity, cut at a threshold (numpy only).

The nearest-neighbour-chain algorithm: O(n²) time and memory, the same clusters as
scipy.cluster.hierarchy.linkage(method="average", metric="cosine") cut at distance 1 - threshold.
Points may carry weights (a query typed 5 times counts 5 times).
"""

from __future__ import annotations

import numpy as np


def average_linkage(vectors: np.ndarray, threshold: float, weights: np.ndarray | None = None) -> list[list[int]]:
    """Clusters of row indices: two clusters merge while their mean pairwise cosine is >= threshold."""
    n = len(vectors)
    if n == 0:
        return []
    sim = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    active = np.ones(n, dtype=bool)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    done: list[list[int]] = []
    chain: list[int] = []
    while members:
        if not chain:
            chain.append(int(np.flatnonzero(active)[0]))
        top = chain[-1]
        row = np.where(active, sim[top], -np.inf)
        nn = int(np.argmax(row))
        if len(chain) > 1 and row[chain[-2]] >= row[nn]:
            nn = chain[-2]  # ties go back down the chain, so it always ends
        if not row[nn] >= threshold:
            # nothing near enough to the top; by reducibility nothing ever will be, and every
            # cluster below it on the chain is at least as far from the rest: all are final
            for c in chain:
                done.append(members.pop(c))
                active[c] = False
            chain.clear()
            continue
        if len(chain) > 1 and nn == chain[-2]:
            chain.pop()
            chain.pop()
            a, b = top, nn
            merged = (size[a] * sim[a] + size[b] * sim[b]) / (size[a] + size[b])
            sim[a, :] = merged
            sim[:, a] = merged
            sim[a, a] = -np.inf
            sim[b, :] = -np.inf
            sim[:, b] = -np.inf
            size[a] += size[b]
            active[b] = False
            members[a] += members.pop(b)
        else:
            chain.append(nn)
    return done
