// Geometry of an execution timeline: one bar per state on a shared time axis, in percent.
import { formatDuration, ms } from './format';
import type { StateStatus, Timeline } from './types';

export interface Bar {
  name: string;
  status: StateStatus;
  error: string | null;
  enteredAt: string;
  /** Seconds spent in the state (measured up to now while it runs). */
  seconds: number;
  /** Whether the state has not finished: its bar grows up to "now". */
  open: boolean;
  /** Left edge and width on the axis, 0–100; a bar is never thinner than MIN_WIDTH. */
  left: number;
  width: number;
  failed: boolean;
}

export interface Tick {
  at: number; // 0–100
  label: string;
}

export interface Geometry {
  totalSeconds: number;
  bars: Bar[];
  ticks: Tick[];
}

export const MIN_WIDTH = 0.8;
const STEPS = [
  0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
  43200, 86400,
];

export const isFailedState = (s: StateStatus): boolean =>
  s === 'failed' || s === 'timed_out' || s === 'aborted';

/** A tick label: "500 ms", "30 s", "2 min", "1 min 30 s", "1 h 30 min". */
export function tickLabel(seconds: number): string {
  if (seconds === 0) return '0 s';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  const t = Math.round(seconds);
  const parts: string[] = [];
  if (t >= 3600) parts.push(`${Math.floor(t / 3600)} h`);
  if (t % 3600 >= 60) parts.push(`${Math.floor((t % 3600) / 60)} min`);
  if (t % 60 !== 0) parts.push(`${t % 60} s`);
  return parts.join(' ');
}

/** The smallest "nice" step that gives at most `maxTicks` intervals over `total` seconds. */
export function tickStep(total: number, maxTicks = 5): number {
  for (const s of STEPS) if (total / s <= maxTicks) return s;
  return Math.ceil(total / maxTicks / 86400) * 86400;
}

/** Bars and ticks for a timeline; `now` (ms) ends states and executions still running. */
export function timelineGeometry(t: Timeline, now: number): Geometry {
  const entered = t.states.map((s) => ms(s.enteredAt));
  const stopped = ms(t.stoppedAt);
  const running = t.status === 'RUNNING' || stopped === null;
  const firstEntered = entered.find((e): e is number => e !== null) ?? null;
  const start = ms(t.startedAt) ?? firstEntered ?? now;

  const spans = t.states.map((s, i) => {
    const from = entered[i] ?? start;
    let to: number;
    let open = false;
    if (s.seconds !== null && Number.isFinite(s.seconds)) {
      to = from + s.seconds * 1000;
    } else if (s.status === 'running') {
      to = stopped ?? now;
      open = true;
    } else {
      const next = entered.slice(i + 1).find((e): e is number => e !== null);
      to = next ?? stopped ?? now;
    }
    return { from, to: Math.max(to, from), open };
  });

  const lastEnd = spans.reduce((m, s) => Math.max(m, s.to), start);
  const end = Math.max(running ? Math.max(now, lastEnd) : (stopped ?? lastEnd), lastEnd);
  const totalMs = Math.max(end - start, 1);
  const pct = (v: number) => (v / totalMs) * 100;

  const bars: Bar[] = t.states.map((s, i) => {
    const span = spans[i]!;
    const width = Math.min(100, Math.max(pct(span.to - span.from), MIN_WIDTH));
    const left = Math.min(Math.max(pct(span.from - start), 0), 100 - width);
    return {
      name: s.name,
      status: s.status,
      error: s.error,
      enteredAt: s.enteredAt,
      seconds: (span.to - span.from) / 1000,
      open: span.open,
      left,
      width,
      failed: isFailedState(s.status),
    };
  });

  const totalSeconds = totalMs / 1000;
  const step = tickStep(totalSeconds);
  const ticks: Tick[] = [];
  for (let k = 0; k * step <= totalSeconds + 1e-9 && ticks.length <= 12; k++) {
    ticks.push({ at: pct(k * step * 1000), label: tickLabel(k * step) });
  }
  return { totalSeconds, bars, ticks };
}

/** "1.2 s · succeeded" or "running for 4.0 s · running": the text beside a bar. */
export function barText(b: Bar): string {
  const d = b.open ? `running for ${formatDuration(b.seconds)}` : formatDuration(b.seconds);
  return `${d} · ${b.status.replace('_', ' ')}`;
}
