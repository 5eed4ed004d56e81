/**
 * Time for both sides: the units durations are written in, and the one timestamp parser, for
 * event bodies at the edge and CSV columns in the trainer:
 * - a number, or a string of digits (with an optional fraction): epoch seconds below 1e11
 *   (i.e. before 5138 AD), epoch milliseconds from there on;
 * - a string in ISO 8601 form: a date (YYYY-MM-DD), optionally a time (HH:MM[:SS[.fff]], after
 *   "T" or a space) and a zone ("Z" or ±HH[:]MM; without one, UTC).
 * Returns epoch milliseconds, or NaN when the value is not a usable time (non-finite, ≤ 0, a
 * date or time that does not exist such as 2026-02-30 or 24:00, or any other text: Date.parse alone
 * would read "-5" as a date in 2001).
 */
/** Durations in milliseconds (and a day in seconds, for KV and cache TTLs). */
export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
export const DAY_SECONDS = DAY_MS / SECOND_MS;

/**
 * How far a client's clock may run ahead of the edge's: an event stamped later than now plus this
 * is refused, and an attributed event may be stamped this much before the answer it acts on.
 */
export const CLOCK_SKEW_MS = 5 * MINUTE_MS;

const ISO_8601 = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** Whether a date (YYYY-MM-DD) and clock time (HH:MM[:SS]) exist: Date rolls 2026-02-30 over to March 2, and 24:00 to the next day. */
function exists(date: string, time: string | undefined): boolean {
  const [y, mo, d] = date.split('-').map(Number);
  const [h, mi, s] = (time ?? '00:00:00').split(':').map((x) => Math.floor(Number(x)));
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s || 0));
  return (
    t.getUTCFullYear() === y &&
    t.getUTCMonth() === mo - 1 &&
    t.getUTCDate() === d &&
    t.getUTCHours() === h &&
    t.getUTCMinutes() === mi &&
    t.getUTCSeconds() === (s || 0)
  );
}

/** Whether a time written in ISO 8601 form names a date and clock time that exist (true for any other form: parseTimestamp judges those). */
export function isoTimeExists(v: string): boolean {
  const m = ISO_8601.exec(v.trim());
  return !m || exists(m[1], m[2]);
}

export function parseTimestamp(v: string | number): number {
  let ms: number;
  if (typeof v === 'number' || /^\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    ms = n < 1e11 ? n * 1000 : n;
  } else {
    const m = ISO_8601.exec(v.trim());
    ms = m && exists(m[1], m[2]) ? Date.parse(`${m[1]}T${m[2] ?? '00:00'}${m[3] ? m[3].toUpperCase() : 'Z'}`) : Number.NaN;
  }
  return Number.isFinite(ms) && ms > 0 ? ms : Number.NaN;
}
