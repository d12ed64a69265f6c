// Browser check of the built dashboard against a running API, as a person would see it after the demo.
//
// Env: DASHBOARD_URL (required, e.g. http://127.0.0.1:8082/), TOKEN (required, a valid bearer token),
// EXPIRED_TOKEN (required, one the API answers 401 to), EXPECT_USER (default U00001),
// EXPECT_FAILED_KEY (part of the failed import's key, default activity-invalid),
// EXPECT_SUCCEEDED_KEYS (comma-separated parts of the succeeded ones' keys, default
// activity-clean,activity-row-errors),
// SCREENSHOT (optional PNG path of the imports page), CHROMIUM (default /usr/bin/chromium),
// WAIT_MS (default 5000, per wait). Prints `ok - ...` / `not ok - ...`; exits 1 on any failure.
import { chromium } from 'playwright-core';

const env = process.env;
const missing = ['DASHBOARD_URL', 'TOKEN', 'EXPIRED_TOKEN'].filter((k) => !env[k]);
if (missing.length) {
  console.error(`browser.mjs: set ${missing.join(', ')} (see the comment at the top of tests/browser.mjs)`);
  process.exit(2);
}
const base = env.DASHBOARD_URL.replace(/#.*$/, '');
const WAIT = Number(env.WAIT_MS ?? 5000);
const USER = env.EXPECT_USER || 'U00001';
const FAILED_KEY = env.EXPECT_FAILED_KEY || 'activity-invalid';
const SUCCEEDED_KEYS = (env.EXPECT_SUCCEEDED_KEYS || 'activity-clean,activity-row-errors').split(',').filter(Boolean);
const at = (fragment) => `${base}${fragment}`;

let failures = 0;
let passes = 0;
const ok = (name) => {
  passes++;
  console.log(`ok - ${name}`);
};
const notOk = (name, why) => {
  failures++;
  console.log(`not ok - ${name}: ${why}`);
};
/** Runs one check; an exception (a wait that timed out, ...) fails it with its first line. */
async function check(name, fn) {
  try {
    const why = await fn();
    if (typeof why === 'string') notOk(name, why);
    else ok(name);
  } catch (e) {
    notOk(name, String(e?.message ?? e).split('\n')[0]);
  }
}
/** What the page shows instead, for failure messages. */
async function seen(page) {
  const text = await page.locator('main').innerText({ timeout: 1000 }).catch(() => '(no main)');
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}

let browser;
try {
  browser = await chromium.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
} catch (e) {
  console.log(`not ok - launch Chromium: ${String(e?.message ?? e).split('\n')[0]}`);
  process.exit(1);
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));

  // (a) The imports page, signed in through the fragment.
  let failed = null;
  await check('imports page lists the three demo uploads', async () => {
    await page.goto(at(`#token=${encodeURIComponent(env.TOKEN)}`), { timeout: WAIT });
    const rows = page.getByTestId('import-row');
    // Three rows, or whatever the page shows instead (an error, the sign-in panel).
    const shown = rows.nth(2).or(page.getByTestId('error')).or(page.getByTestId('sign-in'));
    await shown.first().waitFor({ timeout: WAIT }).catch(() => {});
    if ((await rows.count()) < 3) return `fewer than 3 import rows; the page shows: ${await seen(page)}`;
    const all = await rows.evaluateAll((trs) =>
      trs.map((tr) => ({
        status: tr.dataset.status,
        key: tr.dataset.sourceKey,
        execution: tr.dataset.executionName,
        href: tr.querySelector('a')?.getAttribute('href') ?? null,
      })),
    );
    failed = all.find((r) => /failed|rejected/.test(r.status) && r.key.includes(FAILED_KEY)) ?? null;
    const lacking = [];
    if (!failed) lacking.push(`a failed or rejected import of ${FAILED_KEY}`);
    for (const name of SUCCEEDED_KEYS) {
      if (!all.some((r) => r.status === 'succeeded' && r.key.includes(name))) lacking.push(`a succeeded import of ${name}`);
    }
    if (lacking.length) {
      const list = all.slice(0, 8).map((r) => `${r.status} ${r.key}`).join('; ');
      return `missing ${lacking.join('; ')} among ${all.length} rows (${list})`;
    }
  });
  await check('the token is gone from the address bar', async () => {
    const url = page.url();
    if (url.includes('token=') || url.includes(env.TOKEN)) return `the URL still holds it: ${url.slice(0, 80)}…`;
  });
  await check('the health line shows the API and database ok', async () => {
    const health = page.getByTestId('health');
    await page.locator('[data-testid="health"][data-state="ok"]').waitFor({ timeout: WAIT }).catch(() => {});
    const state = await health.getAttribute('data-state', { timeout: WAIT });
    if (state !== 'ok') return `health is ${state}: ${await health.innerText()}`;
  });
  if (env.SCREENSHOT) {
    await check(`screenshot of the imports page saved to ${env.SCREENSHOT}`, async () => {
      await page.screenshot({ path: env.SCREENSHOT, fullPage: true, timeout: WAIT });
    });
  }

  // (b) The failed import's page.
  await check('the failed import shows BadCount, the redrive command and a timeline', async () => {
    if (!failed) return `no failed ${FAILED_KEY} import to open (see above)`;
    if (!failed.href) return `the row of ${failed.key} has no link (no execution name)`;
    await page.locator(`[data-testid="import-row"] a[href="${failed.href}"]`).first().click({ timeout: WAIT });
    const lacking = [];
    try {
      await page.locator('[data-testid="error-group"][data-code="BadCount"]').waitFor({ timeout: WAIT });
    } catch {
      const codes = await page.getByTestId('error-group').evaluateAll((g) => g.map((x) => x.dataset.code));
      lacking.push(`no BadCount error group (groups: ${codes.join(', ') || 'none'})`);
    }
    const redrive = page.getByTestId('redrive-command');
    const cmd = await redrive.innerText({ timeout: WAIT }).catch(() => null);
    const wanted = `cargo xtask redrive ${failed.execution} --env `;
    if (cmd === null) lacking.push('no redrive command');
    else if (!cmd.startsWith(wanted)) lacking.push(`redrive command is "${cmd}", not "${wanted}<env>"`);
    try {
      await page.getByTestId('timeline-state').first().waitFor({ timeout: WAIT });
    } catch {
      const why = await page.getByTestId('timeline-unavailable').innerText({ timeout: 500 }).catch(() => 'nothing shown');
      lacking.push(`no timeline state (${why})`);
    }
    if (lacking.length) return `${lacking.join('; ')}; the page shows: ${await seen(page)}`;
  });

  // (c) The user page.
  await check(`the user page of ${USER} shows numeric login and post counts`, async () => {
    await page.goto(at(`#/users/${encodeURIComponent(USER)}`), { timeout: WAIT });
    const counts = [];
    for (const id of ['login-count', 'post-count']) {
      const el = page.getByTestId(id);
      await el.or(page.getByTestId('error')).or(page.getByTestId('sign-in')).first().waitFor({ timeout: WAIT }).catch(() => {});
      if ((await el.count()) === 0) return `no ${id}; the page shows: ${await seen(page)}`;
      const text = (await el.innerText()).trim();
      if (!/^\d[\d,]*$/.test(text)) return `${id} is "${text}", not a number`;
      counts.push(`${id} ${text}`);
    }
    console.log(`# ${USER}: ${counts.join(', ')}`);
  });

  for (const p of problems) console.log(`# ${p}`);
  await context.close();

  // (d) Without a usable token: the sign-in panel, never a blank page.
  await check('without a token the sign-in panel shows', async () => {
    const ctx = await browser.newContext();
    try {
      const p = await ctx.newPage();
      await p.goto(at('#/'), { timeout: WAIT });
      await p.locator('[data-testid="sign-in"][data-reason="missing"]').waitFor({ timeout: WAIT });
    } finally {
      await ctx.close();
    }
  });
  await check('with an expired token the sign-in panel shows (the API answers 401)', async () => {
    const ctx = await browser.newContext();
    try {
      const p = await ctx.newPage();
      await p.goto(at(`#token=${encodeURIComponent(env.EXPIRED_TOKEN)}`), { timeout: WAIT });
      const panel = p.locator('[data-testid="sign-in"]');
      try {
        await panel.waitFor({ timeout: WAIT });
      } catch {
        return `no sign-in panel; the page shows: ${await seen(p)}`;
      }
      if ((await panel.getAttribute('data-reason')) !== 'rejected') {
        return 'the panel shows, but not because the API refused the token';
      }
      const detail = await p.getByTestId('sign-in-detail').innerText().catch(() => '');
      if (detail) console.log(`# ${detail.trim()}`);
    } finally {
      await ctx.close();
    }
  });
} finally {
  await browser.close();
}

console.log(`${passes} passed, ${failures} failed`);
if (failures) {
  console.error(`browser.mjs: ${failures} check(s) failed against ${base}`);
  process.exit(1);
}
