import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FaultPlan, type FlakyProxy, startFlakyProxy } from './flaky-proxy.js';

interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** An in-memory object store: PUT/POST store the body, GET/HEAD serve it (with Range); /stall never answers. */
async function startUpstream() {
  const objects = new Map<string, Buffer>();
  const seen: SeenRequest[] = [];
  const events = new EventEmitter();
  const server = http.createServer(async (req, res) => {
    const url = req.url ?? '';
    seen.push({ method: req.method ?? '', url, headers: req.headers });
    if (url === '/stall') {
      events.emit('stall');
      return;
    }
    if (req.method === 'PUT' || req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      objects.set(url, Buffer.concat(chunks));
      res.writeHead(201).end();
      return;
    }
    const data = objects.get(url);
    if (data === undefined) {
      res.writeHead(404).end();
      return;
    }
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (range === null) {
      res.writeHead(200, { 'content-length': data.length }).end(data);
      return;
    }
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]), data.length - 1);
    res
      .writeHead(206, {
        'content-length': end - start + 1,
        'content-range': `bytes ${start}-${end}/${data.length}`,
      })
      .end(data.subarray(start, end + 1));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { url, objects, seen, events, close };
}

type Upstream = Awaited<ReturnType<typeof startUpstream>>;

async function proxyFor(t: TestContext, upstream: Upstream, plan: FaultPlan | null): Promise<FlakyProxy> {
  const proxy = await startFlakyProxy(upstream.url, plan);
  t.after(() => proxy.stop());
  return proxy;
}

/** Sends `body` with node:http (chunked when no length is given), optionally waiting for 100-continue. */
function upload(url: string, body: Buffer, headers: http.OutgoingHttpHeaders): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'PUT', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    const send = () => {
      // Several writes, so a chunked body really has several chunks.
      for (let offset = 0; offset < body.length; offset += 1 << 20)
        req.write(body.subarray(offset, offset + (1 << 20)));
      req.end();
    };
    if (headers['expect'] === '100-continue') req.on('continue', send);
    else send();
  });
}

/** Reads a response body chunk by chunk, counting the bytes received before any failure. */
async function readCounting(res: Response): Promise<{ received: number; error: unknown }> {
  const reader = res.body!.getReader();
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { received, error: undefined };
      received += value.length;
    }
  } catch (error) {
    return { received, error };
  }
}

/** What a client saw: a status, a connection closed before any response, or a body cut short. */
async function outcome(url: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch {
    return 'no response';
  }
  const { error } = await readCounting(res);
  return error === undefined ? String(res.status) : `${res.status} cut`;
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await sleep(10);
  assert.ok(condition(), 'condition not reached');
}

