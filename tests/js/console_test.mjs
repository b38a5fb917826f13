// The marketing console (/console/) in a real browser: Debian's Chromium,
// driven by playwright-core, against a real loyaltyd process (--demo, ports
// 0, a temporary data folder). Every step checks what the page shows against
// what the JSON API itself answers, and saves a screenshot of each screen.
//
//   node tests/js/console_test.mjs --binary build/server/loyaltyd --out DIR
//
// --web web/console serves the page's files from that folder instead of the
// copy built into the binary, to try a change of the page without a rebuild.
//
// Prints one line per step and closes with "N passed, N failed"; exits 1 when
// a step failed. Every wait is bounded (Playwright's at WAIT_MS) and the whole
// run by RUN_MS_MAX, after which the server and the browser are killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const WAIT_MS = 10_000;            // any one Playwright wait or action
const START_MS_MAX = 15_000;       // loyaltyd writing its port file
const STOP_MS_MAX = 5_000;         // SIGTERM to exit, before SIGKILL
const RUN_MS_MAX = 60_000;         // the whole run, then everything is killed
const CHROMIUM = '/usr/bin/chromium';
const DESKTOP = { width: 1280, height: 900 };
const TABLET = { width: 820, height: 1180 };
const ADMIN = 'demo-admin';
const MEMBER = 'demo-member-m-0001';
const TERMINAL = 'demo-terminal-store-1';
const LOCALE = 'en-US';            // the page formats with the browser's locale

const { values: args } = parseArgs({ options: { binary: { type: 'string' }, out: { type: 'string' }, web: { type: 'string' } } });
if (!args.binary || !args.out) {
  console.error('usage: node console_test.mjs --binary PATH/loyaltyd --out SCREENSHOT_DIR');
  process.exit(2);
}
// What the test needs besides the server, named when missing.
const chromium = await import('playwright-core').then((m) => m.chromium, () => {
  console.error('console_test: no playwright-core in tests/js/node_modules: run tests/js/install.sh');
  process.exit(2);
});
if (!existsSync(CHROMIUM)) {
  console.error(`console_test: no ${CHROMIUM}: apt-get install chromium (deploy/install-deps.sh --test)`);
  process.exit(2);
}
mkdirSync(args.out, { recursive: true });
for (const f of readdirSync(args.out)) if (f.endsWith('.png')) rmSync(join(args.out, f));   // no picture of an older run

const fmt = (n) => new Intl.NumberFormat(LOCALE).format(Number(n));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const digits = (s) => Number(String(s).replace(/[^0-9-]/g, ''));

// ------------------------------------------------------------ the server

const dataRoot = mkdtempSync(join(tmpdir(), 'console-test-'));
const portFile = join(dataRoot, 'http.port');
let server = null;
let serverLog = '';

async function startServer() {
  server = spawn(args.binary, ['--demo', '--data_dir', join(dataRoot, 'data'), '--grpc_listen', '127.0.0.1:0',
    '--http_listen', '127.0.0.1:0', '--http_port_file', portFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (b) => { serverLog = (serverLog + b.toString()).slice(-20_000); };
  server.stdout.on('data', keep);
  server.stderr.on('data', keep);
  const deadline = Date.now() + START_MS_MAX;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`loyaltyd exited with ${server.exitCode} before serving`);
    if (existsSync(portFile)) {
      const port = Number(readFileSync(portFile, 'utf8').trim());
      if (port > 0) return port;
    }
    await sleep(50);
  }
  throw new Error(`loyaltyd wrote no port file within ${START_MS_MAX} ms`);
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const inTime = await Promise.race([exited.then(() => true), sleep(STOP_MS_MAX).then(() => false)]);
  if (!inTime) {
    console.error(`loyaltyd did not exit within ${STOP_MS_MAX} ms of SIGTERM: SIGKILL`);
    server.kill('SIGKILL');
    await Promise.race([exited, sleep(STOP_MS_MAX)]);
  }
}

