"""LU-KV budgets, the Python/numpy heap reference of lukv's evictionCurves + solveBudgets.

"Reference" here means an independent, plain implementation of DESIGN.md 7.3-7.5 written
the way a Python author would write it from the paper and the official release, with no
attempt at speed beyond ordinary numpy use:

- eviction curves: per head, a stable numpy argsort of the negated scores (highest score
  first, equal scores: earlier position first), eviction from the lowest-ranked token up,
  numpy's cumulative sum of the oracle in float64;
- convex-hull relaxation: the monotone chain over the curve's points, in a Python loop;
- solver: the token-by-token greedy of the official release, one heapq pop per evicted
  token keyed by (marginal cost, layer * H + head).

It reads the same `[L, H, T]` .npy tables as `deno task solve` and gives the same results
bit for bit (tools/reference/check_budgets.ts and bench/curves_vs_python.ts check it). It
is the baseline of bench/curves_vs_python.ts, which times `compute` below, never lukv.

    /usr/bin/python3 tools/reference/lukv_budgets.py --oracle O.npy --scores S.npy \\
        --sink 4 --window 32 [--scope global|layer] [--min-keep 0.01] [--out-dir DIR]

prints one JSON line {"compute_ms": ..., "total_ms": ...}: the curves + solve alone, and
the same plus reading both tables (interpreter start-up and imports excluded). With
--out-dir it writes offsets.npy, slopes.npy, lengths.npy (the hull segments, as
lukv's EvictionCurves lays them out) and prune.npy ([99, L, H]), all float64.
"""

import argparse
import heapq
import json
import math
import os
import time

import numpy as np

RATIO_COUNT = 99


def js_round(x):
    """Rounds halves up, like JavaScript's Math.round (Python's round() rounds halves to even)."""
    whole = math.floor(x)
    return whole + 1 if x - whole >= 0.5 else whole


def lower_hull(y):
    """Vertex x's of the lower convex hull of the points (x, y[x]), by monotone chain.

    The turn test compares the two slopes as divisions, as the curve's segments will
    store them, so the kept slopes strictly increase.
    """
    hull = [0]
    for x in range(1, len(y)):
        while len(hull) > 1:
            a, b = hull[-2], hull[-1]
            if (y[x] - y[b]) / (x - b) > (y[b] - y[a]) / (b - a):
                break
            hull.pop()
        hull.append(x)
    return hull


def eviction_curves(oracle, scores, sink, window):
    """Every head's convexified eviction curve as hull segments (offsets, slopes, lengths)."""
    layers, heads, length = oracle.shape
    offsets, slopes, lengths = [0], [], []
    for l in range(layers):
        for h in range(heads):
            s = scores[l, h, sink : length - window]
            o = oracle[l, h, sink : length - window].astype(np.float64)
            ranked = np.argsort(-s, kind="stable")  # best first; ties keep the earlier position first
            cum = np.concatenate(([0.0], np.cumsum(o[ranked[::-1]]))).tolist()
            hull = lower_hull(cum)
            for a, b in zip(hull, hull[1:]):
                slopes.append((cum[b] - cum[a]) / (b - a))
                lengths.append(b - a)
            offsets.append(len(slopes))
    return offsets, slopes, lengths


def solve_budgets(curves, layers, heads, length, sink, window, scope="global", min_keep_fraction=0.01):
    """Prune ratios [99, L, H]: evict the cheapest token of any head first, one heap pop per token."""
    offsets, slopes, lengths = curves
    cells = layers * heads
    # Each head's marginal cost per eviction, in eviction order.
    cost = [np.repeat(slopes[offsets[i] : offsets[i + 1]], lengths[offsets[i] : offsets[i + 1]]).tolist()
            for i in range(cells)]
    min_keep = max(js_round(min_keep_fraction * length), sink + window)
    cap = max(0, length - min_keep)
    prune = np.zeros((RATIO_COUNT, cells))
    groups = [(0, cells)] if scope == "global" else [(l * heads, (l + 1) * heads) for l in range(layers)]
    for first, end in groups:
        evicted = [0] * cells
        heap = [(cost[i][0], i) for i in range(first, end)] if cap > 0 else []
        heapq.heapify(heap)
        total = 0
        for k in range(1, RATIO_COUNT + 1):
            target = js_round(k * (end - first) * length / 100)
            while total < target and heap:
                i = heap[0][1]
                evicted[i] += 1
                total += 1
                if evicted[i] < cap:
                    heapq.heapreplace(heap, (cost[i][evicted[i]], i))
                else:
                    heapq.heappop(heap)
            prune[k - 1, first:end] = [1 - (length - evicted[i]) / length for i in range(first, end)]
    return prune.reshape(RATIO_COUNT, layers, heads)


def compute(oracle, scores, sink, window, scope, min_keep_fraction):
    """Curves, then budgets: what bench/curves_vs_python.ts times."""
    curves = eviction_curves(oracle, scores, sink, window)
    layers, heads, length = oracle.shape
    return curves, solve_budgets(curves, layers, heads, length, sink, window, scope, min_keep_fraction)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oracle", required=True)
    parser.add_argument("--scores", required=True)
    parser.add_argument("--sink", type=int, required=True)
    parser.add_argument("--window", type=int, required=True)
    parser.add_argument("--scope", choices=["global", "layer"], default="global")
    parser.add_argument("--min-keep", type=float, default=0.01)
    parser.add_argument("--out-dir")
    args = parser.parse_args()

    started = time.perf_counter()
    oracle, scores = np.load(args.oracle), np.load(args.scores)
    loaded = time.perf_counter()
    curves, prune = compute(oracle, scores, args.sink, args.window, args.scope, args.min_keep)
    done = time.perf_counter()
    print(json.dumps({"compute_ms": (done - loaded) * 1e3, "total_ms": (done - started) * 1e3}))

    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        for name, values in zip(["offsets", "slopes", "lengths"], curves):
            np.save(os.path.join(args.out_dir, f"{name}.npy"), np.asarray(values, dtype=np.float64))
        np.save(os.path.join(args.out_dir, "prune.npy"), prune)


if __name__ == "__main__":
    main()
