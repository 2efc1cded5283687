// vswitchd --web (issue 17 part 4) in a real browser: Debian's chromium driven
// by playwright-core, on the datapath VSWITCH_TEST_DATAPATH names. The page
// lists a port within 1 s of `vswconfig add` and drops it within 1 s of
// `delete`; a port's counters rise while pings flow; a learned MAC appears in
// the FDB table and the filter finds it; a trace from the form equals
// `vswconfig trace -j` (and its lines `vswconfig trace`); a POST is refused;
// the page logs no console error. It takes a screenshot of the page
// (dist/test/web.png; docs/web.png is one of them).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { type Host, Lab, ROOT, run, VSWITCHD, waitFor } from '../helpers/lab.js';

const CHROMIUM = '/usr/bin/chromium';
const lab = new Lab('10.86');
let H1: Host, H2: Host, H3: Host, H4: Host;
let base = '';
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

const ok = (...args: string[]): string => lab.ok(...args);

/** A number shown in a cell of port `port`'s row of the ports table (column: 0-based). */
async function portCell(port: string, column: number): Promise<number> {
  const text = await page.locator(`#ports tbody tr[data-port="${port}"] td`).nth(column).textContent();
  return Number(text);
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  [H1, H2, H3, H4] = [1, 2, 3, 4].map((n) => lab.addHost(n));
  const d = await lab.startSwitch(['--web', '0']);
  const m = await waitFor('the log line naming where the page is served', () => /web: serving http:\/\/127\.0\.0\.1:(\d+)\//.exec(d.stderr));
  base = `http://127.0.0.1:${m![1]}`;
  for (const h of [H1, H2, H4]) ok('add', h.port);
  ok('acl', 'add', 'src', H1.mac, 'allow');
  ok('mirror', 'add', 'span', 'output', H4.port, 'select-ingress', H1.port);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));
  await page.goto(`${base}/`);
  await page.waitForSelector(`#ports tbody tr[data-port="${H1.port}"]`, { timeout: 5000 });
});

after(async () => {
  await browser?.close();
  await lab.cleanup();
});

test('web: the page lists a port within 1 s of vswconfig add and drops it within 1 s of delete', async (t) => {
  const row = `#ports tbody tr[data-port="${H3.port}"]`;
  assert.equal(await page.locator(row).count(), 0);
  ok('add', H3.port);
  let t0 = Date.now();
  await page.waitForSelector(row, { timeout: 1000 });
  const added = Date.now() - t0;
  ok('delete', H3.port);
  t0 = Date.now();
  await page.waitForSelector(row, { state: 'detached', timeout: 1000 });
  const deleted = Date.now() - t0;
  t.diagnostic(`on the page ${added} ms after add, gone ${deleted} ms after delete`);
  assert.ok(added <= 1000 && deleted <= 1000, `added ${added} ms, deleted ${deleted} ms`);
  // The events of `monitor`, in the page's list as vswconfig monitor prints them.
  await page.waitForSelector(`#events li[data-event="port-del"]`, { timeout: 1000 });
  const events = await page.locator('#events li').allTextContents();
  const iso = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
  assert.ok(events.some((e) => new RegExp(`^${iso} port-add ${H3.port}$`).test(e)), events.join('\n'));
  assert.ok(events.some((e) => new RegExp(`^${iso} port-del ${H3.port} \\(deleted\\)$`).test(e)), events.join('\n'));
});

test("web: a port's counters rise while pings flow, and its chart is drawn", async () => {
  const rx0 = await portCell(H1.port, 4);
  const tx0 = await portCell(H2.port, 7);
  const ping = lab.spawn('ip', ['netns', 'exec', H1.ns, 'ping', '-c', '20', '-i', '0.1', H2.ip]);
  const done = new Promise((r) => ping.on('exit', r));
  try {
    // The page shows more frames in on NS1's port and out of NS2's, and a rate, while the pings run.
    await page.waitForFunction(
      ([p1, p2, rx, tx]) => {
        const cells = (p: string) => [...document.querySelectorAll(`#ports tbody tr[data-port="${p}"] td`)].map((td) => td.textContent ?? '');
        const a = cells(p1 as string);
        const b = cells(p2 as string);
        return Number(a[4]) >= (rx as number) + 5 && Number(b[7]) >= (tx as number) + 5 && Number(a[5]) > 0;
      },
      [H1.port, H2.port, rx0, tx0] as const,
      { timeout: 5000 },
    );
  } finally {
    await done;
  }
  assert.equal(await page.locator(`#charts .chart[data-port="${H1.port}"] canvas`).count(), 1);
  assert.equal(await page.locator('#drops-chart canvas').count(), 1);
});

