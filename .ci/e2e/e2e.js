// Browser end-to-end test of examples/server/ in its default mode (`--count server`, pace limit
// 60 a minute), run by .ci/e2e.sh against a fresh server.
//
//   node .ci/e2e/e2e.js http://127.0.0.1:PORT
//
// Uses Debian's Chromium through playwright-core (no browser download). Prints one PASS or
// FAIL line per check and `N passed, M failed` last; exits 1 when a check failed.
'use strict';

const { chromium } = require('playwright-core');

const BASE = (process.argv[2] || process.env.E2E_BASE || '').replace(/\/$/, '');
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = process.env.E2E_SCREENSHOT || '/tmp/e2e-home.png';
const REFRESH_MS = 500;
const WIDGET = ['online', 'today', 'yesterday', 'week', 'month', 'total'];
// A desktop Chrome User-Agent: headless Chromium says "HeadlessChrome", which the counter's
// crawler list (isbot) rightly treats as a bot, and Node's fetch sends no browser UA either.
const BROWSER_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
// The User-Agent of the n-th other browser: requests from one address and one User-Agent
// without a cookie are one visitor a day, so other visitors from this machine differ by it.
const otherUa = (n) => BROWSER_UA.replace('126.0.0.0', `126.0.${n}.0`);
let others = 0;

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`PASS: ${name}${detail ? ` (${detail})` : ''}`);
  } else {
    failed++;
    console.log(`FAIL: ${name}${detail ? ` — ${detail}` : ''}`);
  }
  return ok;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** "1 234 567" (any kind of space) → 1234567; anything else → NaN. */
function parseGrouped(text) {
  if (text == null) return NaN;
  const t = String(text).replace(/[\s\u00a0\u202f\u2009]/g, '');
  return /^\d+$/.test(t) ? Number(t) : NaN;
}

async function readWidget(page) {
  const raw = await page.evaluate((ids) => {
    const out = {};
    for (const id of ids) {
      const el = document.getElementById(`vc-${id}`);
      out[id] = el ? el.textContent.trim() : null;
    }
    return out;
  }, WIDGET);
  const nums = {};
  for (const k of WIDGET) nums[k] = parseGrouped(raw[k]);
  return { raw, nums };
}

const fmt = (w) => WIDGET.map((k) => `${k}=${w.nums[k]}`).join(' ');

/** Polls the widget until pred(nums) holds or timeoutMs passes; returns the last reading. */
async function waitWidget(page, pred, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let w = await readWidget(page);
  while (!pred(w.nums) && Date.now() < end) {
    await sleep(100);
    w = await readWidget(page);
  }
  return { w, ok: pred(w.nums) };
}

async function getJson(path) {
  const res = await fetch(BASE + path, { headers: { 'User-Agent': BROWSER_UA, Accept: 'application/json' } });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return res.json();
}

/** A page view of `path` by a new visitor: another browser's User-Agent and no cookie jar. */
async function outsideView(path) {
  return load(path, { 'User-Agent': otherUa(++others) });
}

/** A page load of `path` with these headers (no cookie jar: only a cookie given here). */
async function load(path, headers) {
  const res = await fetch(BASE + path, {
    headers: { Accept: 'text/html', ...headers },
    redirect: 'manual',
  });
  await res.arrayBuffer();
  return res;
}

