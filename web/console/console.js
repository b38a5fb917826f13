// The marketing console: a page of loyaltyd's that calls only the public
// JSON API (/v1/...), with the admin credential the user enters once. The
// credential lives in sessionStorage (this tab) and goes out as the
// Authorization header: no cookie, so no cross-site request forgery.
//
// Screens (the URL's hash): #overview, #program, #history, #members.
'use strict';

const TOKEN_KEY = 'loyalty.console.token';
const $ = (id) => document.getElementById(id);
const state = { program: null, base: null, draft: null, dryRunOf: null, charts: {} };

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(http, body) {
    super(body && body.message ? body.message : `HTTP ${http}`);
    this.http = http;
    this.status = body && body.status ? body.status : '';
  }
}

async function api(method, path, body) {
  const headers = { 'Authorization': 'Bearer ' + sessionStorage.getItem(TOKEN_KEY) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (!r.ok) throw new ApiError(r.status, json);
  return json;
}

// ---------------------------------------------------------------- formats

function currency() { return (state.program && state.program.currency) || 'EUR'; }
function minorPerMajor() { return Number((state.program && state.program.minor_units_per_major) || 100); }
function money(minor) {
  const major = Number(minor) / minorPerMajor();
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency() }).format(major);
}
function moneyPlain(minor) { return (Number(minor) / minorPerMajor()).toFixed(Math.round(Math.log10(minorPerMajor()))); }
function num(n) { return new Intl.NumberFormat().format(Number(n)); }
function when(ts) { return ts ? new Date(ts).toLocaleString() : ''; }
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) e.append(c);
  return e;
}
function say(text) { $('status').textContent = text; }

// ---------------------------------------------------------------- sign in

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    state.program = await api('GET', '/v1/program');
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (e.http === 403) throw new Error('This is not an admin credential (it belongs to a member or a terminal). The console needs an admin credential.');
    if (e.http === 401) throw new Error('Unknown credential: check the token.');
    throw e;
  }
}

function showApp(signedIn) {
  $('login').hidden = signedIn;
  $('nav').hidden = !signedIn;
  if (!signedIn) for (const s of document.querySelectorAll('.screen')) s.hidden = true;
}

async function route() {
  say('');
  if (!sessionStorage.getItem(TOKEN_KEY)) { showApp(false); return; }
  showApp(true);
  const screen = (location.hash || '#overview').slice(1);
  for (const s of document.querySelectorAll('.screen')) s.hidden = s.id !== screen;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.screen === screen) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  try {
    if (screen === 'overview') await showOverview();
    if (screen === 'program') await showProgram();
    if (screen === 'history') await showHistory();
  } catch (e) {
    say('Could not load: ' + e.message);
  }
}

// ---------------------------------------------------------------- overview

function table(id, head, rows) {
  const t = $(id);
  t.replaceChildren(el('thead', {}, el('tr', {}, ...head.map((h, i) => el('th', { class: i ? 'num' : '', text: h })))),
                    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c, i) => el('td', { class: i ? 'num' : '', text: String(c) }))))));
}

function chart(id, config) {
  if (state.charts[id]) state.charts[id].destroy();
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
  // Counts of members and uses: whole numbers on the axis.
  if (config.type === 'bar') config.options.scales = { y: { beginAtZero: true, ticks: { precision: 0 } } };
  state.charts[id] = new Chart($(id), config);
}

