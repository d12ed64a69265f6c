// The shell command an operator runs to redrive a failed import.

const SAFE = /^[A-Za-z0-9_.\-/:=@%+]+$/;

/** POSIX shell quoting: bare when harmless, else single quotes. */
export function shellQuote(s: string): string {
  if (SAFE.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function redriveCommand(executionName: string, env: string): string {
  return `cargo xtask redrive ${shellQuote(executionName)} --env ${shellQuote(env)}`;
}

/** Redrive is offered for imports that did not complete. */
export const canRedrive = (status: string): boolean => status === 'failed' || status === 'rejected';
