// A user's page (#/users/<id>): current counts, where they came from, and the history of changes.
import { h, fill } from './dom';
import { formatChange, formatCount } from './format';
import { importHref } from './route';
import type { Change, UserStats } from './types';
import { dl, errorPanel, handleAuth, loading, time, type Ctx } from './view';

const PAGE = 20;

function counts(s: UserStats): HTMLElement {
  const count = (label: string, testid: string, n: number) =>
    h('div', { class: 'count' }, h('dt', null, label), h('dd', { 'data-testid': testid, 'data-value': n }, formatCount(n)));
  return h('dl', { class: 'counts' }, count('Logins', 'login-count', s.loginCount), count('Posts', 'post-count', s.postCount));
}

function origin(s: UserStats): HTMLElement {
  const imp = s.import;
  const from = imp
    ? imp.executionName
      ? h('a', { href: importHref(imp.executionName) }, imp.sourceKey)
      : h('span', null, imp.sourceKey)
    : 'no import yet';
  return dl([
    ['As of', time(s.asOf)],
    ['Last updated', time(s.lastUpdated)],
    ['From', from],
  ]);
}

/** The file cell of a change: the source key when known, filled in later otherwise. */
function fileCell(ctx: Ctx, c: Change, pending: Map<string, HTMLElement[]>): HTMLElement {
  const link = h('a', { href: importHref(c.executionName) }, ctx.files.get(c.executionName) ?? c.executionName);
  if (!ctx.files.has(c.executionName)) {
    const list = pending.get(c.executionName) ?? [];
    list.push(link);
    pending.set(c.executionName, list);
  }
  return h('td', { 'data-label': 'Import' }, link, h('span', { class: 'sub' }, `import ${c.importId}`));
}

/** Looks up the source keys of imports not seen yet, a few at a time; failures keep the name. */
async function resolveFiles(ctx: Ctx, pending: Map<string, HTMLElement[]>): Promise<void> {
  const names = [...pending.keys()];
  const worker = async () => {
    for (let name = names.shift(); name !== undefined; name = names.shift()) {
      try {
        const d = await ctx.api.importDetail(name);
        ctx.files.set(name, d.sourceKey);
        for (const a of pending.get(name) ?? []) a.textContent = d.sourceKey;
      } catch {
        // The execution name stays as the link text.
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

export function userPage(ctx: Ctx, view: HTMLElement, userId: string): void {
  const title = h('h1', { tabindex: '-1' }, `User ${userId}`);
  const body = h('div', { 'aria-busy': 'true' }, loading('Loading the user…'));
  fill(view, h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: '#/' }, 'Imports'), ' › ', `User ${userId}`), title, body);

  let cursor: string | null = null;
  const rows = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const said = h('p', { class: 'hint', role: 'status' });
  const history = h(
    'section',
    { 'aria-labelledby': 'history-title' },
    h('h2', { id: 'history-title' }, 'History'),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'cards' },
        h('caption', { class: 'sr-only' }, `Changes to ${userId}'s counts, newest first`),
        h('thead', null, h('tr', null, ['Changed', 'Logins', 'Posts', 'As of', 'Line', 'Import'].map((c) => h('th', { scope: 'col' }, c)))),
        rows,
      ),
    ),
    h('div', { class: 'more' }, more, said),
  );
  let shown = 0;

  const loadHistory = async () => {
    more.disabled = true;
    try {
      const page = await ctx.api.userHistory(userId, PAGE, cursor);
      const pending = new Map<string, HTMLElement[]>();
      for (const c of page.items) {
        rows.append(
          h(
            'tr',
            { 'data-testid': 'history-row' },
            h('th', { scope: 'row', 'data-label': 'Changed' }, time(c.changedAt)),
            h('td', { 'data-label': 'Logins' }, formatChange(c.oldLoginCount, c.newLoginCount)),
            h('td', { 'data-label': 'Posts' }, formatChange(c.oldPostCount, c.newPostCount)),
            h('td', { 'data-label': 'As of' }, time(c.asOf)),
            h('td', { 'data-label': 'Line' }, c.line === null ? '—' : String(c.line)),
            fileCell(ctx, c, pending),
          ),
        );
      }
      shown += page.items.length;
      cursor = page.nextCursor;
      more.hidden = cursor === null;
      said.textContent = shown === 0 ? 'No changes recorded.' : `${shown} change${shown === 1 ? '' : 's'} shown${cursor === null ? ' (all)' : ''}.`;
      void resolveFiles(ctx, pending);
    } catch (e) {
      if (handleAuth(ctx, view, e)) return;
      said.textContent = `Could not load the history: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', () => void loadHistory());

  ctx.api.userStats(userId).then(
    (s) => {
      if (s.import?.executionName) ctx.files.set(s.import.executionName, s.import.sourceKey);
      fill(body, h('section', { 'aria-label': 'Current counts' }, counts(s), origin(s)), history);
      body.setAttribute('aria-busy', 'false');
      void loadHistory();
    },
    (e) => {
      if (handleAuth(ctx, view, e)) return;
      body.setAttribute('aria-busy', 'false');
      const what =
        e instanceof Error && 'code' in e && e.code === 'UserNotFound'
          ? `No user ${userId}.`
          : `Could not load the user ${userId}.`;
      fill(body, errorPanel(what, e, h('p', null, h('a', { href: '#/' }, 'Back to the imports'))));
    },
  );
}