async function showOverview() {
  const [figures, program] = await Promise.all([api('GET', '/v1/figures'), api('GET', '/v1/program')]);
  state.program = program;
  const tiers = program.tiers.map((t) => t.name);
  const stages = program.stages.map((s) => s.name);
  $('kpis').replaceChildren(
    el('div', { class: 'kpi' }, 'Members', el('b', { id: 'kpi-members', text: num(figures.members) })),
    el('div', { class: 'kpi' }, 'Events', el('b', { text: num(figures.events) })),
    el('div', { class: 'kpi' }, 'Points available', el('b', { id: 'kpi-available', text: num(figures.available_points) })),
    el('div', { class: 'kpi' }, 'Points pending', el('b', { id: 'kpi-pending', text: num(figures.pending_points) })));

  const perTier = tiers.map((t) => Number(figures.members_per_tier[t] || 0));
  chart('chart-tiers', { type: 'bar', data: { labels: tiers, datasets: [{ label: 'Members', data: perTier, backgroundColor: '#1f5fbf' }] } });
  table('numbers-tiers', ['Tier', 'Members'], tiers.map((t, i) => [t, perTier[i]]));

  const perStage = stages.map((s) => Number(figures.members_per_stage[s] || 0));
  chart('chart-stages', { type: 'bar', data: { labels: stages, datasets: [{ label: 'Members', data: perStage, backgroundColor: '#1b7a3d' }] } });
  table('numbers-stages', ['Stage', 'Members'], stages.map((s, i) => [s, perStage[i]]));

  // Moves per ISO week: up the ladder and down.
  const weeks = [...new Set(figures.stage_movements.map((m) => m.week_start))].sort();
  const up = weeks.map(() => 0), down = weeks.map(() => 0);
  for (const m of figures.stage_movements) {
    const w = weeks.indexOf(m.week_start);
    if (stages.indexOf(m.to_stage) > stages.indexOf(m.from_stage)) up[w] += Number(m.members); else down[w] += Number(m.members);
  }
  chart('chart-moves', { type: 'bar', data: { labels: weeks, datasets: [
    { label: 'Up', data: up, backgroundColor: '#1b7a3d' }, { label: 'Down', data: down, backgroundColor: '#b3261e' }] } });
  table('numbers-moves', ['Week (Monday)', 'Up', 'Down'], weeks.map((w, i) => [w, up[i], down[i]]));

  chart('chart-liability', { type: 'doughnut', data: { labels: ['Available', 'Pending'], datasets: [{
    data: [Number(figures.available_points), Number(figures.pending_points)], backgroundColor: ['#1f5fbf', '#f0b400'] }] } });
  table('numbers-liability', ['Points', 'Count'], [['Available', figures.available_points], ['Pending', figures.pending_points],
    ['Liability', figures.liability_points]]);

  const offers = figures.offers;
  chart('chart-offers', { type: 'bar', data: { labels: offers.map((o) => o.offer_id), datasets: [
    { label: 'Shown', data: offers.map((o) => Number(o.shown)), backgroundColor: '#9bb7e6' },
    { label: 'Used', data: offers.map((o) => Number(o.used)), backgroundColor: '#1f5fbf' }] } });
  table('numbers-offers', ['Offer', 'Shown', 'Used', 'Spend of those sales', 'Moved up a stage since first use'],
        offers.map((o) => [o.offer_id, o.shown, o.used, money(o.spend_minor), o.members_moved_up]));
  say(`Figures as of ${new Date().toLocaleTimeString()}.`);
}

// ---------------------------------------------------------------- program editor
//
// One fieldset per part of the program. Every input carries data-path, the
// field path the server names in its errors ("tiers[2].min_spend_minor"),
// so a refusal is shown beside its field. Money is entered in major units.

const OFFER_KINDS = ['OFFER_KIND_PERCENT_OFF', 'OFFER_KIND_AMOUNT_OFF', 'OFFER_KIND_BONUS_POINTS', 'OFFER_KIND_PUNCH_CARD',
  'OFFER_KIND_BIRTHDAY', 'OFFER_KIND_WIN_BACK', 'OFFER_KIND_TIER_NUDGE', 'OFFER_KIND_STAGE_NUDGE'];
const TILL_PROOFS = ['TILL_PROOF_APP_CODE', 'TILL_PROOF_PIN', 'TILL_PROOF_APP_CODE_OR_PIN'];
// An enum value as staff read it: OFFER_KIND_PERCENT_OFF -> "percent off".
const enumLabel = (v) => String(v ?? '').replace(/^(OFFER_KIND|TILL_PROOF)_/, '').toLowerCase().replaceAll('_', ' ');

