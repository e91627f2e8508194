"""The samplers' compiled loops (numba, single-threaded, seeded per call, so a result depends only
on its inputs and ``seed``): draws from a fixed distribution by an alias table; neighbour
sampling without replacement, hop by hop; random walks;
per-root k-hop and PPR node sets; the disjoint union of node-induced subgraphs; and GCN's
normalisation of a batch graph in one pass. Loops over rows spread all over the graph prefetch
the rows they will read (:mod:`sparsegnn.graph.intrinsics`); the samplers keep those graphs on
huge pages (:mod:`sparsegnn.graph.hugepages`).

Every kernel takes a CSR ``rowptr`` (int64 ``[N + 1]``) and ``col`` (int32 or int64 ``[nnz]``:
numba compiles each once); "the
neighbours of ``u``" are the columns of row ``u`` (the nodes whose messages ``u`` receives).
``scratch`` is an int32 (int64 past 2^31 nodes) ``[N]`` array of ``-1`` (:func:`node_map`) that
a kernel may use as a node map and leaves as it found it (so a sampler allocates it once, not per
batch).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..graph.kernels import sort_columns
from ..graph.intrinsics import DISTANCE, popcount, prefetch, prefetch_span


def node_map(num_nodes: int) -> np.ndarray:
    """A kernel's ``scratch``: ``[num_nodes]`` of ``-1``, int32 while ids fit (half the cache
    footprint of int64 for the random reads of a batch)."""
    return np.full(num_nodes, -1, dtype=np.int32 if num_nodes < 2**31 else np.int64)


@njit(cache=True)
def alias_table(prob, alias):  # pragma: no cover - jitted
    """Walker's alias table of ``prob`` (float64 ``[n]``, non-negative, summing to 1), built by
    Vose's method in O(n): returns ``accept`` float32 ``[n]`` and fills ``alias`` (``[n]``,
    int32 or int64, given as ``arange(n)``), such that drawing a uniform bucket ``i`` and keeping
    ``i`` with probability ``accept[i]``, else taking ``alias[i]``, draws ``i`` with probability
    ``prob[i]`` (to float32 rounding of ``accept``: a relative error below 1e-7)."""
    n = prob.shape[0]
    scaled = prob * n
    accept = np.ones(n, np.float32)
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        accept[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0  # g gives s's bucket the rest of its mass
        if scaled[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    return accept  # buckets left on either stack are full (accept 1): rounding residue


@njit(cache=True)
def alias_draw(accept, alias, uniforms):  # pragma: no cover - jitted
    """int64 ``[k]``: one draw from :func:`alias_table`'s distribution per uniform in ``[0, 1)``
    (its integer part times ``n`` picks the bucket, the fraction decides accept or alias): O(1)
    and two reads each, asked for ``DISTANCE`` draws ahead (the buckets lie all over the table)."""
    n = accept.shape[0]
    size = uniforms.shape[0]
    out = np.empty(size, np.int64)
    for k in range(size):
        if k + DISTANCE < size:
            ahead = min(np.int64(uniforms[k + DISTANCE] * n), n - 1)
            prefetch(accept, ahead)
            prefetch(alias, ahead)
        x = uniforms[k] * n
        i = min(np.int64(x), n - 1)
        out[k] = i if x - i < accept[i] else alias[i]
    return out


@njit(cache=True)
def _choose(deg, k, picked):  # pragma: no cover - jitted
    """``k`` distinct offsets in ``[0, deg)`` into ``picked[:k]`` (Floyd's algorithm). Up to 64
    picks the duplicate test scans ``picked[:n]`` (O(k^2) compares in L1, no allocation); past
    that a hash set (O(k))."""
    if k == deg:
        for i in range(deg):
            picked[i] = i
        return
    n = 0
    if k <= 64:
        for j in range(deg - k, deg):
            t = np.random.randint(0, j + 1)
            for q in range(n):
                if picked[q] == t:
                    t = j
                    break
            picked[n] = t
            n += 1
        return
    chosen = set()
    for j in range(deg - k, deg):
        t = np.random.randint(0, j + 1)
        if t in chosen:
            t = j
        chosen.add(t)
        picked[n] = t
        n += 1


@njit(cache=True)
def neighbor_sample(rowptr, col, seeds, fanouts, seed, scratch):  # pragma: no cover - jitted
    """GraphSAGE's sampler on one shared node set: hop ``h`` gives every node first reached at
    hop ``h`` (the seeds at hop 0) up to ``fanouts[h]`` distinct entries of its row, uniformly
    (``-1``: all of them); their columns not seen yet become hop ``h + 1``.

    Returns ``(nodes, hops, row, col_local, position)``: int64 ``[n]`` node ids (seeds first,
    then each hop's new nodes in the order reached), int64 ``[n]`` their hops, and per sampled
    entry int64 ``[m]`` its local row, local column and position in the CSR."""
    np.random.seed(seed)
    nodes = [s for s in seeds]
    hops = [0 for _ in seeds]
    for i in range(len(nodes)):
        scratch[nodes[i]] = i
    rows, cols, positions = [0], [0], [0]
    rows.pop()
    cols.pop()
    positions.pop()
    start, stop = 0, len(nodes)
    picked = np.empty(0, np.int64)
    for h in range(len(fanouts)):
        for i in range(start, stop):
            u = nodes[i]
            lo, deg = rowptr[u], rowptr[u + 1] - rowptr[u]
            k = deg if fanouts[h] < 0 else min(deg, fanouts[h])
            if picked.shape[0] < k:
                picked = np.empty(max(k, 2 * picked.shape[0]), np.int64)
            _choose(deg, k, picked)
            for j in range(k):
                e = lo + picked[j]
                v = col[e]
                if scratch[v] < 0:
                    scratch[v] = len(nodes)
                    nodes.append(v)
                    hops.append(h + 1)
                rows.append(i)
                cols.append(scratch[v])
                positions.append(e)
        start, stop = stop, len(nodes)
    out_nodes = np.array(nodes, dtype=np.int64)
    for v in out_nodes:
        scratch[v] = -1
    return (out_nodes, np.array(hops, dtype=np.int64), np.array(rows, dtype=np.int64),
            np.array(cols, dtype=np.int64), np.array(positions, dtype=np.int64))


@njit(cache=True)
def random_walks(rowptr, col, roots, walk_length, seed):  # pragma: no cover - jitted
    """int64 ``[r, walk_length + 1]``: from every root, ``walk_length`` steps, each to a uniform
    entry of the current row (a node with an empty row stays where it is). The walks advance
    together, one step of every walk at a time, so a step's row reads are independent of one
    another; each step is a pipeline over the walks (:mod:`sparsegnn.graph.intrinsics`): walk
    ``w + 2 DISTANCE``'s ``rowptr`` is prefetched, walk ``w + DISTANCE`` draws its entry and
    prefetches that, and walk ``w`` takes it. The draws happen in walk order, as in a plain loop,
    so the walks depend only on ``seed``."""
    np.random.seed(seed)
    r = roots.shape[0]
    walks = np.empty((r, walk_length + 1), np.int64)
    for w in range(r):
        walks[w, 0] = roots[w]
    entry = np.empty(r, np.int64)  # the entry walk w takes at this step; -1: an empty row
    for step in range(1, walk_length + 1):
        for w in range(r + 2 * DISTANCE):
            if w < r:
                prefetch(rowptr, walks[w, step - 1])
            drawn = w - DISTANCE
            if 0 <= drawn < r:
                u = walks[drawn, step - 1]
                lo = rowptr[u]
                deg = rowptr[u + 1] - lo
                entry[drawn] = lo + np.random.randint(0, deg) if deg > 0 else -1
                if deg > 0:
                    prefetch(col, entry[drawn])
            taken = w - 2 * DISTANCE
            if taken >= 0:
                e = entry[taken]
                walks[taken, step] = col[e] if e >= 0 else walks[taken, step - 1]
    return walks


#: de Bruijn sequence and table: the index of a 64-bit word's lowest set bit in two operations
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_LOWEST_BIT = np.array([0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4, 62, 55, 59, 36, 53, 51, 43, 22,
                        45, 39, 33, 30, 24, 18, 12, 5, 63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
                        46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6], dtype=np.int64)


@njit(cache=True)
def distinct_sorted(values, num_nodes):  # pragma: no cover - jitted
    """The distinct ids of ``values`` (ints in ``[0, num_nodes)``, any shape), ascending, as int64:
    ``np.unique`` by membership bits (O(len + N / 64), no sort)."""
    flat = values.ravel()
    member = np.zeros((num_nodes >> 6) + 1, np.uint64)
    one = np.uint64(1)
    for v in flat:
        member[v >> 6] |= one << np.uint64(v & 63)
    count = 0
    for w in member:
        while w:
            w &= w - one
            count += 1
    out = np.empty(count, np.int64)
    at = 0
    for k in range(member.shape[0]):
        w = member[k]
        base = k << 6
        while w:
            low = w & (~w + one)  # the lowest set bit alone
            out[at] = base + _LOWEST_BIT[((low * _DEBRUIJN) >> np.uint64(58))]
            at += 1
            w ^= low
    return out


@njit(cache=True)
def khop_sets(rowptr, col, roots, depth, fanout, seed, scratch):  # pragma: no cover - jitted
    """ShaDow's node sets: per root, its ``depth``-hop neighbourhood where every node reached
    takes up to ``fanout`` distinct uniform entries of its row (``-1``: all: the k-hop ball).

    Returns ``(nodes, nodeptr)``: int64 node ids, root ``r``'s set being
    ``nodes[nodeptr[r]:nodeptr[r + 1]]`` (the root first, then in the order reached)."""
    np.random.seed(seed)
    out = [0]
    out.pop()
    nodeptr = np.zeros(roots.shape[0] + 1, np.int64)
    picked = np.empty(0, np.int64)
    for r in range(roots.shape[0]):
        base = len(out)
        out.append(roots[r])
        scratch[roots[r]] = 0
        start, stop = base, base + 1
        for _ in range(depth):
            for i in range(start, stop):
                u = out[i]
                lo, deg = rowptr[u], rowptr[u + 1] - rowptr[u]
                k = deg if fanout < 0 else min(deg, fanout)
                if picked.shape[0] < k:
                    picked = np.empty(max(k, 2 * picked.shape[0]), np.int64)
                _choose(deg, k, picked)
                for j in range(k):
                    v = col[lo + picked[j]]
                    if scratch[v] < 0:
                        scratch[v] = 0
                        out.append(v)
            start, stop = stop, len(out)
        for i in range(base, len(out)):
            scratch[out[i]] = -1
        nodeptr[r + 1] = len(out)
    return np.array(out, dtype=np.int64), nodeptr


@njit(cache=True)
def ppr_topk_sets(rowptr, col, roots, alpha, eps, top_k, p, r, scratch):  # pragma: no cover - jitted
    """ShaDow's PPR node sets: per root, approximate personalised PageRank by Andersen et al.'s
    push (teleport ``alpha``; push a node while its residual is at least ``eps`` times its
    degree), then the root and up to ``top_k - 1`` other nodes of highest score (ties: first
    reached first).

    ``p``, ``r``: float64 ``[N]`` zeros and ``scratch`` int64 ``[N]`` of -1, all restored on
    return. Returns ``(nodes, nodeptr)`` as :func:`khop_sets`."""
    out = [0]
    out.pop()
    nodeptr = np.zeros(roots.shape[0] + 1, np.int64)
    for ri in range(roots.shape[0]):
        root = roots[ri]
        touched = [root]
        queue = [root]
        scratch[root] = 1  # -1 untouched, 0 touched, 1 queued
        r[root] = 1.0
        head = 0
        while head < len(queue):
            u = queue[head]
            head += 1
            scratch[u] = 0
            deg = rowptr[u + 1] - rowptr[u]
            if deg == 0:
                p[u] += r[u]
                r[u] = 0.0
                continue
            if r[u] < eps * deg:
                continue
            p[u] += alpha * r[u]
            push = (1.0 - alpha) * r[u] / deg
            r[u] = 0.0
            for e in range(rowptr[u], rowptr[u + 1]):
                v = col[e]
                if scratch[v] < 0:
                    scratch[v] = 0
                    touched.append(v)
                r[v] += push
                if scratch[v] == 0 and r[v] >= eps * max(rowptr[v + 1] - rowptr[v], 1):
                    scratch[v] = 1
                    queue.append(v)
        candidates = np.array(touched, dtype=np.int64)
        scores = np.empty(candidates.shape[0])
        for i in range(candidates.shape[0]):
            scores[i] = p[candidates[i]]
        order = np.argsort(-scores, kind="mergesort")
        out.append(root)
        count = 1
        for i in order:
            if count >= top_k or scores[i] <= 0.0:
                break
            if candidates[i] != root:
                out.append(candidates[i])
                count += 1
        for v in touched:
            p[v] = 0.0
            r[v] = 0.0
            scratch[v] = -1
        nodeptr[ri + 1] = len(out)
    return np.array(out, dtype=np.int64), nodeptr


@njit(cache=True)
def part_nodes(perm, partptr, parts, is_train, labels):  # pragma: no cover - jitted
    """The nodes of ``parts`` (int64 ``[q]``) part by part, in the order of ``parts``, where
    part ``p`` holds ``perm[partptr[p]:partptr[p + 1]]`` (a :class:`~sparsegnn.graph.Partition`);
    ``is_train`` (bool) and ``labels`` are ``[N]`` **in part order** (``mask[perm]``), so all
    three are read as streams.

    Returns ``(nodes, loss_rows, y)``: int64 ``[n]`` global ids, int64 ``[t]`` the batch rows of
    its training nodes, ``[t]`` their labels (``labels``' dtype)."""
    n = 0
    t = 0
    for p in parts:
        n += partptr[p + 1] - partptr[p]
        for i in range(partptr[p], partptr[p + 1]):
            t += is_train[i]
    nodes = np.empty(n, np.int64)
    loss_rows = np.empty(t, np.int64)
    y = np.empty(t, labels.dtype)
    k = 0
    j = 0
    for p in parts:
        for i in range(partptr[p], partptr[p + 1]):
            nodes[k] = perm[i]
            if is_train[i]:
                loss_rows[j] = k
                y[j] = labels[i]
                j += 1
            k += 1
    return nodes, loss_rows, y


@njit(cache=True, nogil=True)
def gather_rows(x, ids, out):  # pragma: no cover - jitted
    """``out[i] = x[ids[i]]`` for a C-contiguous ``x [N, F]`` and int64 ``ids [n]`` (``out [n, F]``
    of ``x``'s dtype), asking for row ``ids[i + DISTANCE]`` while copying row ``ids[i]``: a
    batch's rows lie all over ``x``. An id outside ``[0, N)`` raises IndexError, as torch's
    gather does. Releases the GIL (:func:`common.shared`)."""
    n, f = ids.shape[0], x.shape[1]
    flat = x.reshape(-1)
    for i in range(n):
        if i + DISTANCE < n:
            start = ids[i + DISTANCE] * f
            prefetch_span(flat, start, start + f)  # never faults, in range or not
        v = ids[i]
        if v < 0 or v >= x.shape[0]:
            raise IndexError("take_rows: ids: an id is out of range")
        out[i, :] = x[v, :]


#: a sampled graph's node as its loss reads it (:func:`loss_records`): one 16-byte record, so
#: one cache line per node where three arrays cost three
LOSS_RECORD = np.dtype([("label", np.int64), ("weight", np.float32), ("train", np.bool_)], align=True)


def loss_records(is_train: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:data:`LOSS_RECORD` ``[n]`` of a sampled graph's nodes: whether each is a training node
    (bool ``[n]``), its label (int ``[n]``, by the sampled graph's ids) and loss weight
    (float ``[n]``)."""
    records = np.zeros(is_train.shape[0], LOSS_RECORD)
    records["train"], records["label"], records["weight"] = is_train, labels, weights
    return records


@njit(cache=True, nogil=True)
def training_rows(nodes, records):  # pragma: no cover - jitted
    """The loss rows of a batch of ``nodes`` (int64 ``[n]``, ids of the sampled graph): those of
    training nodes, with their labels and loss weights, from their :func:`loss_records` (one
    read per node, prefetched ``DISTANCE`` nodes ahead: the nodes lie all over the graph; three
    gathers by torch cost 0.4 ms per GraphSAINT batch of 8,000 nodes of the SBM of 10^6).
    Releases the GIL.

    Returns ``(rows, y, weight)``: int64 ``[t]`` batch rows, int64 ``[t]`` labels, float32
    ``[t]`` weights."""
    n = nodes.shape[0]
    train = np.empty(n, np.bool_)
    t = 0
    for i in range(n):
        if i + DISTANCE < n:
            prefetch(records, nodes[i + DISTANCE])
        train[i] = records[nodes[i]].train
        t += np.int64(train[i])
    rows = np.empty(t, np.int64)
    y = np.empty(t, np.int64)
    weight = np.empty(t, np.float32)
    j = 0
    for i in range(n):
        if train[i]:
            record = records[nodes[i]]
            rows[j] = i
            y[j] = record.label
            weight[j] = record.weight
            j += 1
    return rows, y, weight


@njit(cache=True)
def _kept_in_parts(rowptr, partptr, parts, col_part, base):  # pragma: no cover - jitted
    """The first pass of :func:`induced_parts`: sets ``base[p]`` (part ``p``'s first local id)
    and returns ``(n, kept)``: the batch's node count and int64 ``kept[k]``, the kept entries
    among the batch's first ``k`` scanned ones (``[scanned + 1]``). Flat over each part's
    entries (a part's rows are contiguous): a loop per row of ~10 entries cost 4x the scan in
    loop exits."""
    n = 0
    scanned = 0
    for p in parts:
        base[p] = n
        n += partptr[p + 1] - partptr[p]
        scanned += rowptr[partptr[p + 1]] - rowptr[partptr[p]]
    kept = np.empty(scanned + 1, np.int64)
    kept[0] = 0
    k = 0
    count = 0
    for p in parts:
        for e in range(rowptr[partptr[p]], rowptr[partptr[p + 1]]):
            count += np.int64(base[col_part[e]] >= 0)
            k += 1
            kept[k] = count
    return n, kept


@njit(cache=True)
def induced_parts(rowptr, col, partptr, parts, col_part, base, with_position):  # pragma: no cover - jitted
    """The subgraph induced by the nodes of ``parts`` (int64 ``[q]``, distinct and
    **ascending**) of a graph renumbered part by part (part ``p`` = nodes ``partptr[p] ..
    partptr[p + 1] - 1``, each row's columns ascending; ``col_part [nnz]`` the part of every
    entry's column), as one CSR on its local nodes, part by part. Ascending parts keep ascending
    columns ascending in local ids, so no row is sorted. The parts' rows are contiguous and
    ``col_part`` runs beside ``col``, so everything is read as streams: an entry is kept iff its
    column's part is in the batch (``base``, int64 ``[num_parts]`` scratch of -1s, left as found,
    in L1). A first pass counts the kept entries (reading ``col_part`` alone), so the output is
    sized exactly; the second writes them, branch-free (see :func:`induced_rows`). Both run
    flat over each part's entries.

    Returns ``(rowptr, col, position)``: int64 ``[n + 1]``, ``[m]`` local columns in ``col``'s
    dtype, int64 ``[m]`` the entry's position in the renumbered CSR (empty unless
    ``with_position``)."""
    n, kept = _kept_in_parts(rowptr, partptr, parts, col_part, base)
    scanned = kept.shape[0] - 1
    out_ptr = np.empty(n + 1, np.int64)
    out_ptr[0] = 0
    i = 0
    k = 0
    for p in parts:
        first = rowptr[partptr[p]]
        for r in range(partptr[p], partptr[p + 1]):
            i += 1
            out_ptr[i] = kept[k + rowptr[r + 1] - first]
        k += rowptr[partptr[p + 1]] - first
    m = kept[scanned]
    out_col = np.empty(m + 1, col.dtype)  # + 1: the slot a dropped last entry is written to
    out_pos = np.empty(m + 1 if with_position else 0, np.int64)
    at = 0
    for p in parts:
        for e in range(rowptr[partptr[p]], rowptr[partptr[p + 1]]):
            q = col_part[e]
            b = base[q]
            out_col[at] = b + col[e] - partptr[q]
            if with_position:  # the same for every entry: compiled out of the loop
                out_pos[at] = e
            at += np.int64(b >= 0)
    for p in parts:
        base[p] = -1
    return out_ptr, out_col[:m], out_pos[:m]


@njit(cache=True, nogil=True)
def row_spans(rowptr, nodes):  # pragma: no cover - jitted
    """``(starts, ends)``, int64 ``[n]``: where the rows of ``nodes`` begin and end, read with
    ``rowptr`` prefetched ``DISTANCE`` nodes ahead (the nodes lie all over the graph)."""
    n = nodes.shape[0]
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    for i in range(n):
        if i + DISTANCE < n:
            prefetch(rowptr, nodes[i + DISTANCE])
        starts[i] = rowptr[nodes[i]]
        ends[i] = rowptr[nodes[i] + 1]
    return starts, ends


@njit(cache=True)
def self_loops(rowptr, col):  # pragma: no cover - jitted
    """int32 ``[N]``: the entries ``i -> i`` that row ``i`` of a square CSR holds."""
    loops = np.zeros(rowptr.shape[0] - 1, np.int32)
    for i in range(rowptr.shape[0] - 1):
        for e in range(rowptr[i], rowptr[i + 1]):
            loops[i] += np.int32(col[e] == i)
    return loops


@njit(cache=True)
def _lower_bound(values, lo, hi, v):  # pragma: no cover - jitted
    """The first position in the ascending ``values[lo:hi]`` holding ``v`` or more (``hi``
    where none does)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _target_parts(col_part, lo, hi, slot, targets):  # pragma: no cover - jitted
    """The distinct parts of ``col_part[lo:hi]``, in order of first appearance, into
    ``targets``; ``slot[q]`` (-1 for every part on entry) becomes part ``q``'s count there.
    Returns how many there are."""
    b = 0
    for e in range(lo, hi):
        q = col_part[e]
        if slot[q] < 0:
            slot[q] = 0
            targets[b] = q
            b += 1
        slot[q] += 1
    return b


@njit(cache=True)
def part_blocks(rowptr, col, partptr, col_part, index_dtype):  # pragma: no cover - jitted
    """The entries of a graph renumbered part by part (part ``p`` = rows and columns
    ``partptr[p] .. partptr[p + 1] - 1``, each row's columns ascending; ``col_part [nnz]`` the
    part of every entry's column) grouped by the pair of parts they join: block ``b`` holds part
    ``p``'s entries into part ``block_part[b]``, blocks ``blockptr[p] .. blockptr[p + 1] - 1``
    with ascending ``block_part``; its entries ``entryptr[b] .. entryptr[b + 1] - 1`` in CSR
    order, as ``(row, col)`` counted from the first node of their own part, in
    ``index_dtype``'s dtype (a zero-length array: int16 where every part holds under 2^15
    nodes). Per row, ``intra`` counts its entries into its own part and ``below`` those of them
    left of the diagonal (where the row's loop goes).

    Returns ``(blockptr, block_part, entryptr, row, col, intra, below)``: int64 ``[P + 1]``,
    int32 ``[B]``, int64 ``[B + 1]``, two ``[nnz]``, two int32 ``[N]``."""
    num_parts = partptr.shape[0] - 1
    nnz = col.shape[0]
    slot = np.full(num_parts, -1, np.int64)  # a target part's entries within the current part
    targets = np.empty(num_parts, np.int64)
    blockptr = np.zeros(num_parts + 1, np.int64)
    for p in range(num_parts):  # count the blocks
        b = _target_parts(col_part, rowptr[partptr[p]], rowptr[partptr[p + 1]], slot, targets)
        for k in range(b):
            slot[targets[k]] = -1
        blockptr[p + 1] = blockptr[p] + b
    block_part = np.empty(blockptr[num_parts], np.int32)
    entryptr = np.zeros(blockptr[num_parts] + 1, np.int64)
    out_row = np.empty(nnz, index_dtype.dtype)
    out_col = np.empty(nnz, index_dtype.dtype)
    intra = np.zeros(rowptr.shape[0] - 1, np.int32)
    below = np.zeros(rowptr.shape[0] - 1, np.int32)
    fill = np.empty(num_parts, np.int64)
    for p in range(num_parts):
        at = rowptr[partptr[p]]
        b = _target_parts(col_part, at, rowptr[partptr[p + 1]], slot, targets)
        order = np.sort(targets[:b])
        for k in range(b):  # ascending target parts; entries counted, then placed
            q = order[k]
            block = blockptr[p] + k
            block_part[block] = q
            fill[q] = at
            at += slot[q]
            entryptr[block + 1] = at
            slot[q] = -1
        for r in range(partptr[p], partptr[p + 1]):
            for e in range(rowptr[r], rowptr[r + 1]):
                q = col_part[e]
                k = fill[q]
                fill[q] = k + 1
                out_row[k] = r - partptr[p]
                out_col[k] = col[e] - partptr[q]
                intra[r] += np.int32(q == p)
                below[r] += np.int32(q == p and col[e] < r)
    return blockptr, block_part, entryptr, out_row, out_col, intra, below


@njit(cache=True)
def _reserve_loops(partptr, p, first, loops, below, fill, loop_at, dinv, out_col, out_value):  # pragma: no cover - jitted
    """Write the loops part ``p``'s rows lack (``loops``) into their slots, ``below`` entries
    past where ``fill`` stands once the blocks into parts before ``p`` are placed."""
    for r in range(partptr[p], partptr[p + 1]):
        i = first + r - partptr[p]
        if loops[r] == 0:
            at = fill[i] + below[r]
            loop_at[i] = at
            out_col[at] = i
            out_value[at] = dinv[i] * np.float32(1.0) * dinv[i]


@njit(cache=True)
def block_batch_gcn(blockptr, block_part, entryptr, entry_row, entry_col, intra, below, partptr, parts, base, loops,
                    col_dtype):  # pragma: no cover - jitted
    """The subgraph induced by the nodes of ``parts`` (int64 ``[q]``, distinct and
    **ascending**) from :func:`part_blocks`' layout, normalised as GCN's ``D^-1/2 (A + I)
    D^-1/2`` with the batch's own degrees: bit for bit what ``common.gcn_normalised`` makes of
    :func:`induced_parts`. Only the kept entries are read: a batch of 20 of 1,500 parts of the
    SBM of 10^6 nodes keeps 25% of its parts' entries, and the rest lie in blocks into parts
    outside the batch, skipped whole. ``base`` (int64 ``[P]`` of -1s, left as found) maps a
    batch part to its first local node; ``loops`` (int32 ``[N]``, at most 1 each) says which
    rows (in part order) hold their loop already; the others get one, in column order.

    Degrees are each row's ``intra`` count plus its entries into the batch's other parts. The
    blocks are then placed in ascending target part, so every row's columns come out ascending;
    a missing loop is written to its slot (``below`` entries into the row's own part), which the
    entries then step over, branch-free; values are written with the entries.

    Returns ``(rowptr, col, value)``: int64 ``[n + 1]``, ``[m]`` local columns in
    ``col_dtype``'s dtype, float32 ``[m]``."""
    n = 0
    for p in parts:
        base[p] = n
        n += partptr[p + 1] - partptr[p]
    # the batch's blocks, part by part in ascending target part: found by binary search, each
    # search starting where the last one ended (a part of the SBM has ~1,300 blocks, a batch
    # takes ~20 of them)
    selected = np.empty(parts.shape[0] * parts.shape[0], np.int64)
    selptr = np.zeros(parts.shape[0] + 1, np.int64)
    k = 0
    for a in range(parts.shape[0]):
        lo, hi = blockptr[parts[a]], blockptr[parts[a] + 1]
        for q in parts:
            lo = _lower_bound(block_part, lo, hi, q)
            if lo < hi and block_part[lo] == q:
                selected[k] = lo
                k += 1
        selptr[a + 1] = k
    count = np.empty(n, np.int64)
    for a in range(parts.shape[0]):
        p = parts[a]
        first = base[p]
        for r in range(partptr[p], partptr[p + 1]):
            count[first + r - partptr[p]] = intra[r] + 1 - loops[r]
        for j in range(selptr[a], selptr[a + 1]):
            b = selected[j]
            if block_part[b] != p:
                for e in range(entryptr[b], entryptr[b + 1]):
                    count[first + entry_row[e]] += 1
    out_ptr = np.empty(n + 1, np.int64)
    out_ptr[0] = 0
    dinv = np.empty(n, np.float32)
    one = np.float32(1.0)
    for i in range(n):
        dinv[i] = one / np.sqrt(np.float32(count[i]))  # the loop's weight 1, once
        out_ptr[i + 1] = out_ptr[i] + count[i]
    m = out_ptr[n]
    out_col = np.empty(m, col_dtype.dtype)
    out_value = np.empty(m, np.float32)
    fill = out_ptr[:-1].copy()
    loop_at = np.full(n, -1, np.int64)
    for a in range(parts.shape[0]):
        p = parts[a]
        first = base[p]
        reserved = False
        for j in range(selptr[a], selptr[a + 1]):
            b = selected[j]
            q = block_part[b]
            if not reserved and q >= p:  # the blocks into parts before p are placed
                _reserve_loops(partptr, p, first, loops, below, fill, loop_at, dinv, out_col, out_value)
                reserved = True
            offset = base[q]
            for e in range(entryptr[b], entryptr[b + 1]):
                i = first + entry_row[e]
                c = offset + entry_col[e]
                at = fill[i]
                at += np.int64(at == loop_at[i])  # step over the row's loop
                out_col[at] = c
                out_value[at] = dinv[i] * one * dinv[c]
                fill[i] = at + 1
        if not reserved:
            _reserve_loops(partptr, p, first, loops, below, fill, loop_at, dinv, out_col, out_value)
    for p in parts:
        base[p] = -1
    return out_ptr, out_col, out_value


@njit(cache=True, nogil=True)
def member_ranks(nodes, num_nodes):  # pragma: no cover - jitted
    """``(member, rank)``: membership bits of ``nodes`` (int64 ascending distinct ids below
    ``num_nodes``), uint64 ``[num_nodes / 64 + 1]``, and before each 64-bit word the members
    below it, int64. A member ``v``'s rank among the nodes (its local id) is ``rank[v >> 6]``
    plus the set bits below ``v`` in its word, so no node map is read (``N / 4`` bytes for both,
    in L2 where an ``N``-long int32 map is not)."""
    words = (num_nodes >> 6) + 1
    member = np.zeros(words, np.uint64)
    one = np.uint64(1)
    for i in range(nodes.shape[0]):
        u = nodes[i]
        member[u >> 6] |= one << np.uint64(u & 63)
    rank = np.empty(words, np.int64)
    below = 0
    for w in range(words):
        rank[w] = below
        below += popcount(member[w])
    return member, rank


@njit(cache=True, nogil=True)
def induced_rows(entries, starts, ends, member, rank, with_position, work_col, work_val,
                 work_pos):  # pragma: no cover - jitted
    """The subgraph induced by ascending distinct nodes (GraphSAINT's) of a CSR whose rows hold
    ascending columns, its entries as records (:func:`~sparsegnn.sampling.common.entry_records`), for the rows
    ``entries[starts[i]:ends[i]]`` of some of them (int64 ``[k]`` spans, :func:`row_spans`):
    :func:`induced_union` with one group, built for batches of rows spread over a graph too
    large for the cache. A column is kept where it is a member (:func:`member_ranks`) and becomes
    its rank, its local id; ascending ids map ascending columns to ascending local ids, so no row
    is sorted. The rows of a batch may be scanned in consecutive pieces, one call each, and the
    pieces joined in order.

    The scan reads the rows cold, prefetching ``DISTANCE`` rows ahead
    (:mod:`sparsegnn.graph.intrinsics`); a row's columns and values are one span of records
    (with separate ``col`` and ``value`` arrays a row is two cold spans: 8,000 rows of the SBM
    of 10^6 nodes took 24% longer). It is branch-free: every scanned entry is written to the
    ``work_*`` buffers and the write position advances by its membership bit, so a mispredicted
    test never stalls the row reads in flight. The buffers are the caller's, reused from call to
    call (``[>= scanned]`` in the ``col`` / ``value`` field's dtype and int64; ``work_pos`` may
    be empty without ``with_position``): fresh memory for every scanned entry page-faults, which
    cost 5 of 9 ms on walk batches of the power-law graph. Releases the GIL: GraphSAINT's pieces
    run on two threads, each with its own buffers.

    Returns ``(scanned, rowptr [k + 1], col, position, value)``: the entries in the rows, then
    the kept entries' local columns, their positions (empty unless ``with_position``) and their
    values, the last three **views of the buffers**. Where ``scanned`` exceeds a buffer, nothing
    is scanned and they are empty: grow the buffers and call again."""
    k = starts.shape[0]
    scanned = (ends - starts).sum()
    if scanned > work_col.shape[0] or scanned > work_val.shape[0] or (with_position and scanned > work_pos.shape[0]):
        return scanned, np.zeros(1, np.int64), work_col[:0], work_pos[:0], work_val[:0]
    one = np.uint64(1)
    out_ptr = np.zeros(k + 1, np.int64)
    at = 0
    for i in range(k):
        if i + DISTANCE < k:
            prefetch_span(entries, starts[i + DISTANCE], ends[i + DISTANCE])
        for e in range(starts[i], ends[i]):
            v = entries[e].col
            word = member[v >> 6]
            shift = np.uint64(v & 63)
            work_col[at] = rank[v >> 6] + popcount(word & ((one << shift) - one))
            work_val[at] = entries[e].value
            if with_position:  # the same for every entry: compiled out of the loop
                work_pos[at] = e
            at += np.int64((word >> shift) & one)
        out_ptr[i + 1] = at
    return scanned, out_ptr, work_col[:at], work_pos[:at] if with_position else work_pos[:0], work_val[:at]


@njit(cache=True)
def _multiplicity(col, lo, hi, v):  # pragma: no cover - jitted
    """How often ``v`` is in the ascending ``col[lo:hi]`` (binary search)."""
    a = _lower_bound(col, lo, hi, v)
    k = 0
    while a + k < hi and col[a + k] == v:
        k += 1
    return k


@njit(cache=True)
def _hub_rows(starts, ends, nodeptr, hub_ratio):  # pragma: no cover - jitted
    """``(rank, hubs, num_hubs, pairptr)`` of the rows longer than ``hub_ratio`` times their
    group (none for ratio 0): int64 ``rank [n]``, a row's rank among its group's hub rows or
    -1; int64 ``hubs [n]``, group ``g``'s hub rows by rank from ``hubs[nodeptr[g]]`` on; int64
    ``num_hubs [G]``; int64 ``pairptr [G + 1]``, where each group's ``b x b`` counts of entries
    between its hub rows begin in a flat array."""
    n = starts.shape[0]
    rank = np.full(n, -1, np.int64)
    hubs = np.empty(n, np.int64)
    num_hubs = np.zeros(nodeptr.shape[0] - 1, np.int64)
    pairptr = np.zeros(nodeptr.shape[0], np.int64)
    for g in range(nodeptr.shape[0] - 1):
        b = 0
        if hub_ratio > 0:
            limit = hub_ratio * (nodeptr[g + 1] - nodeptr[g])
            for i in range(nodeptr[g], nodeptr[g + 1]):
                if ends[i] - starts[i] > limit:
                    rank[i] = b
                    hubs[nodeptr[g] + b] = i
                    b += 1
        num_hubs[g] = b
        pairptr[g + 1] = pairptr[g] + b * b
    return rank, hubs, num_hubs, pairptr


@njit(cache=True)
def _hub_pairs(col, nodes, starts, ends, hubs, pairs, at):  # pragma: no cover - jitted
    """Fill ``pairs[at:at + b * b]`` with the entries between a group's ``b`` hub rows
    (``hubs``, by rank): the pattern is symmetric, so each pair is one binary search, in the
    shorter row."""
    b = hubs.shape[0]
    for a in range(b):
        for c in range(a, b):
            u, w = hubs[a], hubs[c]
            if ends[u] - starts[u] > ends[w] - starts[w]:
                u, w = w, u
            k = _multiplicity(col, starts[u], ends[u], nodes[w])
            pairs[at + a * b + c] = k
            pairs[at + c * b + a] = k


@njit(cache=True)
def induced_union(rowptr, col, nodes, nodeptr, scratch, with_position, hub_ratio, work_col,
                  work_pos):  # pragma: no cover - jitted
    """The disjoint union of the subgraphs induced by each group ``nodes[nodeptr[g]:nodeptr[g +
    1]]`` (distinct ids within a group), as one CSR on ``len(nodes)`` local nodes, columns
    ascending within each row. ``scratch``: :func:`node_map` of the graph, left as found.

    **Hub rows.** With ``hub_ratio > 0`` (only for a graph equal to its transpose, with
    ascending rows: :func:`~sparsegnn.graph.kernels.symmetric_ascending`; not with positions), a
    row longer than ``hub_ratio`` times its group is not scanned: its entries to the group's
    other rows are the transposes of theirs, and those to hub rows (its loop included) come from
    binary searches in it. ShaDow's batches of the power-law graph scan ~330,000 entries to keep
    ~3,500, 87% of them in rows over 8 times their group.

    The scanned rows' entries are written to the caller's ``work_*`` buffers (``[>= scanned]``,
    ``col``'s dtype and int64; ``work_pos`` may be empty without ``with_position``), reused from
    call to call as :func:`induced_rows`'s.

    Returns ``(scanned, rowptr, col, position)``: the entries in the scanned rows, int64
    ``[n + 1]``, ``[m]`` local columns in ``col``'s dtype, int64 ``[m]`` the parent CSR position
    of every entry (empty unless ``with_position``). Where ``scanned`` exceeds a buffer, nothing
    else is done (the arrays are empty): grow the buffers and call again."""
    n = nodes.shape[0]
    starts, ends = row_spans(rowptr, nodes)
    rank, hubs, num_hubs, pairptr = _hub_rows(starts, ends, nodeptr, 0 if with_position else hub_ratio)
    scanned = 0
    for i in range(n):
        scanned += 0 if rank[i] >= 0 else ends[i] - starts[i]
    if scanned > work_col.shape[0] or (with_position and scanned > work_pos.shape[0]):
        return scanned, np.zeros(1, np.int64), np.empty(0, work_col.dtype), np.empty(0, np.int64)
    count = np.zeros(n, np.int64)  # every row's kept entries
    pairs = np.empty(pairptr[-1], np.int64)
    first = np.empty(n, np.int64)  # where a scanned row's kept entries begin in work_*
    # Membership bits (N / 8 bytes: in L2 where the N-long map is not) screen every column, so the
    # map is read only for the entries kept: most of a batch's scanned entries leave it.
    member = np.zeros((scratch.shape[0] >> 6) + 1, np.uint64)
    one = np.uint64(1)
    at = 0
    for g in range(nodeptr.shape[0] - 1):
        for i in range(nodeptr[g], nodeptr[g + 1]):
            v = nodes[i]
            scratch[v] = i
            member[v >> 6] |= one << np.uint64(v & 63)
        for i in range(nodeptr[g], nodeptr[g + 1]):
            if i + DISTANCE < n and rank[i + DISTANCE] < 0:  # the rows are cold: see induced_rows
                prefetch_span(col, starts[i + DISTANCE], ends[i + DISTANCE])
            if rank[i] >= 0:
                continue
            first[i] = at
            for e in range(starts[i], ends[i]):  # branch-free: see induced_rows
                v = col[e]
                work_col[at] = v
                if with_position:  # the same for every entry: compiled out of the loop
                    work_pos[at] = e
                at += np.int64((member[v >> 6] >> np.uint64(v & 63)) & one)
            count[i] += at - first[i]
            for k in range(first[i], at):
                c = scratch[work_col[k]]
                work_col[k] = c
                count[c] += np.int64(rank[c] >= 0)  # its transpose, in the hub row
        b = num_hubs[g]
        _hub_pairs(col, nodes, starts, ends, hubs[nodeptr[g]:nodeptr[g] + b], pairs, pairptr[g])
        for i in range(nodeptr[g], nodeptr[g + 1]):
            if rank[i] >= 0:
                for c in range(b):
                    count[i] += pairs[pairptr[g] + rank[i] * b + c]
        for i in range(nodeptr[g], nodeptr[g + 1]):
            v = nodes[i]
            scratch[v] = -1
            member[v >> 6] = np.uint64(0)
    out_ptr = np.zeros(n + 1, np.int64)
    for i in range(n):
        out_ptr[i + 1] = out_ptr[i] + count[i]
    m = out_ptr[n]
    out_col = np.empty(m, work_col.dtype)
    out_pos = np.empty(m if with_position else 0, np.int64)
    fill = out_ptr[:-1].copy()
    for g in range(nodeptr.shape[0] - 1):
        b = num_hubs[g]
        for i in range(nodeptr[g], nodeptr[g + 1]):
            if rank[i] >= 0:
                for c in range(b):
                    for _ in range(pairs[pairptr[g] + rank[i] * b + c]):
                        out_col[fill[i]] = hubs[nodeptr[g] + c]
                        fill[i] += 1
                continue
            for k in range(first[i], first[i] + count[i]):
                c = work_col[k]
                out_col[fill[i]] = c
                if with_position:
                    out_pos[fill[i]] = work_pos[k]
                fill[i] += 1
                if rank[c] >= 0:
                    out_col[fill[c]] = i
                    fill[c] += 1
    for i in range(n):
        sort_columns(out_col, out_pos, out_ptr[i], out_ptr[i + 1], with_position)
    return scanned, out_ptr, out_col, out_pos
