// Shared view pieces: the page context, status badges, times, error and sign-in panels.
import { ApiError, type Client } from './api';
import type { Config } from './config';
import { h, type Child } from './dom';
import { formatTime } from './format';
import { statusLook } from './imports';

export interface Ctx {
  config: Config;
  api: Client;
  /** executionName → source key, from every import seen so far (for the user history). */
  files: Map<string, string>;
  /** Shows the sign-in panel in place of the page (token missing, expired or refused). */
  signIn(error: ApiError | null): void;
}

export function badge(status: string): HTMLElement {
  const look = statusLook(status);
  return h(
    'span',
    {
      class: `badge badge-${status in BADGES ? status : 'other'}`,
      'data-testid': 'status-badge',
      'data-status': status,
    },
    h('span', { 'aria-hidden': 'true' }, look.icon),
    ' ',
    look.label,
  );
}
const BADGES = { running: 1, succeeded: 1, failed: 1, rejected: 1 };

/** A <time> in UTC, with the local time as its tooltip. */
export function time(iso: string | null | undefined): HTMLElement | string {
  if (!iso) return '—';
  const d = new Date(iso);
  const local = Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
  return h('time', { datetime: iso, title: local }, formatTime(iso));
}

export function loading(text: string): HTMLElement {
  return h('p', { class: 'loading', role: 'status' }, text);
}

/** A visible problem (never a blank page): what failed, the API's code and detail. */
export function errorPanel(what: string, e: unknown, ...extra: Child[]): HTMLElement {
  const err = e instanceof ApiError ? e : null;
  const message = err ? err.message : e instanceof Error ? e.message : String(e);
  return h(
    'div',
    { class: 'panel panel-error', role: 'alert', 'data-testid': 'error', 'data-code': err?.code ?? '' },
    h('p', { class: 'panel-title' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), what),
    h('p', null, message),
    extra,
  );
}

/** Hands an error to the sign-in panel when it is about auth; true if it did. */
export function handleAuth(ctx: Ctx, view: Element, e: unknown): boolean {
  if (e instanceof ApiError && e.kind === 'unauthorized') {
    if (view.isConnected) ctx.signIn(e);
    return true;
  }
  return false;
}

export function dl(rows: [string, Child][]): HTMLElement {
  return h(
    'dl',
    { class: 'facts' },
    rows.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))),
  );
}

/** The panel shown instead of a page when there is no usable token. */
export function signInPanel(
  config: Config,
  error: ApiError | null,
  onToken: (token: string) => void,
): HTMLElement {
  const refused = error !== null && error.status === 401;
  const input = h('textarea', {
    id: 'token-input',
    name: 'token',
    rows: 3,
    required: true,
    spellcheck: 'false',
    autocomplete: 'off',
    autocapitalize: 'off',
    'aria-describedby': 'token-help',
  });
  const form = h(
    'form',
    {
      class: 'sign-in-form',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        onToken(input.value);
      },
    },
    h('label', { for: 'token-input' }, 'Token'),
    input,
    h(
      'p',
      { id: 'token-help', class: 'hint' },
      'Paste a bearer token (a JWT). It is kept in this tab only (sessionStorage). ',
      'You can also open the dashboard as ',
      h('code', null, '…/#token=<token>'),
      '.',
    ),
    h('button', { type: 'submit' }, 'Sign in'),
  );
  return h(
    'section',
    {
      class: 'panel panel-sign-in',
      'data-testid': 'sign-in',
      'data-reason': refused ? 'rejected' : 'missing',
      'aria-labelledby': 'sign-in-title',
    },
    h('h1', { id: 'sign-in-title' }, 'Sign in required'),
    h('p', { class: 'lead' }, 'Sign in required: your token is missing or has expired.'),
    refused
      ? h(
          'p',
          { class: 'problem', 'data-testid': 'sign-in-detail' },
          'The API refused the token: ',
          error.detail ?? error.message,
        )
      : null,
    config.signIn
      ? h(
          'p',
          { 'data-testid': 'sign-in-hint' },
          'To get a token for ',
          h('strong', null, config.env),
          ': ',
          h('code', { class: 'cmd-inline' }, config.signIn),
        )
      : null,
    form,
  );
}
