/**
 * Seeded synthetic interaction matrices shaped like public benchmarks, for speed measurements:
 * users with a log-normal number of items, items drawn from a Zipf-like popularity (exponent 1).
 */
import { Rng } from '../model/rng';
import type { Csr } from '../model/sparse';

export function zipfMatrix(users: number, items: number, interactions: number, seed = 1): Csr {
  const rng = new Rng(seed);
  // cumulative Zipf weights for inverse-CDF sampling
  const cdf = new Float64Array(items);
  let acc = 0;
  for (let i = 0; i < items; i++) cdf[i] = acc += 1 / (i + 10);
  for (let i = 0; i < items; i++) cdf[i] /= acc;
  const sample = () => {
    const u = rng.next();
    let lo = 0,
      hi = items - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // per-user counts: log-normal around the mean, at least 5, at most items/2
  const mean = interactions / users;
  const counts = new Int32Array(users);
  let total = 0;
  for (let u = 0; u < users; u++) {
    const c = Math.max(5, Math.min(Math.floor(items / 2), Math.round(mean * Math.exp(rng.normal() * 0.9 - 0.405))));
    counts[u] = c;
    total += c;
  }
  const rowPtr = new Int32Array(users + 1);
  const colIdx = new Int32Array(total);
  const seen = new Uint8Array(items);
  let w = 0;
  for (let u = 0; u < users; u++) {
    rowPtr[u] = w;
    const start = w;
    while (w - start < counts[u]) {
      const i = sample();
      if (seen[i]) continue;
      seen[i] = 1;
      colIdx[w++] = i;
    }
    for (let p = start; p < w; p++) seen[colIdx[p]] = 0;
    colIdx.subarray(start, w).sort();
  }
  rowPtr[users] = w;
  return { rows: users, cols: items, rowPtr, colIdx, values: new Float32Array(w).fill(1) };
}