let base = '';
async function api(method, path, token, body) {
  const r = await fetch(base + path, {
    method, signal: AbortSignal.timeout(WAIT_MS),
    headers: { Authorization: 'Bearer ' + token, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { http: r.status, json: text ? JSON.parse(text) : null };
}
async function ok(method, path, token, body) {
  const r = await api(method, path, token, body);
  assert.equal(r.http, 200, `${method} ${path}: HTTP ${r.http} ${JSON.stringify(r.json)}`);
  return r.json;
}

// A few sales by card, so that the figures, the dry run and the member
// history have something to show: m-0003 visits twice (a move up the
// ladder), m-0004 spends past Silver's 500.00.
async function seedActivity() {
  const now = new Date().toISOString();
  const sales = [
    ['x1', '4000000000000001', [['latte', 'coffee', 2, 350]]],
    ['x2', '4000000000000002', [['croissant', 'bakery', 3, 150]]],
    ['x3', '4000000000000003', [['beans', 'coffee', 1, 1200]]],
    ['x4', '4000000000000003', [['latte', 'coffee', 1, 300]]],
    ['x5', '4000000000000004', [['hamper', 'gifts', 1, 60000]]],
  ];
  for (const [tx, card, lines] of sales) {
    const total = lines.reduce((s, [, , q, p]) => s + q * p, 0);
    await ok('POST', '/v1/sales', TERMINAL, {
      ref: { store_id: 'store-1', terminal_id: 't1', transaction_id: tx }, occurred_at: now,
      member: { card_number: card }, currency: 'EUR', total_minor: String(total),
      lines: lines.map(([sku, category, quantity, price]) => ({ sku, category, quantity, unit_price_minor: String(price) })),
    });
  }
}

// ------------------------------------------------------------ the steps

const results = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push(true);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push(false);
    console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${String(e && e.stack || e).split('\n').slice(0, 6).join('\n     ')}`);
    if (page) {
      // What the page said, and a picture of it, to tell why.
      const said = await page.evaluate(() => ['status', 'login-error', 'program-error', 'member-error', 'adjust-error']
        .map((id) => [id, document.getElementById(id)?.textContent]).filter(([, t]) => t)).catch(() => []);
      for (const [id, t] of said) console.log(`     #${id}: ${t}`);
      await page.screenshot({ path: join(args.out, `failed-step-${results.length}.png`), fullPage: true, timeout: WAIT_MS }).catch(() => {});
    }
  }
}

let browser = null;
let page = null;
const pageProblems = [];

const noHorizontalScroll = () => page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
// Saves a picture of the whole page; every screen fits its width.
async function shot(name) {
  const { scroll, inner } = await noHorizontalScroll();
  assert.ok(scroll <= inner, `${name}: the page scrolls sideways, ${scroll} > ${inner} px`);
  await page.screenshot({ path: join(args.out, name + '.png'), fullPage: true, timeout: WAIT_MS });
}
async function goTo(screen) {
  await page.click(`nav a[href="#${screen}"]`);
  await page.waitForFunction((s) => location.hash === '#' + s && !document.getElementById(s).hidden, screen);
}
const text = (sel) => page.locator(sel).innerText();
const tableRows = (sel) => page.$$eval(`${sel} tbody tr`, (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));
// Clicks "Dry run" and returns the request it sent.
async function clickDryRun() {
  const sent = page.waitForRequest((r) => r.url().endsWith('/v1/dry-runs') && r.method() === 'POST', { timeout: 3_000 });
  await page.click('#dry-run');
  try {
    return await sent;
  } catch (e) {
    throw new Error('the click on "Dry run" sent no dry run within 3 s (did the page move under the pointer?)');
  }
}
const setDraftInput = async (path, value) => {
  const input = page.locator(`#program-form [data-path="${path}"]`);
  await input.fill(value);
  return input;
};

