// Unit tests of the timeline geometry: bar positions, open states, minimum widths and ticks.
import { describe, expect, it } from 'vitest';
import { barText, MIN_WIDTH, tickLabel, tickStep, timelineGeometry } from './timeline';
import type { Timeline } from './types';

const T0 = Date.parse('2024-05-01T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

describe('timelineGeometry', () => {
  it('places finished states on the axis', () => {
    const t: Timeline = {
      executionName: 'x',
      status: 'FAILED',
      startedAt: at(0),
      stoppedAt: at(10),
      states: [
        { name: 'ValidateFile', enteredAt: at(0), seconds: 2, status: 'succeeded', error: null },
        { name: 'ProcessRows', enteredAt: at(2), seconds: 6, status: 'succeeded', error: null },
        { name: 'CheckErrors', enteredAt: at(8), seconds: 2, status: 'failed', error: 'States.TaskFailed' },
      ],
    };
    const g = timelineGeometry(t, T0 + 999_000);
    expect(g.totalSeconds).toBe(10);
    expect(g.bars.map((b) => [b.name, b.left, b.width, b.failed])).toEqual([
      ['ValidateFile', 0, 20, false],
      ['ProcessRows', 20, 60, false],
      ['CheckErrors', 80, 20, true],
    ]);
    expect(g.ticks.map((k) => k.label)).toEqual(['0 s', '2 s', '4 s', '6 s', '8 s', '10 s']);
    expect(g.ticks.at(-1)?.at).toBe(100);
    expect(barText(g.bars[2]!)).toBe('2.0 s · failed');
  });
  it('grows a running state up to now', () => {
    const t: Timeline = {
      executionName: 'x',
      status: 'RUNNING',
      startedAt: at(0),
      stoppedAt: null,
      states: [
        { name: 'ValidateFile', enteredAt: at(0), seconds: 1, status: 'succeeded', error: null },
        { name: 'ProcessRows', enteredAt: at(1), seconds: null, status: 'running', error: null },
      ],
    };
    const g = timelineGeometry(t, T0 + 4000);
    expect(g.totalSeconds).toBe(4);
    expect(g.bars[1]).toMatchObject({ open: true, left: 25, width: 75, seconds: 3 });
    expect(barText(g.bars[1]!)).toBe('running for 3.0 s · running');
  });
  it('ends a state without seconds at the next one, and keeps tiny bars visible', () => {
    const t: Timeline = {
      executionName: 'x',
      status: 'SUCCEEDED',
      startedAt: at(0),
      stoppedAt: at(100),
      states: [
        { name: 'A', enteredAt: at(0), seconds: null, status: 'succeeded', error: null },
        { name: 'B', enteredAt: at(99.99), seconds: 0.01, status: 'succeeded', error: null },
      ],
    };
    const g = timelineGeometry(t, T0);
    expect(g.bars[0]?.width).toBeCloseTo(99.99);
    expect(g.bars[1]?.width).toBe(MIN_WIDTH);
    expect(g.bars[1]!.left + g.bars[1]!.width).toBeLessThanOrEqual(100);
  });
  it('survives an execution with no states or no times', () => {
    const g = timelineGeometry({ executionName: 'x', status: 'ABORTED', startedAt: 'bad', stoppedAt: null, states: [] }, T0);
    expect(g.bars).toEqual([]);
    expect(g.ticks[0]).toEqual({ at: 0, label: '0 s' });
  });
});

describe('ticks', () => {
  it('picks nice steps', () => {
    expect(tickStep(0.4)).toBe(0.1);
    expect(tickStep(10)).toBe(2);
    expect(tickStep(125)).toBe(30);
    expect(tickStep(3600)).toBe(900);
    expect(tickStep(10 * 86400)).toBe(2 * 86400);
  });
  it('labels them', () => {
    expect([0, 0.5, 30, 90, 120, 5400, 7200].map(tickLabel)).toEqual([
      '0 s', '500 ms', '30 s', '1 min 30 s', '2 min', '1 h 30 min', '2 h',
    ]);
  });
});