test('web: a learned MAC appears in the FDB table and the filter finds it', async () => {
  await page.waitForSelector(`#fdb tbody tr[data-mac="${H1.mac}"]`, { timeout: 5000 });
  const shownMacs = async (): Promise<string[]> => page.locator('#fdb tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset['mac'] ?? ''));
  await page.fill('#fdb-mac', H1.mac.slice(-8));
  await page.selectOption('#fdb-port', H1.port);
  let macs = await shownMacs();
  assert.deepEqual(macs, [H1.mac]);
  const row = await page.locator(`#fdb tbody tr[data-mac="${H1.mac}"] td`).allTextContents();
  assert.deepEqual(row.slice(0, 3), [H1.mac, '0', H1.port]);
  // Still there after the next snapshots (updated live, filter kept).
  const seen = await page.locator('#status').textContent();
  await page.waitForFunction((s) => document.getElementById('status')?.textContent !== s, seen, { timeout: 2000 });
  assert.deepEqual(await shownMacs(), [H1.mac]);
  await page.fill('#fdb-vlan', '7');
  assert.deepEqual(await shownMacs(), []);
  await page.fill('#fdb-vlan', '0');
  await page.selectOption('#fdb-port', H2.port);
  await page.fill('#fdb-mac', '');
  macs = await shownMacs();
  assert.ok(macs.includes(H2.mac) && !macs.includes(H1.mac), macs.join(' '));
  await page.selectOption('#fdb-port', '');
  await page.fill('#fdb-vlan', '');
});

test('web: a trace from the form equals vswconfig trace -j, stage by stage', async () => {
  const cases: Array<{ in: string; src?: string; dst?: string; vlan?: string; type?: string }> = [
    { in: H1.port, dst: H2.mac },
    { in: H2.port, src: H2.mac, dst: 'ff:ff:ff:ff:ff:ff', type: '0x0806' },
    { in: H1.port, vlan: '10', type: '0x86dd' },
    { in: H4.port, dst: H1.mac },
  ];
  for (const c of cases) {
    await page.selectOption('#trace-in', c.in);
    for (const f of ['src', 'dst', 'vlan', 'type'] as const) await page.fill(`#trace-${f}`, c[f] ?? '');
    await page.evaluate(() => (document.getElementById('trace-json')!.textContent = ''));
    await page.click('#trace-run');
    await page.waitForFunction(() => (document.getElementById('trace-json')?.textContent ?? '') !== '', null, { timeout: 5000 });
    const shown = JSON.parse((await page.locator('#trace-json').textContent())!) as unknown;
    const args = ['trace', 'in', c.in, ...(['src', 'dst', 'vlan', 'type'] as const).flatMap((f) => (c[f] === undefined ? [] : [f, c[f]!]))];
    assert.deepEqual(shown, JSON.parse(ok('-j', ...args)), args.join(' '));
    const lines = await page.locator('#trace tbody tr').evaluateAll((rows) => rows.map((r) => [...r.children].map((td) => td.textContent ?? '')));
    const text = ok(...args).trimEnd().split('\n').map((l) => [l.slice(0, 8).trim(), l.slice(9)]);
    assert.deepEqual(lines, text, args.join(' '));
  }
});

test('web: a POST (or any method but GET) is refused with 405, from the page too, and the switch is unchanged', async () => {
  const show = ok('-j', 'show');
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    for (const path of ['/', '/api/trace?in=' + H1.port, '/api/events', '/nope']) {
      const r = await fetch(`${base}${path}`, { method, body: method === 'DELETE' ? undefined : 'add x' });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get('allow'), 'GET');
    }
  }
  // From a page of its own: chromium logs the refusal as a console error, which the page under test must not have.
  const other = await browser.newPage();
  await other.goto(`${base}/`);
  const fromPage = await other.evaluate(async () => (await fetch('/api/trace', { method: 'POST', body: 'x' })).status);
  await other.close();
  assert.equal(fromPage, 405);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  assert.equal(ok('-j', 'show'), show);
  assert.ok(lab.daemon!.alive);
});

test('web: a second vswitchd on the same address stops with one line, exit 1', () => {
  const socket = join(lab.dir, 'second.sock');
  const at = base.slice('http://'.length);
  const r = run(process.execPath, [VSWITCHD, '--socket', socket, '--web', at]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `vswitchd: cannot serve the web page on ${at}: address already in use\n`);
  assert.equal(existsSync(socket), false);
  assert.ok(lab.daemon!.alive);
});

test('web: the page logged no console error; a screenshot is taken', async () => {
  // The page as it stands after the tests above: a few seconds of charts, the FDB, a trace.
  await page.selectOption('#trace-in', H1.port);
  for (const f of ['src', 'vlan', 'type']) await page.fill(`#trace-${f}`, '');
  await page.fill('#trace-dst', H2.mac);
  await page.click('#trace-run');
  await page.waitForSelector('#trace tbody tr[data-stage="verdict"]');
  mkdirSync(join(ROOT, 'dist', 'test'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'dist', 'test', 'web.png'), fullPage: true });
  assert.deepEqual(consoleErrors, []);
  assert.doesNotMatch(lab.daemon!.stderr, /uncaught|unhandled|web: snapshot failed|web request failed|web: trace failed|web: a page/);
});
