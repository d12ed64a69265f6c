// Where the bearer token comes from: the URL fragment `#token=...` once, then sessionStorage.

export const TOKEN_KEY = 'userlog.token';

/**
 * The token of a fragment `#token=XYZ` (percent-decoded), or null for any other fragment
 * (routes like `#/imports/x`, an empty `#token=`).
 */
export function tokenFromFragment(hash: string): string | null {
  const m = /^#?token=([^&]*)/.exec(hash);
  if (!m || m[1] === undefined) return null;
  let token: string;
  try {
    token = decodeURIComponent(m[1]).trim();
  } catch {
    token = m[1].trim();
  }
  return token === '' ? null : token;
}

/** A pasted token, accepted with or without a leading "Bearer ". */
export function cleanToken(input: string): string | null {
  const t = input.trim().replace(/^Bearer\s+/i, '').trim();
  return t === '' ? null : t;
}
