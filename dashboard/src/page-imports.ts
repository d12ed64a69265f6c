// The recent imports page (#/): failed and rejected first, then the rest; paging; go to a user.
import { h, fill } from './dom';
import { formatCount, formatDuration } from './format';
import { groupImports, importSeconds, mergePages } from './imports';
import { importHref, isUserId, userHref } from './route';
import type { Import } from './types';
import { badge, errorPanel, handleAuth, loading, time, type Ctx } from './view';

const PAGE = 25;

function rowsApplied(i: Import): string {
  if (i.rowsApplied === null) return '—';
  return i.rowsTotal === null
    ? formatCount(i.rowsApplied)
    : `${formatCount(i.rowsApplied)} of ${formatCount(i.rowsTotal)}`;
}

function importRow(i: Import): HTMLElement {
  const cell = (label: string, ...c: (Node | string)[]) => h('td', { 'data-label': label }, ...c);
  const file = i.executionName
    ? h('a', { href: importHref(i.executionName) }, i.sourceKey)
    : h('span', null, i.sourceKey);
  return h(
    'tr',
    {
      'data-testid': 'import-row',
      'data-status': i.status,
      'data-source-key': i.sourceKey,
      'data-execution-name': i.executionName ?? '',
    },
    cell('Status', badge(i.status)),
    h(
      'th',
      { scope: 'row', 'data-label': 'File' },
      file,
      h(
        'span',
        { class: 'sub' },
        i.executionName ?? 'no execution',
        i.attempt > 1 ? ` · attempt ${i.attempt}` : '',
      ),
    ),
    cell('Route', i.route ?? '—'),
    cell('Rows applied', rowsApplied(i)),
    cell(
      'Row errors',
      i.rowErrors ? h('strong', { class: 'warn' }, formatCount(i.rowErrors)) : formatCount(i.rowErrors),
    ),
    cell('Duration', i.finishedAt ? formatDuration(importSeconds(i)) : 'running'),
    cell('Claimed', time(i.claimedAt)),
  );
}

function importsTable(caption: string, items: Import[]): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'cards imports' },
      h('caption', { class: 'sr-only' }, caption),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Status', 'File', 'Route', 'Rows applied', 'Row errors', 'Duration', 'Claimed'].map((c) =>
            h('th', { scope: 'col' }, c),
          ),
        ),
      ),
      h('tbody', null, items.map(importRow)),
    ),
  );
}

function goToUser(): HTMLElement {
  const input = h('input', {
    id: 'goto-user',
    name: 'user',
    type: 'search',
    placeholder: 'U00001',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-describedby': 'goto-user-msg',
  });
  const msg = h('p', { id: 'goto-user-msg', class: 'hint', 'aria-live': 'polite' });
  return h(
    'form',
    {
      role: 'search',
      class: 'goto',
      'aria-label': 'Go to user',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const id = input.value.trim();
        if (!isUserId(id)) {
          input.setAttribute('aria-invalid', 'true');
          msg.textContent = 'A user id is 1 to 10 letters, digits, "_" or "-", like U00001.';
          input.focus();
          return;
        }
        input.removeAttribute('aria-invalid');
        location.hash = userHref(id);
      },
    },
    h('label', { for: 'goto-user' }, 'Go to user'),
    h('div', { class: 'inline' }, input, h('button', { type: 'submit' }, 'Open')),
    msg,
  );
}

export function importsPage(ctx: Ctx, view: HTMLElement): void {
  let items: Import[] = [];
  let cursor: string | null = null;
  const lists = h('div', { 'aria-busy': 'true' }, loading('Loading imports…'));
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const count = h('p', { class: 'hint', role: 'status' });

  const draw = () => {
    const g = groupImports(items);
    fill(
      lists,
      h(
        'section',
        { 'aria-labelledby': 'attention-title', class: 'attention' },
        h('h2', { id: 'attention-title' }, 'Needs attention', h('span', { class: 'n' }, ` (${g.attention.length})`)),
        g.attention.length
          ? importsTable('Failed and rejected imports, newest first', g.attention)
          : h('p', { class: 'ok-note' }, h('span', { 'aria-hidden': 'true' }, '✓ '), 'No failed or rejected import among those loaded.'),
      ),
      h(
        'section',
        { 'aria-labelledby': 'recent-title' },
        h('h2', { id: 'recent-title' }, 'Recent', h('span', { class: 'n' }, ` (${g.recent.length})`)),
        g.recent.length
          ? importsTable('Other imports, newest first', g.recent)
          : h('p', null, 'No other imports.'),
      ),
    );
    lists.setAttribute('aria-busy', 'false');
    more.hidden = cursor === null;
    count.textContent = `${items.length} import${items.length === 1 ? '' : 's'} loaded${cursor === null ? ' (all)' : ''}.`;
  };

  const load = async () => {
    more.disabled = true;
    try {
      const page = await ctx.api.imports(PAGE, cursor);
      for (const i of page.items) if (i.executionName) ctx.files.set(i.executionName, i.sourceKey);
      items = mergePages(items, page.items);
      cursor = page.nextCursor;
      draw();
    } catch (e) {
      if (handleAuth(ctx, view, e)) return;
      lists.setAttribute('aria-busy', 'false');
      if (items.length === 0) fill(lists, errorPanel('Could not load the imports.', e));
      else count.textContent = `Could not load more: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', () => void load());

  fill(
    view,
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Imports'), goToUser()),
    lists,
    h('div', { class: 'more' }, more, count),
  );
  void load();
}