function get(obj, path) {
  return path.split(/\.|\[|\]/).filter(Boolean).reduce((o, k) => (o == null ? undefined : o[k]), obj);
}
function set(obj, path, value) {
  const keys = path.split(/\.|\[|\]/).filter(Boolean);
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k];
  o[keys[keys.length - 1]] = value;
}

// An input bound to state.draft at `path`. kind: text, int, money, list, date, select.
function field(label, path, kind = 'int', options = []) {
  const id = 'f-' + path.replace(/[^A-Za-z0-9]/g, '-');
  const v = get(state.draft, path);
  let input;
  if (kind === 'bool') {
    input = el('input', { id, 'data-path': path, type: 'checkbox', checked: v === true });
  } else if (kind === 'select') {
    input = el('select', { id, 'data-path': path }, ...options.map((o) => el('option', { value: o, text: enumLabel(o), selected: o === v })));
  } else {
    let shown = v === undefined || v === null ? '' : v;
    if (kind === 'money') shown = moneyPlain(v || 0);
    if (kind === 'list') shown = (v || []).join(', ');
    if (kind === 'date' && v) { const d = new Date(v); shown = new Date(d.getTime() - d.getTimezoneOffset() * 6e4).toISOString().slice(0, 16); } else if (kind === 'date') shown = '';
    input = el('input', { id, 'data-path': path, value: shown, inputmode: kind === 'int' || kind === 'money' ? 'decimal' : undefined,
                          type: kind === 'date' ? 'datetime-local' : 'text', class: kind === 'list' || kind === 'text' ? 'wide' : undefined });
  }
  input.addEventListener('change', () => {
    let value = kind === 'bool' ? input.checked : input.value.trim();
    if (kind === 'int') value = value === '' ? 0 : Number(value);
    if (kind === 'money') value = String(Math.round(Number(value) * minorPerMajor()));
    if (kind === 'list') value = value ? value.split(',').map((s) => s.trim()).filter(Boolean) : [];
    if (kind === 'date') value = value ? new Date(value).toISOString() : null;
    if (kind === 'int' && !Number.isFinite(value)) { value = input.value; }
    if (value === null) { const keys = path.split('.'); delete get(state.draft, keys.slice(0, -1).join('.'))[keys.at(-1)]; } else set(state.draft, path, value);
    draftChanged();
  });
  // Typing already makes the dry run stale: its report goes before the click
  // on "Dry run" that blurs the input, so the page does not shrink under it.
  input.addEventListener('input', () => draftChanged());
  const hint = kind === 'money' ? ` (${currency()})` : '';
  return el('div', {}, el('label', { for: id, text: label + hint }), input);
}

// A list of rows with add, remove and move up/down.
function rows(legend, listPath, blank, render) {
  const list = get(state.draft, listPath) || [];
  const box = el('fieldset', { id: 'part-' + listPath }, el('legend', { text: legend }));
  list.forEach((item, i) => {
    const row = el('div', { class: 'row' }, ...render(`${listPath}[${i}]`, item, i));
    const move = (d) => { const j = i + d; if (j < 0 || j >= list.length) return; [list[i], list[j]] = [list[j], list[i]]; draftChanged(true); };
    row.append(el('button', { type: 'button', class: 'secondary', 'aria-label': `Move ${legend} ${i + 1} up`, text: '↑' }),
               el('button', { type: 'button', class: 'secondary', 'aria-label': `Move ${legend} ${i + 1} down`, text: '↓' }),
               el('button', { type: 'button', class: 'secondary', 'aria-label': `Remove ${legend} ${i + 1}`, text: 'Remove' }));
    const [upB, downB, rmB] = row.querySelectorAll('button');
    upB.onclick = () => move(-1); downB.onclick = () => move(1);
    rmB.onclick = () => { list.splice(i, 1); draftChanged(true); };
    box.append(row);
  });
  const add = el('button', { type: 'button', class: 'secondary', text: 'Add' });
  add.onclick = () => { if (!get(state.draft, listPath)) set(state.draft, listPath, []); get(state.draft, listPath).push(blank()); draftChanged(true); };
  box.append(add);
  return box;
}

