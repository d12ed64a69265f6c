// Entry point: reads config.json and the token, draws the shell and health line, routes pages.
import './style.css';
import { ApiError, createClient } from './api';
import { TOKEN_KEY, cleanToken, tokenFromFragment } from './auth';
import { parseConfig, type Config } from './config';
import { h, fill } from './dom';
import { importPage } from './page-import';
import { importsPage } from './page-imports';
import { userPage } from './page-user';
import { parseRoute } from './route';
import { errorPanel, signInPanel, type Ctx } from './view';

/** sessionStorage, or memory when the browser refuses storage. */
const store = (() => {
  let mem: string | null = null;
  return {
    get: (): string | null => {
      try {
        return sessionStorage.getItem(TOKEN_KEY);
      } catch {
        return mem;
      }
    },
    set: (v: string | null): void => {
      mem = v;
      try {
        if (v === null) sessionStorage.removeItem(TOKEN_KEY);
        else sessionStorage.setItem(TOKEN_KEY, v);
      } catch {
        // memory only
      }
    },
  };
})();

/** Moves a `#token=` fragment into storage and out of the address bar; true if there was one. */
function takeFragmentToken(): boolean {
  const token = tokenFromFragment(location.hash);
  if (token === null) return false;
  store.set(token);
  history.replaceState(history.state, '', `${location.pathname}${location.search}#/`);
  return true;
}

async function loadConfig(): Promise<Config> {
  let res: Response;
  try {
    res = await fetch('./config.json', { cache: 'no-store' });
  } catch (e) {
    throw new Error(`config.json could not be fetched (${e instanceof Error ? e.message : e})`);
  }
  if (!res.ok) throw new Error(`config.json could not be fetched: HTTP ${res.status}`);
  let raw: unknown;
  try {
    raw = await res.json();
  } catch {
    throw new Error('config.json is not valid JSON');
  }
  return parseConfig(raw);
}

function healthLine(ctx: Ctx, el: HTMLElement): void {
  const show = (state: string, icon: string, text: string) => {
    el.dataset.state = state;
    if (el.textContent !== `${icon} ${text}`) fill(el, h('span', { 'aria-hidden': 'true' }, icon), ' ', text);
  };
  const check = async () => {
    try {
      const r = await ctx.api.health();
      if (r.status === 'ok' && r.database === 'ok') show('ok', '●', 'API ok · database ok');
      else show('down', '▲', `API ${r.status} · database ${r.database}`);
    } catch (e) {
      if (e instanceof ApiError && e.kind === 'network') show('unreachable', '✕', e.message);
      else show('down', '▲', `API problem: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  void check();
  setInterval(() => document.visibilityState === 'visible' && void check(), 30000);
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && void check());
}

async function start(app: HTMLElement): Promise<void> {
  takeFragmentToken();
  let config: Config;
  try {
    config = await loadConfig();
  } catch (e) {
    fill(app, h('main', { id: 'main' }, errorPanel('The dashboard is not configured.', e, h('p', null, 'The tooling writes config.json next to index.html (see config.example.json).'))));
    return;
  }

  const main = h('main', { id: 'main' });
  const health = h('p', { class: 'health', 'data-testid': 'health', 'data-state': 'checking', role: 'status' }, 'Checking the API…');
  const signOut = h('button', { type: 'button', class: 'link', hidden: store.get() === null }, 'Sign out');
  fill(
    app,
    h('a', { class: 'skip', href: '#main', onclick: (ev: Event) => { ev.preventDefault(); main.focus(); } }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('a', { class: 'brand', href: '#/' }, 'userlog'),
      h('span', { class: 'env', title: 'Environment' }, config.env),
      h('nav', { 'aria-label': 'Main' }, h('a', { href: '#/' }, 'Imports')),
      health,
      signOut,
    ),
    main,
  );
  main.tabIndex = -1;
  document.title = `userlog · ${config.env}`;

  let firstRender = true;
  const ctx: Ctx = {
    config,
    api: createClient({ apiUrl: config.apiUrl, token: store.get }),
    files: new Map(),
    signIn(error) {
      if (error?.status === 401) store.set(null);
      signOut.hidden = store.get() === null;
      document.title = `Sign in · userlog · ${config.env}`;
      fill(
        main,
        signInPanel(config, error, (input) => {
          const token = cleanToken(input);
          if (token === null) return;
          store.set(token);
          signOut.hidden = false;
          render();
        }),
      );
      main.querySelector<HTMLElement>('textarea')?.focus();
    },
  };
  signOut.addEventListener('click', () => {
    store.set(null);
    ctx.signIn(null);
  });

  const render = () => {
    if (store.get() === null) {
      ctx.signIn(null);
      return;
    }
    signOut.hidden = false;
    const view = h('div', { class: 'view' });
    fill(main, view);
    document.title = `userlog · ${config.env}`;
    const route = parseRoute(location.hash);
    switch (route.page) {
      case 'imports':
        importsPage(ctx, view);
        break;
      case 'import':
        importPage(ctx, view, route.executionName);
        break;
      case 'user':
        userPage(ctx, view, route.userId);
        document.title = `${route.userId} · userlog · ${config.env}`;
        break;
      case 'notFound':
        fill(view, h('h1', { tabindex: '-1' }, 'Not found'), h('p', null, `No page ${route.path}. `, h('a', { href: '#/' }, 'Go to the imports')));
        break;
    }
    if (!firstRender) view.querySelector<HTMLElement>('h1')?.focus();
    firstRender = false;
  };

  window.addEventListener('hashchange', () => {
    if (takeFragmentToken()) signOut.hidden = false;
    render();
  });
  healthLine(ctx, health);
  render();
}

const app = document.getElementById('app');
if (app) void start(app);