/** A sample of the example's /metrics, by name and labels: `metric('x_total', 'reason="pace"')`. */
async function metric(name, labels) {
  const text = await (await fetch(`${BASE}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}} ` : `${name} `));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/** What the site counted, for deltas: stats, article views, exclusions by pace. */
async function counts() {
  const s = await getJson('/api/stats');
  return {
    online: s.online,
    visits: s.visits.today,
    visitors: s.visitors.today,
    pageViews: s.page_views.today,
    pace: await metric('visitors_excluded_requests_total', 'reason="pace"'),
  };
}

const delta = (a, b) => Object.fromEntries(Object.keys(a).map((k) => [k, b[k] - a[k]]));
const show = (d) => Object.entries(d).map(([k, v]) => `${k} ${v >= 0 ? '+' : ''}${v}`).join(', ');

async function listViews(page) {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('a.article-link')).map((a) => {
      const m = (a.getAttribute('href') || '').match(/^\/articles\/([^/?#]+)$/);
      const id = m ? m[1] : null;
      const span = id ? document.querySelector(`span.views[data-article="${id}"]`) : null;
      return { id, href: a.getAttribute('href'), views: span ? span.textContent.trim() : null };
    }),
  );
}

async function main() {
  if (!BASE) throw new Error('usage: node e2e.js http://127.0.0.1:PORT');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const context = await browser.newContext({ userAgent: BROWSER_UA, locale: 'vi-VN' });
    context.setDefaultTimeout(10000);
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));

    // 1. Home page: the widget and the article list.
    const res = await page.goto(`${BASE}/?refresh=${REFRESH_MS}`);
    check('GET / answers 200 with HTML', res && res.status() === 200 && /text\/html/.test(res.headers()['content-type'] || ''),
      res ? `status ${res.status()}, ${res.headers()['content-type']}` : 'no response');
    const bodyText = await page.evaluate(() => document.body.innerText);
    check('home page is in Vietnamese', /[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]/i.test(bodyText));
    const missing = [];
    for (const id of WIDGET) if ((await page.locator(`#vc-${id}`).count()) !== 1) missing.push(`#vc-${id}`);
    check('statistics box has #vc-online, #vc-today, #vc-yesterday, #vc-week, #vc-month, #vc-total',
      missing.length === 0, missing.length ? `missing ${missing.join(', ')}` : '');
    const first = await readWidget(page);
    check('widget numbers parse as integers', WIDGET.every((k) => Number.isInteger(first.nums[k])), JSON.stringify(first.raw));

    // The server counts a view after rendering it, so the first refresh shows our own visit.
    const settle = await waitWidget(page, (n) => n.online >= 1 && n.today >= 1, 5000);
    const w0 = settle.w;
    check('widget counts this browser: online=1, today=1, week=1, month=1, total=1, yesterday=0 (fresh server)',
      w0.nums.online === 1 && w0.nums.today === 1 && w0.nums.week === 1 && w0.nums.month === 1 && w0.nums.total === 1 && w0.nums.yesterday === 0,
      fmt(w0));

    const cookies = await context.cookies(BASE);
    const vc = cookies.find((c) => c.name === 'vc_id');
    // A new visitor's cookie: its own 128-bit id, then the cookieless id of its first page and
    // that id's local date, under which it is counted all that day.
    check('vc_id cookie set (32 hex, then the carried id and date; HttpOnly)',
      !!vc && /^[0-9a-f]{32}\.[0-9a-f]{16}\.[0-9a-f]{8}$/i.test(vc.value) && vc.httpOnly,
      vc ? `${vc.value} httpOnly=${vc.httpOnly}` : 'no vc_id cookie');

    const list0 = await listViews(page);
    const art = list0.find((a) => a.id && Number.isInteger(parseGrouped(a.views)));
    check('article list has links a.article-link[href="/articles/{id}"] with span.views[data-article]',
      !!art, `${list0.length} links${art ? `, first: /articles/${art.id} views=${art.views}` : ''}`);
    if (!art) throw new Error('no article link to click');
    const v0 = parseGrouped(art.views);
    const api0 = await getJson(`/api/articles/${art.id}`);
    check('/api/articles/{id} returns {views:{today,...}}', api0 && api0.views && Number.isInteger(api0.views.today),
      JSON.stringify(api0));

    // 2. Open the article by clicking its link.
    await Promise.all([
      page.waitForURL((u) => u.pathname === `/articles/${art.id}`),
      page.click(`a.article-link[href="/articles/${art.id}"]`),
    ]);
    await page.waitForLoadState('domcontentloaded');
    // The page is rendered before it is counted; its script shows the live count at once.
    let shown = NaN;
    for (const end = Date.now() + 3000; Date.now() < end; await sleep(50)) {
      shown = parseGrouped(await page.locator('#article-views').first().textContent().catch(() => null));
      if (shown === v0 + 1) break;
    }
    check('article page shows its view count in #article-views, this view included', shown === v0 + 1,
      `shown=${shown}, list said ${v0} before the click`);

    // 3. Back to the list: same visitor, same visit; the article counted once.
    await page.goBack();
    await page.waitForURL((u) => u.pathname === '/');
    const back = await waitWidget(page, (n) => n.online === w0.nums.online && n.today === w0.nums.today, 3000);
    // Give the widget at least two refreshes to show anything it should not.
    await sleep(REFRESH_MS * 2 + 200);
    const w1 = (await readWidget(page));
    check('after reading an article: online and today visits unchanged (same visitor, same visit)',
      back.ok && w1.nums.online === w0.nums.online && w1.nums.today === w0.nums.today && w1.nums.total === w0.nums.total,
      `before ${fmt(w0)}; after ${fmt(w1)}`);
    const api1 = await getJson(`/api/articles/${art.id}`);
    check('article views via /api/articles/{id} went up by one',
      api1.views.today === api0.views.today + 1 && (api1.views.total === undefined || api1.views.total === api0.views.total + 1),
      `today ${api0.views.today} → ${api1.views.today}, total ${api0.views.total} → ${api1.views.total}`);
    await page.reload();
    const list1 = await listViews(page);
    const art1 = list1.find((a) => a.id === art.id);
    const v1 = art1 ? parseGrouped(art1.views) : NaN;
    check('article count on the list went up by one (after reload)', v1 === v0 + 1, `${v0} → ${v1}`);

    // 4. Other visitors, from outside the browser: the open page updates itself without a reload.
    await waitWidget(page, (n) => n.online >= 1, 3000);
    await sleep(REFRESH_MS + 200);
    const w2 = await readWidget(page);
    const navs = [];
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navs.push(f.url());
    });
    const marker = `e2e-${Date.now()}-${Math.random()}`;
    await page.evaluate((m) => {
      window.__marker = m;
    }, marker);
    const K = 3;
    const statuses = [];
    for (let i = 0; i < K; i++) statuses.push((await outsideView('/')).status);
    check(`${K} page views of / from outside the browser (no cookie) answered 200`, statuses.every((s) => s === 200), statuses.join(','));
    const t0 = Date.now();
    const upd = await waitWidget(page,
      (n) => n.online === w2.nums.online + K && n.today === w2.nums.today + K && n.total === w2.nums.total + K, 5000);
    check(`widget updated by itself within 5 s: online, today and total +${K}`, upd.ok,
      `${upd.ok ? `${Date.now() - t0} ms; ` : ''}before ${fmt(w2)}; now ${fmt(upd.w)}`);
    const still = await page.evaluate(() => window.__marker);
    check('no navigation or reload happened while updating', still === marker && navs.length === 0,
      `marker ${still === marker ? 'kept' : 'lost'}, ${navs.length} navigations`);
    const stats = await getJson('/api/stats');
    const v = stats.visits || {};
    const apiNums = { online: stats.online, today: v.today, yesterday: v.yesterday, week: v.this_week ?? v.week, month: v.this_month ?? v.month, total: v.total };
    const w3 = await readWidget(page);
    check('/api/stats has online, visits, page_views, visitors',
      Number.isInteger(stats.online) && stats.visits && stats.page_views && stats.visitors, Object.keys(stats).join(','));
    check('widget agrees with /api/stats', WIDGET.every((k) => w3.nums[k] === apiNums[k]),
      `widget ${fmt(w3)}; api ${WIDGET.map((k) => `${k}=${apiNums[k]}`).join(' ')}`);

    // 5. Thousands grouped with a space: 1000 more new visitors, still without a reload.
    const N = 1000;
    let next = 0;
    const bad = [];
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < N) {
        next++;
        const r = await outsideView('/');
        if (r.status !== 200) bad.push(r.status);
      }
    }));
    const big = await waitWidget(page, (n) => n.today >= w3.nums.today + N, 5000);
    const todayText = big.w.raw.today || '';
    check(`widget shows ${N} more visits, grouped by thousands with a space`,
      big.ok && bad.length === 0 && /^\d{1,3}([ \u00a0\u202f\u2009]\d{3})+$/.test(todayText),
      `today="${todayText}", online="${big.w.raw.online}", total="${big.w.raw.total}"${bad.length ? `, ${bad.length} non-200` : ''}`);
    check('still no navigation or reload', (await page.evaluate(() => window.__marker)) === marker && navs.length === 0,
      `${navs.length} navigations`);
    check('no JavaScript errors on the page', pageErrors.length === 0, pageErrors.join(' | '));

    // 6. Honest numbers. A client that never keeps the cookie (a scraper posing as a browser):
    // 100 loads from one address and User-Agent are one visitor, one visit, online once; past
    // 60 page views in its minute the rest are excluded for their pace.
    const scraper = { 'User-Agent': otherUa(++others) };
    let before = await counts();
    const scraped = [];
    for (let i = 0; i < 100; i++) scraped.push((await load('/', scraper)).status);
    let d = delta(before, await counts());
    check('100 cookie-less loads from one address and User-Agent: online +1, visits +1, visitors +1',
      d.online === 1 && d.visits === 1 && d.visitors === 1 && scraped.every((s) => s === 200), show(d));
    check('... of which 60 page views (the pace limit) and 40 excluded for pace',
      d.pageViews === 60 && d.pace === 40, show(d));

    // A browser that keeps its cookie and reads 5 pages: one visitor, one visit, 5 page views.
    const reader = await browser.newContext({ userAgent: otherUa(++others), locale: 'vi-VN' });
    before = await counts();
    const tab = await reader.newPage();
    for (const path of ['/', `/articles/${art.id}`, '/', '/?lang=en', `/articles/${art.id}`]) {
      await tab.goto(BASE + path);
    }
    d = delta(before, await counts());
    check('a browser that keeps its cookie reads 5 pages: online +1, visits +1, visitors +1, page views +5',
      d.online === 1 && d.visits === 1 && d.visitors === 1 && d.pageViews === 5 && d.pace === 0, show(d));
    await reader.close();

    // 300 loads with one cookie within a minute: at most 60 page views, 240 excluded.
    const cookie = { 'User-Agent': otherUa(++others), Cookie: 'vc_id=0123456789abcdef0123456789abcdef' };
    before = await counts();
    for (let i = 0; i < 300; i++) await load('/', cookie);
    d = delta(before, await counts());
    check('300 loads with one cookie within a minute: 60 page views, 240 excluded for pace',
      d.pageViews === 60 && d.pace === 240 && d.visits === 1, show(d));

    await page.screenshot({ path: SCREENSHOT, fullPage: true }).then(
      () => console.log(`screenshot: ${SCREENSHOT}`),
      (e) => console.log(`screenshot failed: ${e.message}`),
    );
  } finally {
    await browser.close();
  }
}

const overall = setTimeout(() => {
  check('test finished within 120 s', false, 'timed out');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
}, 120000);

main()
  .catch((e) => {
    check('test ran to the end', false, e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : String(e));
  })
  .finally(() => {
    clearTimeout(overall);
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed > 0 ? 1 : 0;
  });