function renderProgramForm() {
  const d = state.draft;
  const form = $('program-form');
  form.replaceChildren(
    el('fieldset', { id: 'part-earn' }, el('legend', { text: 'Earn rules' }),
       el('div', { class: 'grid' }, field('Points per 1.00', 'points_per_major_unit'), field('Monthly cap per member (0: none)', 'max_points_per_month'),
          field('Return window, days (points pending)', 'pending_days'), field('Points expire after, days (0: never)', 'expiry_days'),
          field('Excluded categories', 'excluded_categories', 'list'), field('Excluded SKUs', 'excluded_skus', 'list'),
          field('Returns at any store (else only where sold)', 'returns_at_any_store', 'bool'),
          field('Proof of the member when a till redeems', 'till_proof', 'select', TILL_PROOFS))),
    rows('Category multiplier', 'category_multipliers', () => ({ category: 'category', multiplier_pct: 100 }),
         (p) => [field('Category', p + '.category', 'text'), field('Multiplier %', p + '.multiplier_pct')]),
    el('fieldset', { id: 'part-tier-window' }, el('legend', { text: 'Tier qualification' }),
       el('div', { class: 'grid' }, field('Rolling window, days', 'tier_window_days'), field('Grace before a downgrade, days', 'tier_grace_days'))),
    rows('Tier', 'tiers', () => ({ name: 'New tier', min_spend_minor: '0', min_visits: 0, earn_multiplier_pct: 100, perks: [] }),
         (p) => [field('Name', p + '.name', 'text'), field('Minimum spend', p + '.min_spend_minor', 'money'), field('or minimum visits', p + '.min_visits'),
                 field('Earn multiplier %', p + '.earn_multiplier_pct'), field('Perks', p + '.perks', 'list')]),
    el('fieldset', { id: 'part-stage-window' }, el('legend', { text: 'Ladder' }), el('div', { class: 'grid' }, field('Stage window, days', 'stage_window_days'))),
    rows('Stage', 'stages', () => ({ name: 'new-stage' }),
         (p) => [field('Name', p + '.name', 'text'), field('Min visits', p + '.min_visits'), field('Min spend', p + '.min_spend_minor', 'money'),
                 field('Min tenure, days', p + '.min_tenure_days'), field('Min categories', p + '.min_categories'),
                 field('Max days since visit', p + '.max_days_since_visit'), field('Min engagements', p + '.min_engagements')]),
    rows('Promotion', 'promotions', () => ({ id: 'promo', name: 'Promotion', multiplier_pct: 200, starts_at: new Date().toISOString(), ends_at: new Date(Date.now() + 7 * 864e5).toISOString() }),
         (p) => [field('Id', p + '.id', 'text'), field('Name', p + '.name', 'text'), field('Starts', p + '.starts_at', 'date'), field('Ends', p + '.ends_at', 'date'),
                 field('Stores', p + '.stores', 'list'), field('Categories', p + '.categories', 'list'), field('Multiplier %', p + '.multiplier_pct')]),
    rows('Offer', 'offers', () => ({ id: 'offer', title: 'New offer', kind: 'OFFER_KIND_BONUS_POINTS', bonus_points: '50' }),
         (p) => [field('Id', p + '.id', 'text'), field('Title', p + '.title', 'text'), field('Kind', p + '.kind', 'select', OFFER_KINDS),
                 field('Percent off', p + '.percent_off'), field('Amount off', p + '.amount_off_minor', 'money'), field('Bonus points', p + '.bonus_points'),
                 field('Categories', p + '.categories', 'list'), field('Tiers', p + '.tiers', 'list'), field('Stages', p + '.stages', 'list'),
                 field('Min basket', p + '.min_basket_minor', 'money'), field('Budget (uses, 0: unlimited)', p + '.budget_redemptions'),
                 field('Per member (0: unlimited)', p + '.per_member_limit')]),
    rows('Reward', 'rewards', () => ({ id: 'reward', title: 'New reward', cost_points: '100', code_valid_days: 30 }),
         (p) => [field('Id', p + '.id', 'text'), field('Title', p + '.title', 'text'), field('Cost, points', p + '.cost_points'),
                 field('Categories', p + '.categories', 'list'), field('Worth at most', p + '.max_value_minor', 'money'), field('Stock (0: unlimited)', p + '.stock')]));
  $('program-version').textContent = `(version ${state.base.version}, published ${when(state.base.published_at)} by ${state.base.published_by})`;
}

