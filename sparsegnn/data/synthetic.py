"""Synthetic graph generators: Chung-Lu power law, R-MAT and a stochastic block model.

All generators are deterministic for a given ``seed`` (numpy's PCG64) and vectorized: edges are
drawn in batches, never one at a time in Python, so 10^7 edges take a few seconds.

Edge policy, the same for every generator: the returned graph is *simple*. Self loops are
dropped, and so are repeats of an edge already drawn; the generator keeps drawing until it has
exactly the requested number of distinct edges. ``edge_index`` is int64 ``[2, E]`` sorted by
(target, source), the order of CSR rows in :class:`sparsegnn.Graph`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .dataset import GraphData, index_to_mask

_MAX_ROUNDS = 64
_CHUNK = 1 << 16  # R-MAT draws per cache-resident block

Sampler = Callable[[int], tuple[np.ndarray, np.ndarray]]


def power_law(
    num_nodes: int,
    num_edges: int,
    exponent: float = 2.1,
    seed: int = 0,
    max_degree: float | None = None,
) -> GraphData:
    """A directed Chung-Lu graph with a power-law expected degree sequence.

    Node ``i`` (before a random relabelling) gets weight ``w_i = (i + i0) ** (-1 / (exponent -
    1))``, ``i = 1..N``, which gives a degree distribution ``P(k) ~ k ** -exponent``. Each edge
    picks its source and its target independently with probability proportional to ``w``.
    ``i0 >= 0`` is chosen so that the largest expected total (in + out) degree is about
    ``max_degree``; node ids are then randomly permuted, so hubs are spread over the id range.

    Args:
        num_nodes: ``N >= 1``.
        num_edges: ``E``, the number of distinct directed edges, at most ``N * (N - 1)``.
        exponent: power-law exponent, ``> 1``.
        seed: random seed.
        max_degree: cap on the expected total degree of the heaviest node. None:
            ``2 * sqrt(E)``: the heaviest pair is then drawn about once in expectation, so
            few draws are repeats (Chung and Lu's bound ``max w <= sqrt(sum w)`` up to a
            factor ``sqrt(2)``).

    Returns:
        :class:`GraphData` with ``edge_index`` int64 ``[2, E]`` (simple, directed; see the
        module docstring), ``num_nodes = N``, no features or labels.
    """
    _check_counts(num_nodes, num_edges, num_nodes * (num_nodes - 1))
    if not exponent > 1:
        raise ValueError(f"exponent must be > 1, got {exponent}")
    if max_degree is not None and not max_degree > 0:
        raise ValueError(f"max_degree must be > 0, got {max_degree}")
    rng = np.random.default_rng(seed)
    cap = 2 * math.sqrt(num_edges) if max_degree is None else float(max_degree)
    alpha = 1.0 / (exponent - 1.0)
    avg_degree = 2 * num_edges / num_nodes
    i0 = _offset_for_ratio(num_nodes, alpha, cap / avg_degree) if num_edges else 0.0
    perm = rng.permutation(num_nodes)
    # Inverse-transform sampling of the density (t + i0) ** -alpha on [0.5, N + 0.5): node i
    # gets the mass of [i - 0.5, i + 0.5), the midpoint-rule weight of w_i. In log space
    # (g = log(t + i0), density ~ exp((1 - alpha) g)) this is one expression for every alpha.
    g_lo, g_hi = math.log(0.5 + i0), math.log(num_nodes + 0.5 + i0)
    beta = 1.0 - alpha

    def sample(k: int) -> tuple[np.ndarray, np.ndarray]:
        u = rng.random(2 * k)
        if abs(beta) < 1e-12:
            g = g_lo + u * (g_hi - g_lo)
        else:
            lo, hi = math.exp(beta * g_lo), math.exp(beta * g_hi)
            g = np.log(lo + u * (hi - lo)) / beta
        ends = np.floor(np.exp(g) - i0 - 0.5).astype(np.int64)
        ends = perm[np.clip(ends, 0, num_nodes - 1)]
        return ends[:k], ends[k:]

    keys = _distinct_edges(sample, num_edges, num_nodes, rng, undirected=False)
    return GraphData(_to_edge_index(keys, num_nodes), num_nodes, name="power_law")


def rmat(
    scale: int,
    edge_factor: int = 16,
    a: float = 0.57,
    b: float = 0.19,
    c: float = 0.19,
    seed: int = 0,
) -> GraphData:
    """A directed R-MAT graph (Chakrabarti et al. 2004) with the Graph500 defaults.

    Each edge descends ``scale`` levels of the adjacency matrix, choosing at each the quadrant
    top-left / top-right / bottom-left / bottom-right with probabilities ``a, b, c, d = 1 - a -
    b - c`` (row = source). Node ids are then randomly permuted, as Graph500 does.

    Args:
        scale: ``log2`` of the number of nodes, ``1 <= scale <= 31``.
        edge_factor: edges per node: ``E = edge_factor * 2 ** scale`` distinct directed edges.
        a, b, c: quadrant probabilities, non-negative with ``a + b + c <= 1``.
        seed: random seed.

    Returns:
        :class:`GraphData` with ``edge_index`` int64 ``[2, E]`` (simple, directed; see the
        module docstring), ``num_nodes = 2 ** scale``, no features or labels.
    """
    if not 1 <= scale <= 31:
        raise ValueError(f"scale must be in [1, 31], got {scale}")
    if min(a, b, c) < 0 or a + b + c > 1:
        raise ValueError(f"a, b, c must be >= 0 with a + b + c <= 1, got {a}, {b}, {c}")
    num_nodes = 1 << scale
    num_edges = edge_factor * num_nodes
    _check_counts(num_nodes, num_edges, num_nodes * (num_nodes - 1))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(num_nodes)
    thresholds = np.float32(a), np.float32(a + b), np.float32(a + b + c)

    def sample(k: int) -> tuple[np.ndarray, np.ndarray]:
        # With u uniform, passing t1 = u >= a, t2 = u >= a + b, t3 = u >= a + b + c: the
        # quadrant's source bit is t2 and its target bit t1 ^ t2 ^ t3. In place, in chunks
        # small enough for the cache, one level at a time.
        src, dst = np.zeros(k, dtype=np.uint32), np.zeros(k, dtype=np.uint32)
        u = np.empty(_CHUNK, dtype=np.float32)
        tmp = np.empty(_CHUNK, dtype=np.uint32)
        t2, t = np.empty(_CHUNK, dtype=bool), np.empty(_CHUNK, dtype=bool)
        for start in range(0, k, _CHUNK):
            n = min(_CHUNK, k - start)
            s, d = src[start:start + n], dst[start:start + n]
            un, tmpn, t2n, tn = u[:n], tmp[:n], t2[:n], t[:n]
            for level in range(scale):
                rng.random(out=un, dtype=np.float32)
                bit = np.uint32(1 << level)
                np.greater_equal(un, thresholds[1], out=t2n)
                s |= np.multiply(t2n, bit, out=tmpn)
                np.greater_equal(un, thresholds[0], out=tn)
                tn ^= t2n
                tn ^= np.greater_equal(un, thresholds[2], out=t2n)
                d |= np.multiply(tn, bit, out=tmpn)
        return perm[src], perm[dst]

    keys = _distinct_edges(sample, num_edges, num_nodes, rng, undirected=False)
    return GraphData(_to_edge_index(keys, num_nodes), num_nodes, name="rmat")


def sbm(
    num_nodes: int,
    num_classes: int,
    avg_degree: float,
    homophily: float = 0.8,
    num_features: int = 64,
    seed: int = 0,
    class_sep: float = 2.0,
) -> GraphData:
    """An undirected stochastic block model with class-correlated features and a split.

    Nodes get balanced random labels. Each undirected edge picks a uniform random endpoint,
    then, with probability ``homophily``, a uniform node of the same class, else a uniform node
    of a uniformly chosen other class; so about a ``homophily`` fraction of edges join nodes of
    one class (edge homophily). Features are ``mean[y] + noise`` with class means drawn from
    ``N(0, class_sep**2 / F)`` per dimension and ``N(0, 1)`` noise: two class means are
    ``class_sep * sqrt(2)`` noise standard deviations apart on average, whatever ``F``.

    Split: ``min(20, N // (10 * C))`` (at least 1) training nodes per class; of the remaining
    nodes ``min(500, rest // 3)`` validation and ``min(1000, rest - val)`` test nodes, all
    chosen at random.

    Args:
        num_nodes: ``N >= num_classes``.
        num_classes: ``C >= 1`` (with one class ``homophily`` is moot: every edge is in-class).
        avg_degree: mean degree; ``round(N * avg_degree / 2)`` distinct undirected edges.
        homophily: probability in ``[0, 1]`` that an edge is drawn within a class.
        num_features: ``F >= 0``.
        seed: random seed.
        class_sep: separation of the class means (see above); 0 makes features pure noise.

    Returns:
        :class:`GraphData` with ``edge_index`` int64 ``[2, 2 * M]`` (both directions of
        ``M`` distinct undirected edges, no self loops), ``x`` float32 ``[N, F]``, ``y`` int64
        ``[N]``, bool ``[N]`` masks and ``num_classes = C``.
    """
    if num_classes < 1 or num_nodes < num_classes:
        raise ValueError(
            f"need num_classes >= 1 and num_nodes >= num_classes, got num_nodes={num_nodes}, "
            f"num_classes={num_classes}"
        )
    if not 0 <= homophily <= 1:
        raise ValueError(f"homophily must be in [0, 1], got {homophily}")
    if num_features < 0 or avg_degree < 0:
        raise ValueError("num_features and avg_degree must be >= 0")
    num_pairs = round(num_nodes * avg_degree / 2)
    _check_counts(num_nodes, num_pairs, num_nodes * (num_nodes - 1) // 2)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(num_nodes) % num_classes)
    by_class = np.argsort(y, kind="stable")
    class_size = np.bincount(y, minlength=num_classes)
    class_start = np.concatenate([[0], np.cumsum(class_size)[:-1]])

    def sample(k: int) -> tuple[np.ndarray, np.ndarray]:
        src = rng.integers(0, num_nodes, k)
        cls = y[src]
        if num_classes > 1:
            other = (cls + rng.integers(1, num_classes, k)) % num_classes
            cls = np.where(rng.random(k) < homophily, cls, other)
        dst = by_class[class_start[cls] + (rng.random(k) * class_size[cls]).astype(np.int64)]
        return src, dst

    keys = _distinct_edges(sample, num_pairs, num_nodes, rng, undirected=True)
    low, high = np.divmod(keys, num_nodes)
    edge_index = _to_edge_index(np.sort(np.concatenate([keys, high * num_nodes + low])), num_nodes)

    means = rng.standard_normal((num_classes, num_features), dtype=np.float32)
    means *= class_sep / math.sqrt(max(num_features, 1))
    x = rng.standard_normal((num_nodes, num_features), dtype=np.float32)
    x += means[y]

    per_class = min(20, max(1, num_nodes // (10 * num_classes)))
    order = rng.permutation(num_nodes)
    order = order[np.argsort(y[order], kind="stable")]
    rank = np.arange(num_nodes) - class_start[y[order]]
    train = order[rank < per_class]
    rest = rng.permutation(order[rank >= per_class])
    num_val = min(500, rest.size // 3)
    num_test = min(1000, rest.size - num_val)

    return GraphData(
        edge_index,
        num_nodes,
        x=torch.from_numpy(x),
        y=torch.from_numpy(y.astype(np.int64)),
        train_mask=index_to_mask(train, num_nodes),
        val_mask=index_to_mask(rest[:num_val], num_nodes),
        test_mask=index_to_mask(rest[num_val:num_val + num_test], num_nodes),
        num_classes=num_classes,
        name="sbm",
    )


_SPECS: dict[str, tuple[Callable[..., GraphData], tuple[type, ...], int, str]] = {
    # name: (generator, argument types, number of required arguments, usage)
    "power_law": (power_law, (int, int, float), 2, "power_law:NUM_NODES,NUM_EDGES[,EXPONENT]"),
    "rmat": (rmat, (int, int), 1, "rmat:SCALE[,EDGE_FACTOR]"),
    "sbm": (sbm, (int, int, float, float), 3,
            "sbm:NUM_NODES,NUM_CLASSES,AVG_DEGREE[,HOMOPHILY]"),
}


def make_synthetic(spec: str, seed: int = 0) -> GraphData:
    """A synthetic graph from a short spec string, for the benchmarks and the CLI.

    Specs: ``"power_law:NUM_NODES,NUM_EDGES[,EXPONENT]"`` (:func:`power_law`),
    ``"rmat:SCALE[,EDGE_FACTOR]"`` (:func:`rmat`) and
    ``"sbm:NUM_NODES,NUM_CLASSES,AVG_DEGREE[,HOMOPHILY]"`` (:func:`sbm`), e.g.
    ``"power_law:169343,1166243"``, ``"rmat:17,16"``, ``"sbm:10000,5,10"``.

    Raises:
        ValueError: unknown generator, wrong number of arguments, or an argument that does not
            parse (the message shows the expected form), or invalid generator arguments.
    """
    name, sep, args = spec.strip().partition(":")
    if name not in _SPECS:
        raise ValueError(f"unknown synthetic graph {name!r} in spec {spec!r}; "
                         f"expected one of {sorted(_SPECS)}")
    fn, types, required, usage = _SPECS[name]
    fields = [f.strip() for f in args.split(",")] if sep and args.strip() else []
    if not required <= len(fields) <= len(types):
        raise ValueError(f"bad spec {spec!r}: expected {usage}")
    try:
        values = [kind(field) for kind, field in zip(types, fields)]
    except ValueError:
        raise ValueError(f"bad spec {spec!r}: expected {usage}") from None
    return fn(*values, seed=seed)


def _check_counts(num_nodes: int, num_edges: int, max_edges: int) -> None:
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    if not 0 <= num_edges <= max_edges:
        raise ValueError(
            f"num_edges must be in [0, {max_edges}] for a simple graph on {num_nodes} nodes, "
            f"got {num_edges}"
        )


def _offset_for_ratio(num_nodes: int, alpha: float, ratio: float) -> float:
    """The ``i0 >= 0`` for which ``w_1 / mean(w) = ratio`` with ``w_i = (i + i0) ** -alpha``.

    ``w_1 / mean(w)`` falls from its value at ``i0 = 0`` towards 1 as ``i0`` grows; the sum is
    approximated by the midpoint integral, and ``i0`` found by bisection on ``log1p(i0)``.
    """

    def first_over_mean(i0: float) -> float:
        lo, hi = 0.5 + i0, num_nodes + 0.5 + i0
        if math.isclose(alpha, 1.0):
            integral = math.log(hi / lo)
        else:
            integral = (hi ** (1 - alpha) - lo ** (1 - alpha)) / (1 - alpha)
        return num_nodes * (1 + i0) ** -alpha / integral

    if first_over_mean(0.0) <= ratio:
        return 0.0
    lo, hi = 0.0, math.log1p(1e12)  # beyond this the weights are uniform to float precision
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if first_over_mean(math.expm1(mid)) > ratio:
            lo = mid
        else:
            hi = mid
    return math.expm1(hi)


def _distinct_edges(
    sample: Sampler, num_edges: int, num_nodes: int, rng: np.random.Generator, undirected: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Draw edges with ``sample(k) -> (src [k], dst [k])`` until ``num_edges`` distinct ones
    without self loops are found; ``undirected`` identifies ``(u, v)`` with ``(v, u)`` and
    keeps each pair once with ``dst = min, src = max``. Surplus edges of the last batch are
    dropped uniformly at random. Returns the sorted int64 keys ``dst * num_nodes + src``
    ``[num_edges]``."""
    keys = np.empty(0, dtype=np.int64)  # sorted keys dst * N + src of the edges kept
    draw = num_edges + num_edges // 8 + 64
    for _ in range(_MAX_ROUNDS):
        deficit = num_edges - keys.size
        if deficit == 0:
            break
        src, dst = sample(draw)
        if undirected:
            src, dst = np.maximum(src, dst), np.minimum(src, dst)
        new = (dst * num_nodes + src)[src != dst]
        new.sort()
        new = new[np.concatenate([[True], new[1:] != new[:-1]])]  # np.unique is slow in 2.x
        if keys.size:
            pos = np.minimum(np.searchsorted(keys, new), keys.size - 1)
            new = new[keys[pos] != new]
        found = new.size
        if found > deficit:
            new = np.delete(new, rng.choice(found, found - deficit, replace=False))
        keys = np.sort(np.concatenate([keys, new])) if keys.size else new
        rate = max(found / draw, 1e-3)
        draw = min(int((num_edges - keys.size) / rate * 1.2) + 64, 4 * num_edges + 64)
    if keys.size < num_edges:
        raise ValueError(
            f"could only draw {keys.size} distinct edges of the {num_edges} asked for in "
            f"{_MAX_ROUNDS} rounds: the graph is too dense for this degree distribution"
        )
    return keys


def _to_edge_index(keys: np.ndarray, num_nodes: int) -> torch.Tensor:
    """int64 ``[2, E]`` (source, target) from sorted keys ``target * num_nodes + source``."""
    edge_index = np.empty((2, keys.size), dtype=np.int64)
    np.divmod(keys, num_nodes, out=(edge_index[1], edge_index[0]))
    return torch.from_numpy(edge_index)