describe('flaky proxy', () => {
  let upstream: Upstream;
  const small = randomBytes(64 * 1024);
  before(async () => {
    upstream = await startUpstream();
    upstream.objects.set('/small', small);
  });
  after(() => upstream.close());

  test('passes bodies through byte for byte, with the Host header unchanged', async (t) => {
    const proxy = await proxyFor(t, upstream, null);
    const big = randomBytes(20 * 1024 * 1024);
    upstream.seen.length = 0;

    const put = await fetch(`${proxy.url}/big?x=1`, { method: 'POST', body: big });
    assert.equal(put.status, 201);
    assert.ok(upstream.objects.get('/big?x=1')!.equals(big));
    // The client signed (SigV4) for the proxy's address, so that is what the upstream must see.
    assert.equal(upstream.seen[0]!.headers.host, `127.0.0.1:${proxy.port}`);

    const whole = await fetch(`${proxy.url}/big?x=1`);
    assert.equal(whole.status, 200);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(big));

    const ranged = await fetch(`${proxy.url}/big?x=1`, { headers: { range: 'bytes=1000-5242879' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), `bytes 1000-5242879/${big.length}`);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(big.subarray(1000, 5242880)));

    const chunked = randomBytes(5 * 1024 * 1024 + 17);
    assert.equal(await upload(`${proxy.url}/chunked`, chunked, {}), 201);
    assert.ok(upstream.objects.get('/chunked')!.equals(chunked));

    const continued = randomBytes(3 * 1024 * 1024);
    const headers = { expect: '100-continue', 'content-length': continued.length };
    assert.equal(await upload(`${proxy.url}/continued`, continued, headers), 201);
    assert.ok(upstream.objects.get('/continued')!.equals(continued));
    assert.equal(upstream.seen.at(-1)!.headers.expect, undefined);

    assert.equal((await fetch(`${proxy.url}/missing`)).status, 404);
    assert.deepEqual(proxy.stats, { requests: 6, errors: 0, drops: 0, dropsBeforeResponse: 0, delays: 0 });
  });

  test('errorRate 1 answers 500 or 503 without reaching the upstream', async (t) => {
    const proxy = await proxyFor(t, upstream, { seed: 1, errorRate: 1 });
    upstream.seen.length = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${proxy.url}/up${i}`, { method: 'PUT', body: randomBytes(256 * 1024) });
      assert.match(await res.text(), /<Error><Code>(InternalError|SlowDown)<\/Code>/);
      statuses.push(res.status);
    }
    assert.equal(upstream.seen.length, 0);
    assert.deepEqual(new Set(statuses), new Set([500, 503]));
    assert.deepEqual(
      statuses,
      proxy.faults.map((fault) => fault.status),
    );
    assert.equal(proxy.stats.errors, 8);
  });

  test('dropRate 1 sends the headers and half the body, then closes the connection', async (t) => {
    const proxy = await proxyFor(t, upstream, { seed: 1, dropRate: 1 });
    const res = await fetch(`${proxy.url}/small`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(small.length));
    const { received, error } = await readCounting(res);
    assert.ok(error instanceof Error, 'reading the body must fail');
    assert.equal(received, small.length / 2);
    assert.equal(proxy.stats.drops, 1);
  });

  test('dropRequestRate 1 closes the connection before any response', async (t) => {
    const proxy = await proxyFor(t, upstream, { seed: 1, dropRequestRate: 1 });
    upstream.seen.length = 0;
    await assert.rejects(fetch(`${proxy.url}/small`));
    await assert.rejects(fetch(`${proxy.url}/dropped`, { method: 'PUT', body: randomBytes(1024 * 1024) }));
    assert.equal(upstream.seen.length, 0);
    assert.equal(proxy.stats.dropsBeforeResponse, 2);
  });

  test('delayRate 1 delays every request, which still succeeds', async (t) => {
    const proxy = await proxyFor(t, upstream, { seed: 1, delayRate: 1, maxDelayMs: 20 });
    for (let i = 0; i < 5; i++) assert.equal(await outcome(`${proxy.url}/small`), '200');
    assert.equal(proxy.stats.delays, 5);
    for (const fault of proxy.faults) assert.ok(fault.kind === 'delay' && fault.delayMs! <= 20);
  });

  test('maxFaults bounds the faults; match limits which requests are faulted', async (t) => {
    const proxy = await proxyFor(t, upstream, { seed: 1, errorRate: 1, maxFaults: 3 });
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push(await outcome(`${proxy.url}/small`));
    assert.deepEqual(
      seen.map((status) => (status === '200' ? 'ok' : 'fault')),
      ['fault', 'fault', 'fault', 'ok', 'ok', 'ok'],
    );
    assert.equal(proxy.stats.errors, 3);

    proxy.setPlan({
      seed: 1,
      dropRequestRate: 1,
      match: (method, path) => method === 'GET' && path === '/small',
    });
    assert.equal(await outcome(`${proxy.url}/small`), 'no response');
    assert.equal(await outcome(`${proxy.url}/missing`), '404');
    proxy.setPlan(null);
    assert.equal(await outcome(`${proxy.url}/small`), '200');
  });

  test('the same seed gives the same faults', async (t) => {
    const run = async (seed: number) => {
      const proxy = await proxyFor(t, upstream, {
        seed,
        errorRate: 0.25,
        dropRequestRate: 0.15,
        dropRate: 0.15,
        delayRate: 0.2,
        maxDelayMs: 5,
      });
      const seen: string[] = [];
      for (let i = 0; i < 24; i++) seen.push(await outcome(`${proxy.url}/small`));
      await proxy.stop();
      return { seen, faults: proxy.faults, requests: proxy.stats.requests };
    };
    const first = await run(7);
    assert.deepEqual(await run(7), first);
    assert.equal(first.requests, 24, 'the client must not have retried');
    for (const kind of ['200', '500', '503', '200 cut', 'no response'])
      assert.ok(first.seen.includes(kind), kind);
    assert.ok(first.faults.some((fault) => fault.kind === 'delay'));
    assert.notDeepEqual((await run(8)).seen, first.seen);
  });

  test('stop() ends pending delays and open connections', async (t) => {
    const proxy = await proxyFor(t, upstream, {
      seed: 1,
      delayRate: 1,
      maxDelayMs: 600_000,
      match: (_, path) => path === '/slow',
    });
    upstream.seen.length = 0;
    // Settled at once, so that their rejections are handled when stop() causes them.
    const settled = (url: string) =>
      fetch(url).then(
        () => 'answered',
        () => 'failed',
      );
    const slow = settled(`${proxy.url}/slow`);
    const stalled = settled(`${proxy.url}/stall`);
    await once(upstream.events, 'stall');
    await waitFor(() => proxy.stats.delays === 1);
    assert.ok(proxy.faults[0]!.delayMs! > 10_000, 'seed 1 must give a long delay');
    await proxy.stop();
    assert.equal(await slow, 'failed');
    assert.equal(await stalled, 'failed');
    await assert.rejects(fetch(`${proxy.url}/small`));
    await proxy.stop();
    assert.equal(
      upstream.seen.some((req) => req.url === '/slow'),
      false,
    );
  });
});
