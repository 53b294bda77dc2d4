// Browser end-to-end test of examples/server/ in beacon mode (`--count beacon`) behind a real
// Varnish that caches the pages and strips cookies from page requests (.ci/e2e/beacon.vcl), run
// by .ci/e2e.sh against a fresh server.
//
//   node .ci/e2e/e2e-beacon.js http://127.0.0.1:VARNISH_PORT http://127.0.0.1:SERVER_PORT
//
// The first address is the cache (what readers load); the second the app itself, read only for
// its numbers (/api/*, /metrics). Prints one PASS or FAIL line per check and `N passed, M
// failed` last; exits 1 when a check failed.
'use strict';

const { chromium } = require('playwright-core');

const CACHE = (process.argv[2] || '').replace(/\/$/, '');
const APP = (process.argv[3] || '').replace(/\/$/, '');
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
const BROWSER_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const GOOGLEBOT_UA =
  'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) ' +
  'Chrome/126.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const ARTICLE = 3;

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

async function getJson(path) {
  const res = await fetch(APP + path, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return res.json();
}

async function metric(name, labels) {
  const text = await (await fetch(`${APP}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/** What the site counted so far. */
async function counts() {
  const s = await getJson('/api/stats');
  const a = await getJson(`/api/articles/${ARTICLE}`);
  const excluded = (reason) => metric('visitors_excluded_requests_total', `reason="${reason}"`);
  return {
    pageViews: s.page_views.total,
    visits: s.visits.total,
    visitors: s.visitors.total,
    articleViews: a.views.total,
    bot: await excluded('bot'),
  };
}

const show = (c) => Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ');

/** Polls until `pred(counts)` holds or `ms` pass; returns the last counts. */
async function settle(pred, ms) {
  const end = Date.now() + ms;
  let c = await counts();
  while (!pred(c) && Date.now() < end) {
    await sleep(100);
    c = await counts();
  }
  return c;
}

async function main() {
  if (!CACHE || !APP) throw new Error('usage: node e2e-beacon.js CACHE_URL APP_URL');
  const page0 = `${CACHE}/articles/${ARTICLE}`;

  // The cache holds the article page: a load by a client that runs no script puts it there.
  const warm = await fetch(page0, { headers: { 'User-Agent': BROWSER_UA } });
  const warmBody = await warm.text();
  check('a page in beacon mode is cacheable: public, max-age=60, no Set-Cookie',
    /public/.test(warm.headers.get('cache-control') || '') && !warm.headers.get('set-cookie'),
    `cache-control: ${warm.headers.get('cache-control')}, set-cookie: ${warm.headers.get('set-cookie')}`);
  check('the page carries the beacon script', warmBody.includes(`/_vc/beacon?p=`) && warmBody.includes(`&a=${ARTICLE}`));
  await sleep(1100); // so that the cache's answers say Age >= 1

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
    const c0 = await counts();
    check('nothing counted yet (the warming load ran no script)', c0.pageViews === 0 && c0.articleViews === 0, show(c0));

    // 1. A reader loads the article page from the cache: its beacon counts the page view and
    // the article view, and sets the cookie.
    const context = await browser.newContext({ userAgent: BROWSER_UA, locale: 'vi-VN' });
    context.setDefaultTimeout(10000);
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const beacons = [];
    page.on('request', (r) => { if (r.url().includes('/_vc/beacon')) beacons.push(r.method()); });
    const res = await page.goto(page0);
    const age = Number(res.headers()['age'] || 0);
    check('the page came from the cache (Age > 0)', res.status() === 200 && age > 0, `status ${res.status()}, age ${age}`);
    const c1 = await settle((c) => c.pageViews >= 1 && c.articleViews >= 1, 5000);
    await sleep(300);
    const c1b = await counts();
    check('a load from the cache counts one page view and one article view',
      c1b.pageViews === 1 && c1b.articleViews === 1 && c1b.visits === 1 && c1b.visitors === 1,
      `${show(c1)}; beacons ${beacons.join(',')}`);
    const vc = (await context.cookies(CACHE)).find((c) => c.name === 'vc_id');
    check('the beacon set the vc_id cookie', !!vc && /^[0-9a-f]{32}/.test(vc.value), vc ? vc.value : 'none');
    // The statistics box shows numbers that include this page view (after the beacon's event).
    let views = NaN;
    for (const end = Date.now() + 3000; Date.now() < end; await sleep(50)) {
      views = Number((await page.locator('#article-views').textContent()).replace(/\s/g, ''));
      if (views === 1) break;
    }
    check("the page shows the article's views, this view included, though the page was cached", views === 1, `#article-views ${views}`);

    // 2. A reload: one more page view, no article view (the same reader within 30 minutes).
    const again = await page.reload();
    const c2 = await settle((c) => c.pageViews >= 2, 5000);
    await sleep(300);
    const c2b = await counts();
    check('a reload counts a page view and no article view',
      c2b.pageViews === 2 && c2b.articleViews === 1 && c2b.visits === 1,
      `${show(c2b)}; age ${again.headers()['age']}`);
    check('no JavaScript errors on the page', errors.length === 0, errors.join(' | '));
    await context.close();

    // 3. Clients that run no scripts count nothing: 20 loads by a script-less fetch and 20 by a
    // browser with JavaScript off.
    for (let i = 0; i < 20; i++) {
      const r = await fetch(page0, { headers: { 'User-Agent': BROWSER_UA } });
      await r.arrayBuffer();
    }
    const noJs = await browser.newContext({ userAgent: BROWSER_UA, javaScriptEnabled: false });
    const noJsPage = await noJs.newPage();
    for (let i = 0; i < 20; i++) await noJsPage.goto(i % 2 ? page0 : `${CACHE}/`);
    await noJs.close();
    await sleep(500);
    const c3 = await counts();
    check('20 loads by a client that runs no scripts (and 20 by a browser with JavaScript off) count nothing',
      c3.pageViews === c2b.pageViews && c3.articleViews === c2b.articleViews, `${show(c2b)} → ${show(c3)}`);

    // 4. A browser with a crawler's User-Agent runs the script; its beacon is a bot's.
    const bot = await browser.newContext({ userAgent: GOOGLEBOT_UA });
    const botPage = await bot.newPage();
    await botPage.goto(page0);
    const c4 = await settle((c) => c.bot > c3.bot, 5000);
    await bot.close();
    check("a browser with a crawler's User-Agent counts nothing (its beacon is excluded as a bot)",
      c4.pageViews === c3.pageViews && c4.articleViews === c3.articleViews && c4.bot === c3.bot + 1,
      `${show(c3)} → ${show(c4)}`);
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
