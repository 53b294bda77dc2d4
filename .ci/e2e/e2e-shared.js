// Two example servers sharing one site through one Redis (`--redis`), and one client that
// keeps no cookie: its page loads alternate between the servers, a sync interval apart. Both
// take the day's key of cookieless ids from the site, so both show one visitor, one visit and
// every page view. Run by .ci/e2e.sh.
//
//   node .ci/e2e/e2e-shared.js http://127.0.0.1:PORT_A http://127.0.0.1:PORT_B
//
// Prints one PASS or FAIL line per check and `N passed, M failed` last; exits 1 when a check
// failed.
'use strict';

const SERVERS = process.argv.slice(2, 4).map((u) => u.replace(/\/$/, ''));
const UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const LOADS = 20;
const SYNC_MS = 1000;

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'}: ${name}${detail ? ` (${detail})` : ''}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function stats(base) {
  const r = await fetch(`${base}/api/stats`, { headers: { Accept: 'application/json' } });
  const s = await r.json();
  return { visitors: s.visitors.today, visits: s.visits.today, pageViews: s.page_views.today };
}

async function main() {
  if (SERVERS.length !== 2) throw new Error('usage: node e2e-shared.js URL_A URL_B');
  // Both have synced once (the first sync runs at start): they hold the site's key of the day.
  for (const end = Date.now() + 10000; Date.now() < end; await sleep(100)) {
    const synced = await Promise.all(SERVERS.map(async (b) => (await (await fetch(`${b}/api/sync`)).json()).syncs));
    if (synced.every((n) => n >= 1)) break;
  }
  const statuses = [];
  for (let i = 0; i < LOADS; i++) {
    // No cookie jar: every load comes without a cookie, from one address and User-Agent.
    const r = await fetch(`${SERVERS[i % 2]}/`, { headers: { 'User-Agent': UA, Accept: 'text/html' } });
    await r.arrayBuffer();
    statuses.push(r.status);
    await sleep(SYNC_MS + 100);
  }
  check(`${LOADS} loads alternating between the two servers answered 200`, statuses.every((s) => s === 200), statuses.join(','));
  // Two more syncs each.
  let got = [];
  for (const end = Date.now() + 10000; Date.now() < end; await sleep(200)) {
    got = await Promise.all(SERVERS.map(stats));
    if (got.every((s) => s.pageViews === LOADS)) break;
  }
  await sleep(2 * SYNC_MS + 200);
  got = await Promise.all(SERVERS.map(stats));
  got.forEach((s, i) => {
    check(`server ${i + 1} shows 1 visitor, 1 visit and ${LOADS} page views`,
      s.visitors === 1 && s.visits === 1 && s.pageViews === LOADS, JSON.stringify(s));
  });
}

const overall = setTimeout(() => {
  check('test finished within 90 s', false, 'timed out');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
}, 90000);

main()
  .catch((e) => check('test ran to the end', false, e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : String(e)))
  .finally(() => {
    clearTimeout(overall);
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed > 0 ? 1 : 0;
  });
