// Hash routes (#/, #/imports/<executionName>, #/users/<userId>) and the links to them.

export type Route =
  | { page: 'imports' }
  | { page: 'import'; executionName: string }
  | { page: 'user'; userId: string }
  | { page: 'notFound'; path: string };

const USER_ID = /^[A-Za-z0-9_-]{1,10}$/;

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/^\/+/, '').replace(/\/+$/, '');
  if (path === '' || path === 'imports') return { page: 'imports' };
  const parts = path.split('/');
  if (parts.length === 2 && parts[0] === 'imports' && parts[1]) {
    return { page: 'import', executionName: decode(parts[1]) };
  }
  if (parts.length === 2 && parts[0] === 'users' && parts[1]) {
    return { page: 'user', userId: decode(parts[1]) };
  }
  return { page: 'notFound', path: '/' + path };
}

export const importHref = (executionName: string): string =>
  `#/imports/${encodeURIComponent(executionName)}`;
export const userHref = (userId: string): string => `#/users/${encodeURIComponent(userId)}`;

/** Whether a typed user id has the API's shape (letters, digits, `_`, `-`; at most 10). */
export function isUserId(s: string): boolean {
  return USER_ID.test(s);
}
