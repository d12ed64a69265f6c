// Row errors of an import grouped by code: counts from errorsByCode plus the first lines of each.
import type { ImportError } from './types';

export interface ErrorGroup {
  code: string;
  count: number;
  severity: string | null;
  /** The import's first errors (at most 10 in all) that have this code, by line. */
  samples: ImportError[];
}

/** Groups, most frequent first (then by code); codes only seen in firstErrors are kept too. */
export function groupErrors(
  errorsByCode: Record<string, number> | null | undefined,
  firstErrors: readonly ImportError[] | null | undefined,
): ErrorGroup[] {
  const groups = new Map<string, ErrorGroup>();
  const group = (code: string): ErrorGroup => {
    let g = groups.get(code);
    if (!g) {
      g = { code, count: 0, severity: null, samples: [] };
      groups.set(code, g);
    }
    return g;
  };
  for (const [code, count] of Object.entries(errorsByCode ?? {})) {
    if (typeof count === 'number' && count > 0) group(code).count = count;
  }
  for (const e of firstErrors ?? []) {
    const g = group(e.code);
    g.samples.push(e);
    g.severity ??= e.severity;
  }
  for (const g of groups.values()) {
    g.count = Math.max(g.count, g.samples.length);
    g.samples.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
}

export const totalErrors = (groups: readonly ErrorGroup[]): number =>
  groups.reduce((n, g) => n + g.count, 0);
