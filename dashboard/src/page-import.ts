// One import's page (#/imports/<executionName>): summary, execution timeline, row errors, redrive.
import { h, fill } from './dom';
import { formatCount, formatDuration } from './format';
import { groupErrors, totalErrors, type ErrorGroup } from './errors';
import { importSeconds } from './imports';
import { canRedrive, redriveCommand } from './redrive';
import { userHref } from './route';
import { barText, timelineGeometry } from './timeline';
import type { ImportDetail, Timeline } from './types';
import { badge, dl, errorPanel, handleAuth, loading, time, type Ctx } from './view';

function summary(d: ImportDetail): HTMLElement {
  return dl([
    ['Status', badge(d.status)],
    ['File', h('span', { class: 'mono' }, `s3://${d.sourceBucket}/${d.sourceKey}`)],
    ['Execution', h('span', { class: 'mono' }, d.executionName ?? '—')],
    ['Route', d.route ?? '—'],
    ['Import id', `${d.importId}${d.attempt > 1 ? ` (attempt ${d.attempt})` : ''}`],
    ['As of', time(d.asOf)],
    ['Claimed', time(d.claimedAt)],
    ['Finished', d.finishedAt ? time(d.finishedAt) : 'running'],
    ['Duration', d.finishedAt ? formatDuration(importSeconds(d)) : '—'],
    ['Rows', d.rowsTotal === null ? '—' : `${formatCount(d.rowsApplied)} applied of ${formatCount(d.rowsTotal)}`],
    ['Row errors', formatCount(d.rowErrors)],
  ]);
}

async function copy(text: string, source: HTMLElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Not a secure context or no permission: select the text so Ctrl+C works.
    const range = document.createRange();
    range.selectNodeContents(source);
    const sel = getSelection();
    sel?.removeAllRanges();
    sel?.addRange(range);
    return document.execCommand?.('copy') ?? false;
  }
}

function redrive(ctx: Ctx, d: ImportDetail): HTMLElement | null {
  if (!canRedrive(d.status) || !d.executionName) return null;
  const cmd = redriveCommand(d.executionName, ctx.config.env);
  const code = h('code', { 'data-testid': 'redrive-command' }, cmd);
  const said = h('span', { class: 'hint', role: 'status' });
  const button = h(
    'button',
    {
      type: 'button',
      onclick: async () => {
        said.textContent = (await copy(cmd, code)) ? 'Copied.' : 'Selected: press Ctrl+C to copy.';
      },
    },
    'Copy',
  );
  return h(
    'section',
    { 'aria-labelledby': 'redrive-title', class: 'panel panel-attention' },
    h('h2', { id: 'redrive-title' }, 'Redrive'),
    h('p', null, `This import ${d.status === 'rejected' ? 'was rejected' : 'failed'}. Once the cause is fixed, re-run it with:`),
    h('div', { class: 'cmd' }, h('pre', null, code), button),
    said,
  );
}

function errorGroup(g: ErrorGroup, complete: boolean): HTMLElement {
  const shown = g.samples.length;
  return h(
    'section',
    { class: 'error-group', 'data-testid': 'error-group', 'data-code': g.code, 'aria-labelledby': `eg-${g.code}` },
    h(
      'h3',
      { id: `eg-${g.code}` },
      h('span', { class: 'mono' }, g.code),
      ' ',
      h('span', { class: 'n' }, `${formatCount(g.count)}${complete ? '' : '+'} error${g.count === 1 ? '' : 's'}`),
      g.severity ? h('span', { class: `sev sev-${g.severity}` }, g.severity) : null,
    ),
    shown
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'cards compact' },
            h('caption', { class: 'sr-only' }, `First ${g.code} errors`),
            h('thead', null, h('tr', null, ['Line', 'User', 'Stage', 'Message'].map((c) => h('th', { scope: 'col' }, c)))),
            h(
              'tbody',
              null,
              g.samples.map((e) =>
                h(
                  'tr',
                  null,
                  h('td', { 'data-label': 'Line' }, e.line === null ? '—' : String(e.line)),
                  h('td', { 'data-label': 'User' }, e.userId ? h('a', { href: userHref(e.userId) }, e.userId) : '—'),
                  h('td', { 'data-label': 'Stage' }, e.stage),
                  h('td', { 'data-label': 'Message' }, e.message),
                ),
              ),
            ),
          ),
        )
      : null,
    shown < g.count ? h('p', { class: 'hint' }, `First ${shown} of ${formatCount(g.count)} shown.`) : null,
  );
}

function rowErrors(d: ImportDetail): HTMLElement {
  const groups = groupErrors(d.errorsByCode, d.firstErrors);
  return h(
    'section',
    { 'aria-labelledby': 'errors-title' },
    h('h2', { id: 'errors-title' }, 'Row errors', h('span', { class: 'n' }, ` (${formatCount(totalErrors(groups))}${d.errorsComplete ? '' : '+'})`)),
    d.errorsComplete ? null : h('p', { class: 'hint' }, 'Not every error was recorded: the counts are a lower bound.'),
    groups.length
      ? groups.map((g) => errorGroup(g, d.errorsComplete))
      : h('p', { class: 'ok-note' }, h('span', { 'aria-hidden': 'true' }, '✓ '), 'No row errors.'),
  );
}

