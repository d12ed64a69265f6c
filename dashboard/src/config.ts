// Runtime configuration (./config.json, written per environment by the tooling) and its validation.

export interface Config {
  /** Environment name, e.g. "local"; also the `--env` of the redrive command. */
  env: string;
  /** Base URL of the statistics API, without a trailing slash. */
  apiUrl: string;
  /** How to get a token, shown on the sign-in panel (e.g. "cargo xtask token"). */
  signIn: string;
}

/** Checks the parsed config.json; throws an Error naming the first bad field. */
export function parseConfig(raw: unknown): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error('config.json is not a JSON object');
  }
  const o = raw as Record<string, unknown>;
  const text = (key: string, required: boolean): string => {
    const v = o[key];
    if (v === undefined && !required) return '';
    if (typeof v !== 'string' || (required && v.trim() === '')) {
      throw new Error(`config.json: "${key}" must be a non-empty string`);
    }
    return v.trim();
  };
  const env = text('env', true);
  const apiUrl = text('apiUrl', true).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(apiUrl)) {
    throw new Error(`config.json: "apiUrl" must be an http(s) URL, got "${apiUrl}"`);
  }
  return { env, apiUrl, signIn: text('signIn', false) };
}
