/**
 * The one timestamp parser, for event bodies at the edge and CSV columns in the trainer:
 * - a number, or a string of digits (with an optional fraction): epoch seconds below 1e11
 *   (i.e. before 5138 AD), epoch milliseconds from there on;
 * - a string in ISO 8601 form: a date (YYYY-MM-DD), optionally a time (HH:MM[:SS[.fff]], after
 *   "T" or a space) and a zone ("Z" or ±HH[:]MM; without one, UTC).
 * Returns epoch milliseconds, or NaN when the value is not a usable time (non-finite, ≤ 0, or
 * any other text: Date.parse alone would read "-5" as a date in 2001).
 */
const ISO_8601 = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i;

export function parseTimestamp(v: string | number): number {
  let ms: number;
  if (typeof v === 'number' || /^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    ms = n < 1e11 ? n * 1000 : n;
  } else {
    const m = ISO_8601.exec(v.trim());
    ms = m ? Date.parse(`${m[1]}T${m[2] ?? '00:00'}${m[3] ? m[3].toUpperCase() : 'Z'}`) : Number.NaN;
  }
  return Number.isFinite(ms) && ms > 0 ? ms : Number.NaN;
}