function clearFieldErrors() {
  for (const e of document.querySelectorAll('.field-error')) e.remove();
  for (const e of document.querySelectorAll('[aria-invalid]')) { e.removeAttribute('aria-invalid'); e.removeAttribute('aria-describedby'); }
  $('program-error').textContent = '';
}

// The server's "program.tiers[1].min_spend_minor: reason" beside its input.
function showServerError(e) {
  const m = /^program\.([A-Za-z0-9_.[\]]+): (.*)$/.exec(e.message);
  const input = m && document.querySelector(`[data-path="${m[1]}"]`);
  if (input) {
    const note = el('span', { class: 'field-error', id: input.id + '-error', text: m[2] });
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', note.id);
    input.parentElement.append(note);
    input.focus();
    $('program-error').textContent = 'The server refused the draft: ' + m[1] + ': ' + m[2] + '. Nothing was published.';
  } else {
    $('program-error').textContent = 'The server refused the draft: ' + e.message + '. Nothing was published.';
  }
}

function draftChanged(rerender = false) {
  state.dryRunOf = null;
  $('publish').disabled = true;
  $('dry-run-report').hidden = true;
  $('dry-run-progress').hidden = true;
  $('dry-run-progress-text').textContent = '';
  clearFieldErrors();
  if (rerender) renderProgramForm();
}

async function showProgram(reload = false) {
  if (!state.draft || reload) {
    state.base = await api('GET', '/v1/program');
    state.program = state.base;
    state.draft = structuredClone(state.base);
  }
  $('conflict').hidden = true;
  renderProgramForm();
}

function moveTable(title, moves) {
  if (!moves || moves.length === 0) return el('p', { text: `${title}: nobody moves.` });
  return el('table', { class: 'moves' },
    el('caption', { text: title }),
    el('thead', {}, el('tr', {}, el('th', { text: 'From' }), el('th', { text: 'To' }), el('th', { class: 'num', text: 'Members' }), el('th', { text: 'For example' }))),
    el('tbody', {}, ...moves.map((m) => el('tr', {}, el('td', { text: m.from_name }), el('td', { text: m.to_name }),
                                            el('td', { class: 'num', text: num(m.members) }), el('td', { text: m.sample_member_ids.join(', ') })))));
}

// How often the page asks how a dry run is getting on.
const DRY_RUN_POLL_MS = 400;

