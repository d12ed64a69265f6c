// Unit tests of the API client: auth header, URLs, and mapping of problems and failures to ApiError.
import { describe, expect, it } from 'vitest';
import { ApiError, createClient, kindOfStatus, problemError, type Fetch } from './api';

const problem = (status: number, code: string, detail: string) =>
  new Response(
    JSON.stringify({ type: `urn:userlog:problem:${code}`, title: code, status, detail, code, instance: '/x' }),
    { status, headers: { 'Content-Type': 'application/problem+json' } },
  );

function recorder(answer: (url: string) => Response | Promise<Response>) {
  const calls: { url: string; auth: string | null }[] = [];
  const fetch: Fetch = async (url, init) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    calls.push({ url, auth: headers.Authorization ?? null });
    return answer(url);
  };
  return { calls, fetch };
}

describe('problemError', () => {
  it('maps statuses to what the page does', () => {
    expect(kindOfStatus(401)).toBe('unauthorized');
    expect(kindOfStatus(404)).toBe('notFound');
    expect(kindOfStatus(400)).toBe('badRequest');
    expect(kindOfStatus(503)).toBe('unavailable');
    expect(kindOfStatus(500)).toBe('other');
  });
  it('keeps code and detail', () => {
    const e = problemError(404, { code: 'UserNotFound', detail: 'no user U9', title: 'Not found' });
    expect(e).toBeInstanceOf(ApiError);
    expect([e.kind, e.status, e.code, e.detail, e.message]).toEqual([
      'notFound', 404, 'UserNotFound', 'no user U9', 'UserNotFound: no user U9',
    ]);
  });
  it('copes with bodies that are not problems', () => {
    expect(problemError(502, null).message).toBe('HTTP 502');
    expect(problemError(500, 'oops').code).toBeNull();
    expect(problemError(401, { title: 'Unauthorized' }).message).toBe('Unauthorized');
  });
});

describe('createClient', () => {
  it('sends the bearer token and builds URLs', async () => {
    const r = recorder(() => new Response(JSON.stringify({ items: [], nextCursor: null })));
    const api = createClient({ apiUrl: 'http://api', token: () => 'T0K', fetch: r.fetch });
    await api.imports(50, 'c/1=');
    await api.userHistory('U 1', 20);
    expect(r.calls).toEqual([
      { url: 'http://api/imports?limit=50&cursor=c%2F1%3D', auth: 'Bearer T0K' },
      { url: 'http://api/users/U%201/history?limit=20', auth: 'Bearer T0K' },
    ]);
  });
  it('does not authenticate /health', async () => {
    const r = recorder(() => new Response('{"status":"ok","database":"ok"}'));
    const api = createClient({ apiUrl: 'http://api', token: () => null, fetch: r.fetch });
    expect(await api.health()).toEqual({ status: 'ok', database: 'ok' });
    expect(r.calls[0]?.auth).toBeNull();
  });
  it('refuses to call without a token', async () => {
    const r = recorder(() => new Response('{}'));
    const api = createClient({ apiUrl: 'http://api', token: () => null, fetch: r.fetch });
    await expect(api.userStats('U00001')).rejects.toMatchObject({ kind: 'unauthorized', status: 0 });
    expect(r.calls).toHaveLength(0);
  });
  it('turns a 401 problem into unauthorized with its detail', async () => {
    const r = recorder(() => problem(401, 'Unauthorized', 'the token has expired'));
    const api = createClient({ apiUrl: 'http://api', token: () => 'old', fetch: r.fetch });
    await expect(api.imports(10)).rejects.toMatchObject({
      kind: 'unauthorized', status: 401, code: 'Unauthorized', detail: 'the token has expired',
    });
  });
  it('turns a 404 of the timeline into notFound', async () => {
    const r = recorder(() => problem(404, 'ImportNotFound', 'no import x'));
    const api = createClient({ apiUrl: 'http://api', token: () => 't', fetch: r.fetch });
    await expect(api.timeline('x')).rejects.toMatchObject({ kind: 'notFound', code: 'ImportNotFound' });
    expect(r.calls[0]?.url).toBe('http://api/imports/x/timeline');
  });
  it('reports an unreachable API as a network error', async () => {
    const api = createClient({
      apiUrl: 'http://api',
      token: () => 't',
      fetch: () => Promise.reject(new TypeError('Failed to fetch')),
    });
    await expect(api.imports(1)).rejects.toMatchObject({
      kind: 'network', message: 'The API at http://api is not reachable',
    });
  });
  it('reports a timeout', async () => {
    const api = createClient({
      apiUrl: 'http://api',
      token: () => 't',
      timeoutMs: 10,
      fetch: (_url, init) =>
        new Promise((_ok, fail) => init?.signal?.addEventListener('abort', () => fail(init.signal?.reason))),
    });
    await expect(api.imports(1)).rejects.toMatchObject({
      kind: 'network', message: 'The API at http://api did not answer in time',
    });
  });
  it('rejects a 200 that is not JSON', async () => {
    const r = recorder(() => new Response('<html>'));
    const api = createClient({ apiUrl: 'http://api', token: () => 't', fetch: r.fetch });
    await expect(api.imports(1)).rejects.toMatchObject({ kind: 'other' });
  });
});