async function main() {
  const port = await startServer();
  base = `http://127.0.0.1:${port}`;
  await seedActivity();

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'], timeout: WAIT_MS });
  const context = await browser.newContext({ viewport: DESKTOP, locale: LOCALE, timezoneId: 'UTC' });
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  page = await context.newPage();
  if (args.web) {
    await page.route((url) => url.pathname.startsWith('/console/') && url.pathname !== '/console/chart.min.js', async (route) => {
      const name = new URL(route.request().url()).pathname.slice('/console/'.length) || 'index.html';
      const type = { html: 'text/html', js: 'text/javascript', css: 'text/css' }[name.split('.').pop()] || 'application/octet-stream';
      route.fulfill({ body: readFileSync(join(args.web, name)), contentType: type + '; charset=utf-8' });
    });
  }
  page.on('pageerror', (e) => pageProblems.push('page error: ' + e.message));
  // "Failed to load resource" errors are left to the response check below.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageProblems.push('console error: ' + m.text());
  });
  page.on('requestfailed', (r) => pageProblems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  // Only two refusals are expected: the member credential's (403) and the
  // draft with Gold below Silver (400).
  const expected = [[403, 'GET', '/v1/program'], [400, 'POST', '/v1/dry-runs']];
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (r.status() >= 400 && !expected.some(([code, method, p]) => code === r.status() && method === r.request().method() && p === path)) {
      pageProblems.push(`HTTP ${r.status()} ${r.request().method()} ${path}`);
    }
  });

  await step('sign-in: Tab reaches the credential input and the button; a member credential is refused in words', async () => {
    await page.goto(base + '/console/');
    await page.waitForFunction(() => typeof Chart === 'function');
    assert.equal(await page.locator('#login').isVisible(), true, 'the sign-in form is shown');
    assert.equal(await page.locator('#nav').isVisible(), false, 'the navigation is hidden before signing in');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'token', 'first Tab focuses #token');
    await page.keyboard.type(MEMBER);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.matches('#login-form button[type=submit]')), true,
                 'second Tab focuses the sign-in button');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('login-error').textContent.trim() !== '');
    const refusal = await text('#login-error');
    assert.match(refusal, /not an admin credential/i);
    assert.match(refusal, /member/i);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused credential is not kept');
    assert.equal(await page.locator('#nav').isVisible(), false, 'still signed out');
    await shot('01-sign-in-refused');
  });

  await step('sign-in: the admin credential opens the overview', async () => {
    await page.fill('#token', ADMIN);
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => location.hash === '#overview' && !document.getElementById('overview').hidden);
    assert.equal(await text('#login-error'), '');
    assert.equal(await page.locator('#login').isVisible(), false, 'the sign-in form is gone');
    assert.equal(await page.locator('#nav').isVisible(), true);
  });

  await step('overview: KPIs, numbers tables and charts hold the server\'s figures', async () => {
    await page.waitForSelector('#kpi-members');
    await page.waitForFunction(() => ['chart-tiers', 'chart-stages', 'chart-liability'].every((id) => Chart.getChart(document.getElementById(id))));
    const figures = await ok('GET', '/v1/figures', ADMIN);
    const program = await ok('GET', '/v1/program', ADMIN);
    assert.ok(Number(figures.events) > 10, 'the seeded sales are in the figures');
    assert.equal(await text('#kpi-members'), fmt(figures.members));
    assert.equal(await text('#kpi-available'), fmt(figures.available_points));
    assert.equal(await text('#kpi-pending'), fmt(figures.pending_points));

    const perTier = program.tiers.map((t) => [t.name, Number(figures.members_per_tier[t.name] || 0)]);
    const perStage = program.stages.map((s) => [s.name, Number(figures.members_per_stage[s.name] || 0)]);
    assert.ok(perTier.some(([n, c]) => n === 'Silver' && c === 1), 'm-0004 is Silver in the figures');
    assert.deepEqual(await tableRows('#numbers-tiers'), perTier.map(([n, c]) => [n, String(c)]));
    assert.deepEqual(await tableRows('#numbers-stages'), perStage.map(([n, c]) => [n, String(c)]));

    const drawn = await page.evaluate(() => Object.fromEntries(['chart-tiers', 'chart-stages', 'chart-liability', 'chart-moves', 'chart-offers'].map((id) => {
      const c = Chart.getChart(document.getElementById(id));
      return [id, { labels: c.data.labels, data: c.data.datasets.map((d) => d.data), width: c.width, height: c.height }];
    })));
    assert.deepEqual(drawn['chart-tiers'].labels, perTier.map(([n]) => n));
    assert.deepEqual(drawn['chart-tiers'].data[0], perTier.map(([, c]) => c));
    assert.deepEqual(drawn['chart-stages'].labels, perStage.map(([n]) => n));
    assert.deepEqual(drawn['chart-stages'].data[0], perStage.map(([, c]) => c));
    assert.deepEqual(drawn['chart-liability'].data[0], [Number(figures.available_points), Number(figures.pending_points)]);
    assert.deepEqual(drawn['chart-offers'].labels, figures.offers.map((o) => o.offer_id));
    assert.deepEqual(drawn['chart-offers'].data[1], figures.offers.map((o) => Number(o.used)));
    for (const [id, c] of Object.entries(drawn)) {
      assert.ok(c.width > 100 && c.height > 100 && c.height <= 400, `${id} has a readable size, got ${c.width}x${c.height}`);
    }
    // Something was painted on the tier chart (not a blank canvas).
    const painted = await page.evaluate(() => {
      const cv = document.getElementById('chart-tiers');
      const px = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
      return n;
    });
    assert.ok(painted > 1000, `the tier chart is painted (${painted} pixels)`);
    await shot('02-overview');
  });

  let draft = null;          // the program of step 3, as the test builds it
  let publishedVersion = null;
  await step('program: lowering Silver\'s minimum spend, the dry run agrees with the API\'s own dry run', async () => {
    await goTo('program');
    const program = await ok('GET', '/v1/program', ADMIN);
    assert.equal(program.tiers[1].name, 'Silver');
    const input = page.locator('#program-form [data-path="tiers[1].min_spend_minor"]');
    assert.equal(await input.inputValue(), (Number(program.tiers[1].min_spend_minor) / 100).toFixed(2), 'money is shown in major units');
    assert.match(await text('#program-version'), new RegExp(`version ${program.version}\\b`));
    assert.equal(await page.locator('#publish').isDisabled(), true, 'publish waits for a dry run');
    const proof = page.locator('#program-form [data-path="till_proof"]');
    assert.equal(program.till_proof, 'TILL_PROOF_APP_CODE', 'the demo takes the app\'s till code');
    assert.equal(await proof.inputValue(), program.till_proof, 'the proof at the till is shown as the program has it');
    assert.equal(await proof.locator('option:checked').textContent(), 'app code');

    draft = structuredClone(program);
    draft.tiers[1].min_spend_minor = '500';
    const mine = await ok('POST', '/v1/program:dry-run', ADMIN, { program: draft, expected_version: program.version });
    assert.ok(Number(mine.members_changing_tier) > 0, 'the change moves someone (else the comparison proves little)');

    // A first try at 6.00, then 5.00: a user edits after a dry run and runs
    // it again. Each click on "Dry run" blurs the input, whose change event
    // runs first.
    await setDraftInput('tiers[1].min_spend_minor', '6.00');
    await clickDryRun();
    await page.waitForSelector('#dry-run-report:not([hidden]) #dry-run-summary');
    await setDraftInput('tiers[1].min_spend_minor', '5.00');
    const request = await clickDryRun();
    assert.deepEqual(request.postDataJSON(), { program: draft, expected_version: program.version },
                     'the page sends the draft with only Silver\'s minimum spend changed');
    await page.waitForSelector('#dry-run-report:not([hidden]) #dry-run-summary');
    // The page followed the job (POST /v1/dry-runs, then GET /v1/dry-runs/{id}) to its end.
    assert.equal(await page.locator('#dry-run-progress').evaluate((p) => p.value), 1, 'the progress bar is full');
    assert.match(await text('#dry-run-progress-text'), /^100% \(pass 2 of 2\)$/);
    const summary = await text('#dry-run-summary');
    const m = /^([\d,]+) members, ([\d,]+) events replayed: ([\d,]+) would change tier, ([\d,]+) would change stage\.$/.exec(summary);
    assert.ok(m, `summary in the expected words: ${summary}`);
    assert.deepEqual(m.slice(1).map(digits), [mine.members, mine.events_replayed, mine.members_changing_tier ?? 0, mine.members_changing_stage ?? 0].map(Number));
    const liability = await text('#dry-run-liability');
    assert.equal(liability, `Points liability ${fmt(mine.liability_points_before ?? 0)} → ${fmt(mine.liability_points_after ?? 0)}.`);
    for (const move of mine.tier_moves || []) {
      assert.match(await text('#dry-run-report'), new RegExp(`${move.from_name}\\s+${move.to_name}\\s+${move.members}`));
    }
    assert.equal(await page.locator('#publish').isEnabled(), true, 'publish is offered after the dry run');
    await shot('03-program-dry-run');
  });

  await step('program: publish makes a new version with only that change', async () => {
    const before = await ok('GET', '/v1/program', ADMIN);
    assert.equal(await page.locator('#publish').isEnabled(), true, 'Publish is offered (the dry run of this draft came first)');
    await page.click('#publish');
    await page.waitForFunction(() => /Published version \d+/.test(document.getElementById('status').textContent));
    const after = await ok('GET', '/v1/program', ADMIN);
    publishedVersion = after.version;
    assert.equal(Number(after.version), Number(before.version) + 1);
    assert.equal(after.tiers[1].min_spend_minor, '500');
    assert.match(await text('#status'), new RegExp(`Published version ${after.version}\\.`));
    assert.match(await text('#program-version'), new RegExp(`version ${after.version}\\b`));
    const strip = (p) => { const { version, published_at, published_by, ...rest } = p; return rest; };
    assert.deepEqual(strip(after), strip(draft), 'the published program is the dry-run draft');
    assert.equal(await page.locator('#publish').isDisabled(), true);
  });

  await step('history: the new version, its author as the audit names it, the diff in words', async () => {
    await goTo('history');
    const audit = await ok('GET', '/v1/audit?limit=100', ADMIN);
    const entry = audit.entries.find((e) => String(e.version) === String(publishedVersion));
    assert.ok(entry, 'the audit lists the published version');
    assert.ok(entry.author && entry.author !== 'loyaltyd', `the author is the admin's credential, got ${entry.author}`);
    await page.waitForFunction((v) => [...document.querySelectorAll('#versions tbody tr')].some((tr) => tr.cells[0].textContent === String(v)), publishedVersion);
    const rows = await tableRows('#versions');
    assert.equal(rows.length, audit.entries.length);
    const row = rows.find((r) => r[0] === String(publishedVersion));
    assert.equal(row[2], entry.author, 'the page shows the audit\'s author');
    assert.equal(row[3], entry.summary ?? '');
    // By default the two newest versions are compared, older → newer.
    const previous = String(Number(publishedVersion) - 1);
    assert.equal(await page.locator('#diff-from').inputValue(), previous, 'compare from the previous version');
    assert.equal(await page.locator('#diff-to').inputValue(), String(publishedVersion), 'compare with the newest version');
    await page.click('#diff-show');
    await page.waitForSelector('#diff li');
    const lines = await page.$$eval('#diff li', (lis) => lis.map((li) => li.textContent));
    assert.equal(lines.length, 1, `one difference, got ${JSON.stringify(lines)}`);
    assert.match(lines[0], /^Silver: minimum spend €500\.00 → €5\.00$/);
    await shot('04-history-diff');
  });

  await step('program: Gold below Silver is refused beside its field, nothing published', async () => {
    const before = await ok('GET', '/v1/program', ADMIN);
    const bad = structuredClone(before);
    bad.tiers[2].min_spend_minor = '100';
    const refused = await api('POST', '/v1/program:dry-run', ADMIN, { program: bad, expected_version: before.version });
    assert.equal(refused.http, 400);
    const m = /^program\.tiers\[2\]\.min_spend_minor: (.+)$/.exec(refused.json.message);
    assert.ok(m, `the server names the field: ${refused.json.message}`);
    const reason = m[1];

    await goTo('program');
    const input = await setDraftInput('tiers[2].min_spend_minor', '1.00');
    const request = await clickDryRun();
    assert.deepEqual(request.postDataJSON(), { program: bad, expected_version: before.version },
                     'the page sends the published program with only Gold\'s minimum spend changed');
    await page.waitForSelector('.field-error');
    const note = await input.evaluate((i) => {
      const errors = [...document.querySelectorAll('.field-error')];
      return { count: errors.length, inParent: errors.length === 1 && i.parentElement.contains(errors[0]), text: errors[0]?.textContent,
               invalid: i.getAttribute('aria-invalid'), describedBy: i.getAttribute('aria-describedby'), noteId: errors[0]?.id,
               focused: document.activeElement === i };
    });
    assert.equal(note.count, 1, 'one field error');
    assert.equal(note.inParent, true, 'the error sits beside the input (in its parent)');
    assert.equal(note.text, reason, 'the server\'s reason, word for word');
    assert.equal(note.invalid, 'true');
    assert.equal(note.describedBy, note.noteId, 'the input is described by its error');
    assert.equal(note.focused, true, 'the refused input gets the focus');
    assert.match(await text('#program-error'), /Nothing was published/);
    assert.equal(await page.locator('#dry-run-report').isVisible(), false);
    assert.equal(await page.locator('#publish').isDisabled(), true);
    const after = await ok('GET', '/v1/program', ADMIN);
    assert.equal(after.version, before.version, 'the version is unchanged');
    assert.equal(after.tiers[2].min_spend_minor, before.tiers[2].min_spend_minor);
    await shot('05-program-refused-field');
  });

  await step('member desk: m-0002 by card, its balance, +25 goodwill lands in history and balance', async () => {
    await goTo('members');
    const before = await ok('GET', '/v1/members/m-0002', ADMIN);
    await page.fill('#member-query', '4000000000000002');
    await page.click('#member-search button[type=submit]');
    await page.waitForSelector('#member:not([hidden])');
    assert.match(await text('#member-name'), /\(m-0002\)/);
    const facts = async () => Object.fromEntries(await page.$$eval('#member-facts dt', (dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
    assert.equal((await facts())['Available points'], fmt(before.balance.available_points ?? 0));
    assert.equal((await facts())['Pending points'], fmt(before.balance.pending_points ?? 0));
    assert.equal((await facts())['Tier'], before.tier.current_tier);
    assert.ok((await tableRows('#member-history')).every((r) => !r.join(' ').includes('goodwill')));

    await page.fill('#adjust-points', '25');
    await page.fill('#adjust-reason', 'goodwill');
    await page.click('#adjust-form button[type=submit]');
    await page.waitForFunction(() => [...document.querySelectorAll('#member-history tbody tr')].some((tr) => tr.textContent.includes('goodwill')));
    assert.equal(await text('#adjust-error'), '');
    const entry = (await tableRows('#member-history')).find((r) => r[3].includes('goodwill'));
    assert.equal(digits(entry[2]), 25, `the entry's points: ${entry}`);
    const after = await ok('GET', '/v1/members/m-0002', ADMIN);
    assert.equal(Number(after.balance.available_points ?? 0), Number(before.balance.available_points ?? 0) + 25);
    assert.equal((await facts())['Available points'], fmt(after.balance.available_points));
    assert.equal(await page.locator('#adjust-points').inputValue(), '', 'the form is cleared');
    await shot('06-member-desk');
  });

  await step('tablet width (820x1180): no horizontal scroll on overview and program', async () => {
    await page.setViewportSize(TABLET);
    await goTo('overview');
    await page.waitForFunction(() => Chart.getChart(document.getElementById('chart-tiers')));
    await sleep(200);                      // Chart.js resizes on the next animation frame
    const o = await noHorizontalScroll();
    assert.ok(o.scroll <= o.inner, `overview scrolls sideways: ${o.scroll} > ${o.inner}`);
    await shot('07-tablet-overview');
    await goTo('program');
    const p = await noHorizontalScroll();
    assert.ok(p.scroll <= p.inner, `program scrolls sideways: ${p.scroll} > ${p.inner}`);
    await shot('08-tablet-program');
    await page.setViewportSize(DESKTOP);
  });

  await step('no JavaScript error, failed request or server error during the run', async () => {
    assert.deepEqual(pageProblems, []);
  });
}

// However the run ends (a signal from ctest's timeout too), loyaltyd ends.
process.on('exit', () => { if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL'); });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { console.error(`console_test: ${signal}`); process.exit(1); });

const watchdog = setTimeout(() => {
  console.log(`FAIL the whole run took over ${RUN_MS_MAX} ms: stopped`);
  server?.kill('SIGKILL');
  rmSync(dataRoot, { recursive: true, force: true });
  console.log(`${results.filter(Boolean).length} passed, ${results.filter((r) => !r).length + 1} failed`);
  process.exit(1);
}, RUN_MS_MAX);

const t0 = Date.now();
try {
  await main();
} catch (e) {
  results.push(false);
  console.log('FAIL setup: ' + (e && e.stack || e));
} finally {
  await browser?.close().catch(() => {});
  await stopServer();
  clearTimeout(watchdog);
  if (results.includes(false)) console.log('--- loyaltyd log (tail) ---\n' + serverLog.slice(-4000));
  rmSync(dataRoot, { recursive: true, force: true });
}
const passed = results.filter(Boolean).length;
const failed = results.length - passed;
console.log(`screenshots in ${args.out} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