async function dryRun() {
  clearFieldErrors();
  say('Replaying the stored history under the draft…');
  $('dry-run').disabled = true;
  const draft = JSON.stringify(state.draft);
  const bar = $('dry-run-progress');
  try {
    // A job on the server: its own thread, bounded memory; the page follows it.
    let job = await api('POST', '/v1/dry-runs', { program: state.draft, expected_version: state.base.version });
    bar.hidden = false;
    while (job.state === 'DRY_RUN_STATE_QUEUED' || job.state === 'DRY_RUN_STATE_RUNNING') {
      showProgress(job);
      await new Promise((resolve) => setTimeout(resolve, DRY_RUN_POLL_MS));
      job = await api('GET', '/v1/dry-runs/' + encodeURIComponent(job.job_id));
    }
    if (job.state !== 'DRY_RUN_STATE_DONE') throw new Error(`The dry run did not finish: ${job.error || job.state}`);
    showProgress(job);
    const report = job.report;
    state.dryRunOf = draft;
    const counts = (m) => Object.entries(m || {}).map(([k, v]) => `${k}: ${num(v)}`).join(', ');
    const box = $('dry-run-report');
    box.replaceChildren(el('div', { class: 'report' },
      el('h3', { text: 'Dry run' }),
      el('p', { id: 'dry-run-summary', text: `${num(report.members || 0)} members, ${num(report.events_replayed || 0)} events replayed: ` +
                `${num(report.members_changing_tier || 0)} would change tier, ${num(report.members_changing_stage || 0)} would change stage.` }),
      el('p', { id: 'dry-run-liability', text: `Points liability ${num(report.liability_points_before || 0)} → ${num(report.liability_points_after || 0)}.` }),
      moveTable('Tier moves', report.tier_moves), moveTable('Stage moves', report.stage_moves),
      el('p', { text: 'Tiers after: ' + counts(report.members_per_tier_after) }),
      el('p', { text: 'Stages after: ' + counts(report.members_per_stage_after) }),
      el('p', { class: 'hint', text: `Compared with version ${job.compared_with_version}; ${job.passes} passes over the history, the members in ${job.parts || 1} part(s)` +
                (Number(job.round) > 1 ? `, ${job.round} rounds for offer budgets` : '') + '.' })));
    box.hidden = false;
    $('publish').disabled = false;
    say('Dry run done. Publish when the result is what you want.');
  } catch (e) {
    showServerError(e);
    say('');
  } finally {
    $('dry-run').disabled = false;
  }
}

function showProgress(job) {
  const bar = $('dry-run-progress');
  const fraction = Number(job.progress || 0);
  bar.value = fraction;
  const percent = Math.floor(fraction * 100);
  const where = job.state === 'DRY_RUN_STATE_QUEUED' ? 'waiting for an earlier dry run'
    : `pass ${job.pass || 1} of ${job.passes || 1}` + (Number(job.round) > 1 ? `, round ${job.round}` : '');
  bar.textContent = `${percent}%`;
  $('dry-run-progress-text').textContent = `${percent}% (${where})`;
}

async function publish() {
  if (state.dryRunOf !== JSON.stringify(state.draft)) { $('program-error').textContent = 'Run the dry run of this draft first.'; return; }
  clearFieldErrors();
  try {
    const published = await api('PUT', '/v1/program', { program: state.draft, expected_version: state.base.version });
    state.base = published;
    state.program = published;
    state.draft = structuredClone(published);
    state.dryRunOf = null;
    $('publish').disabled = true;
    $('dry-run-report').hidden = true;
    renderProgramForm();
    say(`Published version ${published.version}.`);
  } catch (e) {
    if (e.status === 'FAILED_PRECONDITION' && /expected_version/.test(e.message)) {
      $('conflict-text').textContent = 'Someone else published meanwhile: ' + e.message.replace(/^expected_version: /, '') + '.';
      $('conflict').hidden = false;
    } else {
      showServerError(e);
    }
  }
}

// Reapplies what this draft changed (part by part) onto the newest version.
async function reapply() {
  const latest = await api('GET', '/v1/program');
  const mine = state.draft, base = state.base;
  const merged = structuredClone(latest);
  for (const k of Object.keys(mine)) {
    if (['version', 'published_at', 'published_by'].includes(k)) continue;
    if (JSON.stringify(mine[k]) !== JSON.stringify(base[k])) merged[k] = mine[k];
  }
  state.base = latest;
  state.draft = merged;
  draftChanged(true);
  $('conflict').hidden = true;
  say(`Your changes are now on version ${latest.version}. Run the dry run again before publishing.`);
}

