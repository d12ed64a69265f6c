// Unit tests of formatting, failed-first grouping, paging, error groups and the redrive command.
import { describe, expect, it } from 'vitest';
import { groupErrors, totalErrors } from './errors';
import { formatChange, formatCount, formatDuration, formatTime, secondsBetween } from './format';
import { groupImports, importSeconds, mergePages, statusLook } from './imports';
import { canRedrive, redriveCommand, shellQuote } from './redrive';
import type { Import, ImportError } from './types';

const imp = (id: number, status: Import['status'], claimedAt: string, extra: Partial<Import> = {}): Import => ({
  importId: id,
  executionName: `exec-${id}`,
  status,
  route: 'map',
  sourceBucket: 'in',
  sourceKey: `incoming/activity-${id}.csv`,
  asOf: '2024-05-01T00:00:00Z',
  attempt: 1,
  claimedAt,
  finishedAt: null,
  rowsTotal: null,
  rowsApplied: null,
  rowErrors: null,
  ...extra,
});

describe('format', () => {
  it('formats durations', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(-1)).toBe('—');
    expect(formatDuration(0.0424)).toBe('42 ms');
    expect(formatDuration(4.25)).toBe('4.3 s');
    expect(formatDuration(42.4)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3725)).toBe('1 h 02 min');
  });
  it('formats times in UTC', () => {
    expect(formatTime('2024-05-01T12:03:04.5+02:00')).toBe('2024-05-01 10:03:04 UTC');
    expect(formatTime(null)).toBe('—');
    expect(formatTime('yesterday')).toBe('yesterday');
  });
  it('measures between times', () => {
    expect(secondsBetween('2024-05-01T00:00:00Z', '2024-05-01T00:01:30.5Z')).toBe(90.5);
    expect(secondsBetween('2024-05-01T00:00:00Z', null)).toBeNull();
    expect(secondsBetween('2024-05-01T00:00:10Z', '2024-05-01T00:00:00Z')).toBeNull();
  });
  it('formats counts and changes', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(null)).toBe('—');
    expect(formatChange(null, 5)).toBe('— → 5');
    expect(formatChange(3, 5)).toBe('3 → 5');
  });
});

describe('imports', () => {
  it('puts failed and rejected first, each group newest first', () => {
    const items = [
      imp(1, 'succeeded', '2024-05-01T10:00:00Z'),
      imp(2, 'failed', '2024-05-01T09:00:00Z'),
      imp(3, 'running', '2024-05-01T12:00:00Z'),
      imp(4, 'rejected', '2024-05-01T11:00:00Z'),
      imp(5, 'succeeded', '2024-05-01T10:00:00Z'),
    ];
    const g = groupImports(items);
    expect(g.attention.map((i) => i.importId)).toEqual([4, 2]);
    expect(g.recent.map((i) => i.importId)).toEqual([3, 5, 1]);
  });
  it('labels statuses with an icon as well as a word', () => {
    expect(statusLook('failed')).toEqual({ icon: '✕', label: 'failed', attention: true });
    expect(statusLook('rejected').attention).toBe(true);
    expect(statusLook('succeeded').attention).toBe(false);
    expect(statusLook('weird')).toEqual({ icon: '?', label: 'weird', attention: false });
  });
  it('merges pages without duplicates', () => {
    const a = [imp(1, 'succeeded', '2024-05-01T10:00:00Z')];
    const b = [imp(1, 'failed', '2024-05-01T10:00:00Z'), imp(2, 'failed', '2024-05-01T09:00:00Z')];
    expect(mergePages(a, b).map((i) => [i.importId, i.status])).toEqual([[1, 'succeeded'], [2, 'failed']]);
  });
  it('measures an import from claim to finish', () => {
    expect(importSeconds(imp(1, 'succeeded', '2024-05-01T10:00:00Z', { finishedAt: '2024-05-01T10:00:12Z' }))).toBe(12);
    expect(importSeconds(imp(1, 'running', '2024-05-01T10:00:00Z'))).toBeNull();
  });
});

describe('groupErrors', () => {
  const err = (code: string, line: number | null, severity = 'error'): ImportError => ({
    code, severity, stage: 'validate', line, userId: 'U00001', message: `${code} at ${line}`, timestamp: '2024-05-01T00:00:00Z',
  });
  it('groups by code, most frequent first, samples by line', () => {
    const g = groupErrors({ BadCount: 3, UnknownUser: 7, BadHeader: 3 }, [
      err('BadCount', 9), err('UnknownUser', 2), err('BadCount', 4), err('BadHeader', null, 'fatal'),
    ]);
    expect(g.map((x) => [x.code, x.count, x.samples.map((s) => s.line)])).toEqual([
      ['UnknownUser', 7, [2]],
      ['BadCount', 3, [4, 9]],
      ['BadHeader', 3, [null]],
    ]);
    expect(g[2]?.severity).toBe('fatal');
    expect(totalErrors(g)).toBe(13);
  });
  it('keeps codes that are only in the first errors', () => {
    expect(groupErrors({}, [err('BadCount', 1), err('BadCount', 2)]).map((x) => [x.code, x.count])).toEqual([['BadCount', 2]]);
    expect(groupErrors(null, null)).toEqual([]);
  });
});

describe('redrive', () => {
  it('builds the command', () => {
    expect(redriveCommand('import-2024-05-01T10-00-00_abc', 'local')).toBe(
      'cargo xtask redrive import-2024-05-01T10-00-00_abc --env local',
    );
  });
  it('quotes what the shell would interpret', () => {
    expect(shellQuote('a b')).toBe(`'a b'`);
    expect(shellQuote(`it's`)).toBe(`'it'\\''s'`);
    expect(shellQuote('$(rm -rf /)')).toBe(`'$(rm -rf /)'`);
    expect(shellQuote('')).toBe(`''`);
  });
  it('is offered for failed and rejected imports only', () => {
    expect(['failed', 'rejected', 'succeeded', 'running'].map(canRedrive)).toEqual([true, true, false, false]);
  });
});
