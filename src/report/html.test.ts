import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parsePolicy } from '../policy/load.js';
import { computeReport } from './compute.js';
import { renderHtml } from './html.js';
import { barChart } from './svg.js';

const seconds = (v: number) => `${v} s`;

describe('the restore-time chart', () => {
  test('a forecast over the RTO is drawn as a forecast that missed, not as a measured miss, and a legend says so', () => {
    const svg = barChart(
      'files: restore time against the RTO (1m)',
      [
        { label: '01-02', value: 30, forecast: false, miss: false },
        { label: '01-03', value: 90, forecast: false, miss: true },
        { label: '01-04', value: 20, forecast: true, miss: false },
        { label: '01-05', value: 120, forecast: true, miss: true },
      ],
      60,
      'RTO 1m',
      seconds,
    );
    const bars = [...svg.matchAll(/<rect [^>]*class="([^"]+)"><title>([^<]+)<\/title>/g)].map((m) => [
      m[1],
      m[2],
    ]);
    assert.deepEqual(bars, [
      ['bar', '01-02: 30 s (measured)'],
      ['bar miss', '01-03: 90 s (measured, missed)'],
      ['bar forecast', '01-04: 20 s (forecast)'],
      ['bar forecast miss', '01-05: 120 s (forecast, missed)'],
    ]);
    const legend = svg.slice(svg.indexOf('<g class="legend-items">'));
    for (const [cls, label] of [
      ['bar', 'measured'],
      ['bar forecast', 'forecast'],
      ['bar miss', 'measured, missed'],
      ['bar forecast miss', 'forecast, missed'],
    ])
      assert.match(legend, new RegExp(`class="${cls}"/><text [^>]*>${label}</text>`));
    assert.match(legend, /class="limit"\/><text [^>]*>RTO 1m<\/text>/);
  });

  test("the stylesheet draws forecasts outlined, and a forecast miss keeps its outline (the rule comes after the miss's)", () => {
    const policy = parsePolicy(
      `
metadata: {id: POL-T, version: "1", owner: o, approved_by: c, approved_on: 2026-01-01, next_review: 2026-12-01}
repositories:
  local: {location: /r, site: main, media: disk, offsite: false, immutable: false, password: {env: P}}
datasets:
  files:
    owner: ops
    classification: internal
    tier: 1
    rpo: 24h
    rto: 4h
    mtd: 1d
    sources: {paths: [/data]}
    schedule: {full: {every: 1d}}
    copies: [local]
`,
      'test',
    );
    const html = renderHtml(
      computeReport({
        generated_at: '2026-01-10T00:00:00.000Z',
        period: { from: '2026-01-01T00:00:00.000Z', to: '2026-01-10T00:00:00.000Z' },
        policy: { file: '/p', policy, sha256: '0' },
        journal: { file: '/j', verify: { ok: true, records: 0, head: null, problems: [] } },
        records: [],
        repositories: [
          {
            name: 'local',
            location: '/r',
            site: 'main',
            media: 'disk',
            offsite: false,
            immutable: false,
            reachable: true,
            error: null,
            encryption: null,
            snapshots: [],
          },
        ],
      }),
    );
    const rule = (selector: string) => {
      const i = html.indexOf(`${selector} {`);
      assert.ok(i >= 0, `no rule for ${selector}`);
      return { at: i, body: html.slice(i, html.indexOf('}', i)) };
    };
    assert.match(rule('.bar.forecast').body, /stroke-dasharray/);
    assert.match(rule('.bar.forecast').body, /fill: #ffffff/);
    assert.match(rule('.bar.forecast.miss').body, /stroke: #cf222e/);
    assert.ok(rule('.bar.forecast.miss').at > rule('.bar.miss').at);
  });
});
