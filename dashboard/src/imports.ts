// Imports list logic: statuses and their labels, failed-first grouping, paging merge, durations.
import { ms, secondsBetween } from './format';
import type { Import, ImportStatus } from './types';

export interface StatusLook {
  /** Shown next to the label so the status never depends on colour alone. */
  icon: string;
  label: string;
  attention: boolean;
}

const LOOKS: Record<ImportStatus, StatusLook> = {
  failed: { icon: '✕', label: 'failed', attention: true },
  rejected: { icon: '⊘', label: 'rejected', attention: true },
  running: { icon: '◷', label: 'running', attention: false },
  succeeded: { icon: '✓', label: 'succeeded', attention: false },
};

export function statusLook(status: string): StatusLook {
  return LOOKS[status as ImportStatus] ?? { icon: '?', label: status, attention: false };
}

export const needsAttention = (i: Import): boolean => statusLook(i.status).attention;

/** Newest claim first; ties by larger import id (the later one). */
export function newestFirst(a: Import, b: Import): number {
  const d = (ms(b.claimedAt) ?? 0) - (ms(a.claimedAt) ?? 0);
  return d !== 0 ? d : b.importId - a.importId;
}

export interface ImportGroups {
  /** Failed and rejected imports, newest first. */
  attention: Import[];
  /** All the others (running, succeeded), newest first. */
  recent: Import[];
}

export function groupImports(items: readonly Import[]): ImportGroups {
  const sorted = [...items].sort(newestFirst);
  return {
    attention: sorted.filter(needsAttention),
    recent: sorted.filter((i) => !needsAttention(i)),
  };
}

/** The loaded list with a next page added; an import seen again keeps its newer copy. */
export function mergePages(loaded: readonly Import[], page: readonly Import[]): Import[] {
  const key = (i: Import) => `${i.importId}`;
  const byKey = new Map<string, Import>();
  for (const i of loaded) byKey.set(key(i), i);
  for (const i of page) if (!byKey.has(key(i))) byKey.set(key(i), i);
  return [...byKey.values()];
}

/** finishedAt − claimedAt in seconds; null while running. */
export const importSeconds = (i: Import): number | null =>
  secondsBetween(i.claimedAt, i.finishedAt);