// ---------------------------------------------------------------- history

const SCALARS = {
  points_per_major_unit: 'points per 1.00', max_points_per_month: 'monthly cap', pending_days: 'return window (days)',
  expiry_days: 'expiry (days)', tier_window_days: 'tier window (days)', tier_grace_days: 'tier grace (days)', stage_window_days: 'stage window (days)',
};
const SWITCHES = { returns_at_any_store: 'returns at any store' };
const TIER_FIELDS = { min_spend_minor: ['minimum spend', money], min_visits: ['minimum visits', String], earn_multiplier_pct: ['earn multiplier %', String] };

// The difference between two program versions, in words.
function describeDiff(a, b) {
  const out = [];
  for (const [k, label] of Object.entries(SCALARS)) {
    if (String(a[k] ?? 0) !== String(b[k] ?? 0)) out.push(`${label[0].toUpperCase() + label.slice(1)}: ${a[k] ?? 0} → ${b[k] ?? 0}`);
  }
  const yesNo = (v) => (v === true ? 'yes' : 'no');
  for (const [k, label] of Object.entries(SWITCHES)) {
    if (yesNo(a[k]) !== yesNo(b[k])) out.push(`${label[0].toUpperCase() + label.slice(1)}: ${yesNo(a[k])} → ${yesNo(b[k])}`);
  }
  const proof = (p) => enumLabel(!p.till_proof || p.till_proof === 'TILL_PROOF_UNSPECIFIED' ? 'TILL_PROOF_APP_CODE' : p.till_proof);
  if (proof(a) !== proof(b)) out.push(`Proof of the member at the till: ${proof(a)} → ${proof(b)}`);
  const byKey = (list, key) => new Map((list || []).map((x) => [x[key], x]));
  const named = (what, la, lb, key, fields) => {
    const ma = byKey(la, key), mb = byKey(lb, key);
    for (const [k, x] of mb) {
      if (!ma.has(k)) { out.push(`${what} ${k} added`); continue; }
      const y = ma.get(k);
      for (const [f, [label, fmt]] of Object.entries(fields)) {
        if (String(y[f] ?? 0) !== String(x[f] ?? 0)) out.push(`${k}: ${label} ${fmt(y[f] ?? 0)} → ${fmt(x[f] ?? 0)}`);
      }
      const rest = Object.keys({ ...x, ...y }).filter((f) => !(f in fields) && f !== key);
      if (rest.some((f) => JSON.stringify(x[f]) !== JSON.stringify(y[f]))) out.push(`${what} ${k}: other settings changed`);
    }
    for (const k of ma.keys()) if (!mb.has(k)) out.push(`${what} ${k} removed`);
  };
  named('Tier', a.tiers, b.tiers, 'name', TIER_FIELDS);
  named('Stage', a.stages, b.stages, 'name', { min_visits: ['minimum visits', String], min_spend_minor: ['minimum spend', money] });
  named('Category', a.category_multipliers, b.category_multipliers, 'category', { multiplier_pct: ['multiplier %', String] });
  named('Offer', a.offers, b.offers, 'id', { title: ['title', String], bonus_points: ['bonus points', String], percent_off: ['percent off', String] });
  named('Reward', a.rewards, b.rewards, 'id', { cost_points: ['cost in points', String], stock: ['stock', String] });
  named('Promotion', a.promotions, b.promotions, 'id', { multiplier_pct: ['multiplier %', String] });
  return out.length ? out : ['No difference.'];
}

