/**
 * The one timestamp parser, for event bodies at the edge and CSV columns in the trainer:
 * - a number, or a string of digits (with an optional fraction): epoch seconds below 1e11
 *   (i.e. before 5138 AD), epoch milliseconds from there on;
 * - any other string: an ISO 8601 date-time as Date.parse reads it.
 * Returns epoch milliseconds, or NaN when the value is not a usable time (non-finite, ≤ 0, junk).
 */
export function parseTimestamp(v: string | number): number {
  let ms: number;
  if (typeof v === 'number' || /^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    ms = n < 1e11 ? n * 1000 : n;
  } else {
    ms = Date.parse(v);
  }
  return Number.isFinite(ms) && ms > 0 ? ms : Number.NaN;
}
