/** Brute-force references for the solver tests: cumulative loss by explicit ranking, and the convex envelope by chords. */

/** Cumulative eviction loss of one head, written independently of src/lukv: float64, explicit ranks. */
export function cumulativeLoss(
  oracle: ArrayLike<number>,
  scores: ArrayLike<number>,
  sink: number,
  window: number,
): number[] {
  const positions = [];
  for (let j = sink; j < oracle.length - window; j++) positions.push(j);
  positions.sort((a, b) => (scores[b] > scores[a] ? 1 : scores[b] < scores[a] ? -1 : a - b));
  const cum = [0];
  for (let e = 1; e <= positions.length; e++) cum.push(cum[e - 1] + oracle[positions[positions.length - e]]);
  return cum;
}

/** The convex envelope at every integer point: the lowest chord over it (O(n^3), for small n). */
export function bruteHull(cum: number[]): number[] {
  return cum.map((_, e) => {
    let best = cum[e];
    for (let a = 0; a <= e; a++) {
      for (let b = e + 1; b < cum.length; b++) {
        best = Math.min(best, cum[a] + ((cum[b] - cum[a]) * (e - a)) / (b - a));
      }
    }
    return best;
  });
}

/** A head's convexified curve as values at 0..n, rebuilt from its segments. */
export function curveValues(slopes: ArrayLike<number>, lengths: ArrayLike<number>, from: number, to: number) {
  const values = [0];
  for (let s = from; s < to; s++) {
    for (let i = 0; i < lengths[s]; i++) values.push(values[values.length - 1] + slopes[s]);
  }
  return values;
}
