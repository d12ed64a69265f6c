// Client of the statistics API: bearer auth, JSON, and mapping of RFC 9457 problems to ApiError.
import type {
  Health,
  HistoryPage,
  ImportDetail,
  ImportsPage,
  Timeline,
  UserStats,
} from './types';

/** What the page should do about a failed call. */
export type ErrorKind =
  | 'unauthorized' // sign in again (401, or no token at all)
  | 'notFound'
  | 'badRequest'
  | 'unavailable' // 503: the database, audit trail or issuer's keys
  | 'network' // the API did not answer (down, wrong apiUrl, CORS, timeout)
  | 'other';

export class ApiError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly status: number,
    /** The problem's stable code (`UserNotFound`, ...), when the API sent one. */
    readonly code: string | null,
    /** The problem's human detail, when the API sent one. */
    readonly detail: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function kindOfStatus(status: number): ErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 404) return 'notFound';
  if (status === 400 || status === 422) return 'badRequest';
  if (status === 503 || status === 502 || status === 504) return 'unavailable';
  return 'other';
}

/** The ApiError for an HTTP error status and its (parsed, possibly absent) body. */
export function problemError(status: number, body: unknown): ApiError {
  const p = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const str = (k: string): string | null =>
    typeof p[k] === 'string' && (p[k] as string) !== '' ? (p[k] as string) : null;
  const code = str('code');
  const detail = str('detail');
  const title = str('title');
  const message =
    [code, detail ?? title].filter((s) => s !== null).join(': ') || `HTTP ${status}`;
  return new ApiError(kindOfStatus(status), status, code, detail, message);
}

export const missingToken = (): ApiError =>
  new ApiError('unauthorized', 0, null, null, 'No token');

export function networkError(apiUrl: string, cause: unknown): ApiError {
  const timedOut = cause instanceof DOMException && cause.name === 'TimeoutError';
  const why = timedOut ? 'did not answer in time' : 'is not reachable';
  return new ApiError('network', 0, null, null, `The API at ${apiUrl} ${why}`);
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  apiUrl: string;
  token: () => string | null;
  fetch?: Fetch;
  timeoutMs?: number;
}

const q = (params: Record<string, string | number | null | undefined>): string => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) s.set(k, String(v));
  const text = s.toString();
  return text === '' ? '' : `?${text}`;
};
const seg = encodeURIComponent;

export function createClient(opts: ClientOptions) {
  const doFetch: Fetch = opts.fetch ?? ((input, init) => fetch(input, init));
  const timeoutMs = opts.timeoutMs ?? 15000;

  async function get<T>(path: string, auth = true): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (auth) {
      const token = opts.token();
      if (token === null) throw missingToken();
      headers.Authorization = `Bearer ${token}`;
    }
    let res: Response;
    try {
      res = await doFetch(opts.apiUrl + path, {
        headers,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw networkError(opts.apiUrl, e);
    }
    let body: unknown = null;
    try {
      const text = await res.text();
      body = text === '' ? null : JSON.parse(text);
    } catch {
      body = null;
    }
    if (!res.ok) throw problemError(res.status, body);
    if (body === null) {
      throw new ApiError('other', res.status, null, null, `Empty or non-JSON answer from ${path}`);
    }
    return body as T;
  }

  return {
    health: () => get<Health>('/health', false),
    imports: (limit: number, cursor: string | null = null) =>
      get<ImportsPage>(`/imports${q({ limit, cursor })}`),
    importDetail: (executionName: string) => get<ImportDetail>(`/imports/${seg(executionName)}`),
    timeline: (executionName: string) => get<Timeline>(`/imports/${seg(executionName)}/timeline`),
    userStats: (userId: string) => get<UserStats>(`/users/${seg(userId)}/stats`),
    userHistory: (userId: string, limit: number, cursor: string | null = null) =>
      get<HistoryPage>(`/users/${seg(userId)}/history${q({ limit, cursor })}`),
  };
}

export type Client = ReturnType<typeof createClient>;