async function showHistory() {
  const audit = await api('GET', '/v1/audit?limit=100');
  state.audit = audit.entries;
  $('versions').tBodies[0].replaceChildren(...audit.entries.map((e) =>
    el('tr', {}, el('td', { text: e.version }), el('td', { text: when(e.at) }), el('td', { text: e.author }), el('td', { text: e.summary }))));
  const options = () => audit.entries.map((e) => el('option', { value: e.version, text: `version ${e.version}` }));
  $('diff-from').replaceChildren(...options());
  $('diff-to').replaceChildren(...options());
  if (audit.entries.length > 1) $('diff-from').value = audit.entries[1].version;
  $('diff').replaceChildren();
}

function showDiff() {
  const find = (v) => state.audit.find((e) => String(e.version) === String(v)).program;
  $('diff').replaceChildren(...describeDiff(find($('diff-from').value), find($('diff-to').value)).map((t) => el('li', { text: t })));
}

// ---------------------------------------------------------------- member desk

function identifier(q) {
  if (q.startsWith('+')) return { phone: q };
  if (/^[0-9]{4,32}$/.test(q)) return { card_number: q };
  return { member_id: q };
}

async function showMember(id) {
  const [view, offers, history] = await Promise.all([api('GET', `/v1/members/${encodeURIComponent(id)}`),
    api('GET', `/v1/members/${encodeURIComponent(id)}/offers`), api('GET', `/v1/members/${encodeURIComponent(id)}/history?page_size=50`)]);
  state.member = id;
  $('member-name').textContent = `${view.display_name || view.member_id} (${view.member_id})`;
  const facts = [['Available points', num(view.balance.available_points)], ['Pending points', num(view.balance.pending_points)],
    ['Tier', view.tier.current_tier], ['Tier progress', view.tier.message], ['Stage', view.stage.current_stage],
    ['Next step', view.stage.next_step], ['Member since', when(view.enrolled_at)]];
  $('member-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  $('member-offers').replaceChildren(...(offers.offers.length ? offers.offers.map((o) => el('li', {}, el('b', { text: o.title }), ' — ' + o.reason))
    : [el('li', { text: 'No personal offers right now.' })]));
  $('member-history').tBodies[0].replaceChildren(...history.entries.map((e) => el('tr', {},
    el('td', { text: when(e.at) }), el('td', { text: e.kind.replace('LEDGER_ENTRY_KIND_', '').toLowerCase() }),
    el('td', { class: 'num', text: e.points }), el('td', { text: [e.reason, e.author].filter(Boolean).join(' — ') }))));
  $('member').hidden = false;
}

// ---------------------------------------------------------------- wiring

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('login-error').textContent = '';
    try {
      await signIn($('token').value.trim());
      $('token').value = '';
      if (!location.hash) location.hash = '#overview'; else await route();
    } catch (e) {
      $('login-error').textContent = e.message;
    }
  });
  $('sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.draft = null;
    showApp(false);
    say('Signed out.');
  });
  $('dry-run').addEventListener('click', dryRun);
  $('publish').addEventListener('click', publish);
  $('discard').addEventListener('click', () => { showProgram(true); draftChanged(); });
  $('reapply').addEventListener('click', reapply);
  $('diff-show').addEventListener('click', showDiff);
  $('member-search').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('member-error').textContent = '';
    try {
      const found = await api('POST', '/v1/members:lookup', identifier($('member-query').value.trim()));
      await showMember(found.member_id);
    } catch (e) {
      $('member').hidden = true;
      $('member-error').textContent = e.http === 404 ? 'No member with that card, phone or id.' : e.message;
    }
  });
  $('adjust-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('adjust-error').textContent = '';
    try {
      const request_id = 'console-' + crypto.getRandomValues(new Uint32Array(2)).join('-');
      await api('POST', `/v1/members/${encodeURIComponent(state.member)}/adjustments`,
                { points: $('adjust-points').value, reason: $('adjust-reason').value.trim(), request_id });
      $('adjust-points').value = '';
      $('adjust-reason').value = '';
      await showMember(state.member);
      say('Points adjusted.');
    } catch (e) {
      $('adjust-error').textContent = e.message;
    }
  });
  window.addEventListener('hashchange', route);
  route();
});
