/** Event timestamps: ISO 8601 strings or epoch milliseconds (numbers). NaN when unusable. */
export function parseTimestamp(v: string | number): number {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? v : NaN;
  const t = Date.parse(v);
  return Number.isNaN(t) ? NaN : t;
}
