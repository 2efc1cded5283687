import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachOf, chartOfResults, hostsChart, mainChart, ratioChartSvg, xmlEscape } from '../../bench/plot.js';
import { hostsKey, type SampleSet } from '../../bench/report.js';

/**
 * A small XML well-formedness check (no parser in the dependencies): one root
 * element, every tag closed in order, attributes quoted, `&` only in entities,
 * no `<` in text or attribute values. Returns the elements with their attributes.
 */
function parseXml(doc: string): Array<{ name: string; attrs: Record<string, string> }> {
  const body = doc.replace(/^<\?xml[^?]*\?>\s*/, '');
  const entity = /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const stack: string[] = [];
  const elements: Array<{ name: string; attrs: Record<string, string> }> = [];
  let roots = 0;
  for (const m of body.matchAll(/<[^>]*>|[^<]+/g)) {
    const tok = m[0];
    if (!tok.startsWith('<')) {
      assert.ok(!entity.test(tok), `bare & in text: ${tok}`);
      assert.ok(stack.length > 0 || tok.trim() === '', `text outside the root: ${tok}`);
      continue;
    }
    assert.ok(!tok.slice(1).includes('<'), `< inside a tag: ${tok}`);
    const close = /^<\/([\w:-]+)\s*>$/.exec(tok);
    if (close) {
      assert.equal(stack.pop(), close[1], `closing ${close[1]} out of order`);
      continue;
    }
    const open = /^<([\w:-]+)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>$/.exec(tok);
    assert.ok(open, `malformed tag: ${tok}`);
    const attrs: Record<string, string> = {};
    for (const a of open[2]!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      assert.ok(!(a[1]! in attrs), `attribute ${a[1]} twice in ${tok}`);
      assert.ok(!entity.test(a[2]!), `bare & in attribute: ${tok}`);
      attrs[a[1]!] = a[2]!;
    }
    if (stack.length === 0) roots++;
    elements.push({ name: open[1]!, attrs });
    if (open[3] !== '/') stack.push(open[1]!);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.equal(roots, 1, 'one root element');
  return elements;
}

const SET: SampleSet = {
  switches: ['vswitchd-kernel', 'vswitchd-user', 'bridge', 'ovs'],
  samples: {
    'u64.rx': { 'vswitchd-kernel': [1.5e6], 'vswitchd-user': [1.2e6], bridge: [1.2e6], ovs: [0.2e6] },
    tcp1: { 'vswitchd-kernel': [16], 'vswitchd-user': [12], bridge: [16], ovs: [8] },
    'lat.idle.avg': { 'vswitchd-kernel': [0.005], 'vswitchd-user': [0.13], bridge: [0.008], ovs: [0.13] },
    // no ratio for this row: not charted
    'u64.loss': { 'vswitchd-kernel': [0], bridge: [0] },
  },
};

test('bench plot: the chart is well-formed XML with one series per switch but the bridge, and the 1.0 line', () => {
  const svg = ratioChartSvg(mainChart(SET));
  const els = parseXml(svg);
  assert.equal(els[0]!.name, 'svg');
  assert.equal(els[0]!.attrs['xmlns'], 'http://www.w3.org/2000/svg');
  const legend = els.filter((e) => e.attrs['class'] === 'legend-item').map((e) => e.attrs['data-series']);
  assert.deepEqual(legend, ['vswitchd-kernel', 'vswitchd-user', 'ovs']);
  const bars = els.filter((e) => e.attrs['class'] === 'bar');
  assert.deepEqual([...new Set(bars.map((b) => b.attrs['data-series']))], ['vswitchd-kernel', 'vswitchd-user', 'ovs']);
  // 3 rows with a ratio (64 B, TCP, ping) × 3 series
  assert.equal(bars.length, 9);
  const ref = els.filter((e) => e.attrs['class'] === 'reference');
  assert.equal(ref.length, 1);
  assert.equal(ref[0]!.attrs['x1'], ref[0]!.attrs['x2']);
  // a ratio of exactly 1 (TCP, kernel) is a bar starting on the 1.0 line; above 1 it starts there, below 1 it ends there
  const x1 = Number(ref[0]!.attrs['x1']);
  const kernelBars = bars.filter((b) => b.attrs['data-series'] === 'vswitchd-kernel');
  const [u64, tcp, ping] = kernelBars.map((b) => ({ x: Number(b.attrs['x']), w: Number(b.attrs['width']) }));
  assert.ok(Math.abs(u64!.x - x1) < 0.11, '1.25× starts at 1.0');
  assert.ok(Math.abs(tcp!.x - x1) < 0.11 && tcp!.w <= 1, '1.0× is a hairline on the line');
  assert.ok(Math.abs(ping!.x + ping!.w - x1) < 0.11, '0.625× ends at 1.0');
  assert.match(svg, /1\.0 = bridge/);
  assert.match(svg, /ping RTT avg, idle \(lower is better\)/);
});

test('bench plot: labels are escaped', () => {
  assert.equal(xmlEscape(`a<b & "c" 'd'>`), 'a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;');
  const svg = ratioChartSvg({ title: 'A & B <test>', reference: 'x & y', series: ['s"1'], rows: [{ label: 'r<1>', values: { 's"1': 2 } }] });
  parseXml(svg);
});

test('bench plot: the attach mode a run names labels vswitchd series', () => {
  assert.equal(attachOf({ options: { vswitchdArgs: ['--attach', 'tc'] } }, 'vswitchd-kernel'), 'tc');
  assert.equal(attachOf({ options: { vswitchdArgs: ['--attach=tcx'] } }, 'vswitchd-user'), 'tcx');
  assert.equal(attachOf({ options: { vswitchdArgs: ['--attach', 'tc'] } }, 'ovs'), '');
  assert.equal(attachOf({ attach: { 'vswitchd-kernel': 'tc' } }, 'vswitchd-kernel'), 'tc');
  // kernel-tc is tc whatever the run's options say (its own --attach tc comes last)
  assert.equal(attachOf({ options: { vswitchdArgs: ['--attach', 'tcx'] } }, 'vswitchd-kernel-tc'), 'tc');
  const both = chartOfResults({ switches: ['vswitchd-kernel', 'vswitchd-kernel-tc', 'bridge'], samples: { tcp1: { 'vswitchd-kernel': [10], 'vswitchd-kernel-tc': [9.8], bridge: [10] } } });
  assert.deepEqual(both.series, ['vswitchd-kernel', 'vswitchd-kernel-tc (attach tc)']);
  assert.ok(Math.abs(both.rows[0]!.values['vswitchd-kernel-tc (attach tc)']! - 0.98) < 1e-9);
  const c = chartOfResults({ switches: ['vswitchd-kernel', 'bridge'], samples: { tcp1: { 'vswitchd-kernel': [10], bridge: [10] } }, options: { vswitchdArgs: ['--attach', 'tc'] } });
  assert.deepEqual(c.series, ['vswitchd-kernel (attach tc)']);
  const els = parseXml(ratioChartSvg(c));
  assert.deepEqual(
    els.filter((e) => e.attrs['class'] === 'legend-item').map((e) => e.attrs['data-series']),
    ['vswitchd-kernel (attach tc)'],
  );
});

test('bench plot: the hosts chart has one series per pair but bridge ↔ bridge, rows per underlay and measure', () => {
  const c = hostsChart({
    pairs: ['vswitchd-kernel ↔ vswitchd-kernel', 'vswitchd-kernel ↔ bridge', 'bridge ↔ bridge'],
    samples: {
      [hostsKey('plain', 'tcp')]: { 'vswitchd-kernel ↔ vswitchd-kernel': [9], 'vswitchd-kernel ↔ bridge': [11], 'bridge ↔ bridge': [10] },
      [hostsKey('plain', 'u64')]: { 'vswitchd-kernel ↔ vswitchd-kernel': [5e5], 'bridge ↔ bridge': [4e5] },
    },
  });
  assert.deepEqual(c.series, ['vswitchd-kernel ↔ vswitchd-kernel', 'vswitchd-kernel ↔ bridge']);
  assert.deepEqual(c.rows.map((r) => r.label), ['plain: TCP tenant A → tenant B, 1 stream', 'plain: 64 B tenant A → tenant B, received at B']);
  assert.equal(c.rows[0]!.values['vswitchd-kernel ↔ vswitchd-kernel'], 0.9);
  const els = parseXml(ratioChartSvg(c));
  assert.equal(els.filter((e) => e.attrs['class'] === 'bar').length, 3);
  assert.equal(els.filter((e) => e.attrs['class'] === 'reference').length, 1);
});
