/**
 * Compressed sparse row interaction matrix (users × items with a strength per pair).
 * Both orientations are needed by ALS: user rows for the user step, item rows for the item step.
 */

export interface Csr {
  rows: number;
  cols: number;
  /** rowPtr[r]..rowPtr[r+1] index into colIdx/values; length rows + 1 */
  rowPtr: Int32Array;
  colIdx: Int32Array;
  /** interaction strength r ≥ 0 per stored pair */
  values: Float32Array;
}

/** Builds a CSR matrix from coordinate triples, summing duplicates. */
export function csrFromTriples(rows: number, cols: number, r: Int32Array, c: Int32Array, v: Float32Array): Csr {
  const n = r.length;
  const counts = new Int32Array(rows + 1);
  for (let k = 0; k < n; k++) counts[r[k] + 1]++;
  for (let i = 0; i < rows; i++) counts[i + 1] += counts[i];
  const fill = counts.slice(0, rows);
  const colIdx = new Int32Array(n);
  const values = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const p = fill[r[k]]++;
    colIdx[p] = c[k];
    values[p] = v[k];
  }
  // sort each row by column and merge duplicates
  const outPtr = new Int32Array(rows + 1);
  let w = 0;
  const order: number[] = [];
  for (let i = 0; i < rows; i++) {
    const start = counts[i],
      end = counts[i + 1];
    order.length = 0;
    for (let p = start; p < end; p++) order.push(p);
    order.sort((a, b) => colIdx[a] - colIdx[b]);
    const cols2: number[] = [],
      vals2: number[] = [];
    for (const p of order) {
      if (cols2.length && cols2[cols2.length - 1] === colIdx[p]) vals2[vals2.length - 1] += values[p];
      else {
        cols2.push(colIdx[p]);
        vals2.push(values[p]);
      }
    }
    outPtr[i] = w;
    for (let j = 0; j < cols2.length; j++) {
      colIdx[w] = cols2[j];
      values[w] = vals2[j];
      w++;
    }
  }
  outPtr[rows] = w;
  return { rows, cols, rowPtr: outPtr, colIdx: colIdx.slice(0, w), values: values.slice(0, w) };
}

export function transpose(m: Csr): Csr {
  const nnz = m.rowPtr[m.rows];
  const counts = new Int32Array(m.cols + 1);
  for (let p = 0; p < nnz; p++) counts[m.colIdx[p] + 1]++;
  for (let j = 0; j < m.cols; j++) counts[j + 1] += counts[j];
  const fill = counts.slice(0, m.cols);
  const colIdx = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  for (let i = 0; i < m.rows; i++) {
    for (let p = m.rowPtr[i]; p < m.rowPtr[i + 1]; p++) {
      const q = fill[m.colIdx[p]]++;
      colIdx[q] = i;
      values[q] = m.values[p];
    }
  }
  return { rows: m.cols, cols: m.rows, rowPtr: counts, colIdx, values };
}

/** Keeps only the listed rows (in the given order); columns are unchanged. */
export function selectRows(m: Csr, keep: ArrayLike<number>): Csr {
  let nnz = 0;
  for (let k = 0; k < keep.length; k++) nnz += m.rowPtr[keep[k] + 1] - m.rowPtr[keep[k]];
  const rowPtr = new Int32Array(keep.length + 1);
  const colIdx = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let w = 0;
  for (let k = 0; k < keep.length; k++) {
    const r = keep[k];
    for (let p = m.rowPtr[r]; p < m.rowPtr[r + 1]; p++) {
      colIdx[w] = m.colIdx[p];
      values[w] = m.values[p];
      w++;
    }
    rowPtr[k + 1] = w;
  }
  return { rows: keep.length, cols: m.cols, rowPtr, colIdx, values };
}

/** Rows of `a` followed by rows of `b` (same column space). */
export function vstack(a: Csr, b: Csr): Csr {
  if (a.cols !== b.cols) throw new Error('vstack: column counts differ');
  const nnzA = a.rowPtr[a.rows],
    nnzB = b.rowPtr[b.rows];
  const rowPtr = new Int32Array(a.rows + b.rows + 1);
  rowPtr.set(a.rowPtr.subarray(0, a.rows + 1));
  for (let r = 1; r <= b.rows; r++) rowPtr[a.rows + r] = nnzA + b.rowPtr[r];
  const colIdx = new Int32Array(nnzA + nnzB);
  colIdx.set(a.colIdx.subarray(0, nnzA));
  colIdx.set(b.colIdx.subarray(0, nnzB), nnzA);
  const values = new Float32Array(nnzA + nnzB);
  values.set(a.values.subarray(0, nnzA));
  values.set(b.values.subarray(0, nnzB), nnzA);
  return { rows: a.rows + b.rows, cols: a.cols, rowPtr, colIdx, values };
}