function timelineView(t: Timeline, now: number): HTMLElement[] {
  const g = timelineGeometry(t, now);
  const failed = t.status !== 'RUNNING' && t.status !== 'SUCCEEDED';
  const head = h(
    'p',
    null,
    'Execution ',
    h('strong', { class: failed ? 'bad' : '' }, t.status.replace('_', ' ')),
    ', started ',
    time(t.startedAt),
    t.stoppedAt ? [', stopped ', time(t.stoppedAt)] : ' and still running',
    ` (${formatDuration(g.totalSeconds)}).`,
  );
  if (g.bars.length === 0) return [head, h('p', null, 'No states entered yet.')];
  const chart = h(
    'div',
    { class: 'tl', 'aria-hidden': 'true' },
    g.bars.map((b) =>
      h(
        'div',
        { class: `tl-row${b.failed ? ' tl-failed' : ''}`, 'data-testid': 'timeline-state', 'data-status': b.status, 'data-name': b.name },
        h(
          'div',
          { class: 'tl-label' },
          h('span', { class: 'tl-name' }, b.failed ? '✕ ' : '', b.name),
          h('span', { class: 'tl-meta' }, barText(b)),
        ),
        h(
          'div',
          { class: 'tl-track' },
          (() => {
            const bar = h('div', { class: `tl-bar tl-${b.status}`, title: `${b.name}: ${barText(b)}` });
            bar.style.left = `${b.left}%`;
            bar.style.width = `${b.width}%`;
            return bar;
          })(),
        ),
        b.error ? h('p', { class: 'tl-error' }, b.error) : null,
      ),
    ),
    h(
      'div',
      { class: 'tl-axis' },
      h('div', null),
      h(
        'div',
        { class: 'tl-ticks' },
        g.ticks.map((k) => {
          const el = h('span', null, k.label);
          el.style.left = `${k.at}%`;
          el.style.transform = `translateX(${k.at < 5 ? 0 : k.at > 95 ? -100 : -50}%)`;
          return el;
        }),
      ),
    ),
  );
  const table = h(
    'table',
    null,
    h('caption', null, 'Execution states in the order they were entered'),
    h('thead', null, h('tr', null, ['State', 'Entered', 'Duration', 'Status', 'Error'].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      null,
      g.bars.map((b) =>
        h(
          'tr',
          null,
          h('th', { scope: 'row' }, b.name),
          h('td', null, time(b.enteredAt)),
          h('td', null, b.open ? `running for ${formatDuration(b.seconds)}` : formatDuration(b.seconds)),
          h('td', null, b.status.replace('_', ' ')),
          h('td', null, b.error ?? ''),
        ),
      ),
    ),
  );
  // A table cannot shrink below its content, so the hiding is done by a wrapper.
  return [head, chart, h('div', { class: 'sr-only' }, table)];
}

export function importPage(ctx: Ctx, view: HTMLElement, executionName: string): void {
  const timeline = h('div', { 'aria-busy': 'true' }, loading('Loading the timeline…'));
  const body = h('div', { 'aria-busy': 'true' }, loading('Loading the import…'));
  const title = h('h1', { tabindex: '-1' }, executionName);
  fill(
    view,
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: '#/' }, 'Imports'), ' › ', executionName),
    title,
    body,
  );

  let running = false;
  const loadTimeline = async (): Promise<void> => {
    try {
      const t = await ctx.api.timeline(executionName);
      if (!view.isConnected) return;
      if (running && t.status !== 'RUNNING') {
        importPage(ctx, view, executionName); // it just ended: the summary changed too
        return;
      }
      running = t.status === 'RUNNING';
      fill(timeline, timelineView(t, Date.now()));
      if (running) setTimeout(() => void loadTimeline(), 5000);
    } catch (e) {
      fill(timeline, h('p', { class: 'hint', 'data-testid': 'timeline-unavailable' }, 'Timeline unavailable: ', e instanceof Error ? e.message : String(e)));
    } finally {
      timeline.setAttribute('aria-busy', 'false');
    }
  };

  const tl = loadTimeline();
  ctx.api.importDetail(executionName).then(
    (d) => {
      if (d.executionName) ctx.files.set(d.executionName, d.sourceKey);
      fill(title, d.sourceKey, ' ', badge(d.status));
      document.title = `${d.sourceKey} · userlog`;
      fill(
        body,
        summary(d),
        redrive(ctx, d),
        h('section', { 'aria-labelledby': 'timeline-title' }, h('h2', { id: 'timeline-title' }, 'Execution timeline'), timeline),
        rowErrors(d),
      );
      body.setAttribute('aria-busy', 'false');
      return tl;
    },
    (e) => {
      if (handleAuth(ctx, view, e)) return;
      body.setAttribute('aria-busy', 'false');
      fill(body, errorPanel(`Could not load the import ${executionName}.`, e, h('p', null, h('a', { href: '#/' }, 'Back to the imports'))));
    },
  );
}
