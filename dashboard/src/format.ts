// Formatting of times, durations and counts for display (UTC, deterministic, no DOM).

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** Milliseconds of an RFC 3339 time, or null when absent or unparsable. */
export function ms(iso: string | null | undefined): number | null {
  if (iso === null || iso === undefined || iso === '') return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/** Seconds from `start` to `end`, or null if either is missing (or end is before start). */
export function secondsBetween(start: string | null, end: string | null): number | null {
  const a = ms(start);
  const b = ms(end);
  if (a === null || b === null || b < a) return null;
  return (b - a) / 1000;
}

/** "2024-05-01 12:03:04 UTC", or "—" when absent. */
export function formatTime(iso: string | null | undefined): string {
  const t = ms(iso);
  if (t === null) return iso ? iso : '—';
  const d = new Date(t);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
  );
}

/** "850 ms", "4.2 s", "42 s", "3 min 05 s", "1 h 02 min"; "—" when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return '—';
  }
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 10) return `${(Math.round(seconds * 10) / 10).toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const total = Math.round(seconds);
  if (total < 3600) return `${Math.floor(total / 60)} min ${pad(total % 60)} s`;
  return `${Math.floor(total / 3600)} h ${pad(Math.floor((total % 3600) / 60))} min`;
}

/** "12,345", or "—" for null. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  return n.toLocaleString('en-US');
}

/** "3 → 5", "— → 5" for a first value. */
export function formatChange(oldValue: number | null, newValue: number): string {
  return `${formatCount(oldValue)} → ${formatCount(newValue)}`;
}
