import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { ArcaError } from '../errors.js';
import type { Backend, FileInfo, Handle } from './backend.js';
import { openRestBackend, parseRestLocation } from './rest.js';

const v1 = 'application/vnd.x.restic.rest.v1';
const v2 = 'application/vnd.x.restic.rest.v2';
const someFile: Handle = { type: 'data', name: 'ab'.repeat(32) };

/** Starts a node:http server on a free port for the length of test `t`; returns its base URL. */
async function serve(t: TestContext, handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Opens a backend that is closed when test `t` ends. */
function open(
  t: TestContext,
  location: string,
  options: Parameters<typeof openRestBackend>[1] = {},
): Backend {
  const b = openRestBackend(location, { env: {}, ...options });
  t.after(() => b.close());
  return b;
}

async function listAll(b: Backend, type: Handle['type']): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const fi of b.list(type)) out.push(fi);
  return out.sort((x, y) => (x.name < y.name ? -1 : 1));
}

function isError(code: string, transient: boolean, message?: RegExp): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof ArcaError, `expected an ArcaError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.transient, transient, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

describe('rest location', () => {
  it('parses a URL, adds the trailing slash and keeps the path', () => {
    const t = parseRestLocation('rest:http://127.0.0.1:8000/some/repo', {});
    assert.equal(t.url.href, 'http://127.0.0.1:8000/some/repo/');
    assert.equal(t.display, 'rest:http://127.0.0.1:8000/some/repo/');
    assert.equal(t.username, '');
    assert.equal(t.password, '');
  });

  it('decodes user and password, and prints neither the password nor a placeholder that looks like one', () => {
    const t = parseRestLocation('rest:https://us%20er:p%40ss%3Aw%2Frd@backup.example:8443/r/', {});
    assert.equal(t.username, 'us er');
    assert.equal(t.password, 'p@ss:w/rd');
    assert.equal(t.display, 'rest:https://us%20er@backup.example:8443/r/');
    assert.equal(t.url.href, 'https://backup.example:8443/r/');
  });

  it('takes missing credentials from ARCA_REST_USERNAME / ARCA_REST_PASSWORD; the URL wins', () => {
    const env = { ARCA_REST_USERNAME: 'envuser', ARCA_REST_PASSWORD: 'envpass' };
    const fromEnv = parseRestLocation('rest:http://host:8000/', env);
    assert.deepEqual([fromEnv.username, fromEnv.password], ['envuser', 'envpass']);
    assert.equal(fromEnv.display, 'rest:http://host:8000/');
    const fromUrl = parseRestLocation('rest:http://u:p@host:8000/', env);
    assert.deepEqual([fromUrl.username, fromUrl.password], ['u', 'p']);
    const userOnly = parseRestLocation('rest:http://u@host:8000/', env);
    assert.deepEqual([userOnly.username, userOnly.password], ['u', 'envpass']);
  });

  it('refuses what is not an http(s) URL, without repeating the password', () => {
    for (const bad of [
      'rest:ftp://u:hunter2@host/',
      'rest:http://u:hunter2@host/?x=1',
      'rest:http://u:%zz@h/',
    ]) {
      assert.throws(
        () => parseRestLocation(bad, {}),
        (err: unknown) => {
          assert.ok(err instanceof ArcaError);
          assert.equal(err.code, 'usage');
          assert.doesNotMatch(err.message, /hunter2|%zz/);
          return true;
        },
        bad,
      );
    }
  });

  it('checks its -o options: rest.timeout must be positive, unknown rest.* keys are refused', () => {
    assert.throws(
      () => openRestBackend('rest:http://h/', { extended: { 'rest.timeuot': '5' } }),
      /rest\.timeout/,
    );
    for (const bad of ['0', '-1', 'abc', '']) {
      assert.throws(
        () => openRestBackend('rest:http://h/', { extended: { 'rest.timeout': bad } }),
        isError('usage', false),
      );
    }
    const b = openRestBackend('rest:http://h/', {
      extended: { 'rest.timeout': '2.5', 'rest.connections': '4', 's3.region': 'x' },
    });
    assert.equal(b.location, 'rest:http://h/');
  });
});

describe('rest protocol', () => {
  it('falls back to version 1 listings: names only, sizes by HEAD, a bounded number at a time', async (t) => {
    const files = new Map<string, number>();
    for (let i = 0; i < 40; i++) files.set(`${i}`.padStart(64, '0'), i * 3);
    let heads = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const url = await serve(t, (req, res) => {
      assert.equal(req.headers.accept, v2);
      if (req.method === 'GET' && req.url === '/repo/data/') {
        // A v1 server ignores the v2 Accept header; one listed file vanishes before its HEAD.
        res.setHeader('Content-Type', v1);
        res.end(JSON.stringify([...files.keys(), 'f'.repeat(64)]));
        return;
      }
      if (req.method === 'GET') {
        res.setHeader('Content-Type', v1);
        res.end(req.url === '/repo/keys/' ? 'null' : '[]');
        return;
      }
      assert.equal(req.method, 'HEAD');
      heads++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const size = files.get(req.url?.slice('/repo/data/'.length) ?? '');
      setTimeout(() => {
        inFlight--;
        if (size === undefined) res.writeHead(404).end();
        else res.writeHead(200, { 'Content-Length': size }).end();
      }, 2);
    });
    const b = open(t, `rest:${url}repo/`);
    const want = [...files].map(([name, size]) => ({ name, size }));
    assert.deepEqual(await listAll(b, 'data'), want);
    assert.equal(heads, files.size + 1);
    assert.ok(maxInFlight <= 8, `${maxInFlight} HEADs at once`);
    assert.deepEqual(await listAll(b, 'keys'), []);
    assert.deepEqual(await listAll(b, 'index'), []);
  });

  it('reads version 2 listings without extra requests; a missing type directory lists as empty', async (t) => {
    let requests = 0;
    const url = await serve(t, (req, res) => {
      requests++;
      if (req.url === '/snapshots/') {
        res.setHeader('Content-Type', v2);
        res.end(JSON.stringify([{ name: 'a'.repeat(64), size: 7 }]));
      } else {
        res.writeHead(404).end('Not Found');
      }
    });
    const b = open(t, `rest:${url}`);
    assert.deepEqual(await listAll(b, 'snapshots'), [{ name: 'a'.repeat(64), size: 7 }]);
    assert.deepEqual(await listAll(b, 'locks'), []);
    assert.equal(requests, 2);
  });

  it('refuses a listing that is not a JSON array of names or {name, size}', async (t) => {
    const url = await serve(t, (req, res) => {
      res.setHeader('Content-Type', v2);
      res.end(req.url === '/data/' ? '{"name": 1}' : '<html>');
    });
    const b = open(t, `rest:${url}`);
    await assert.rejects(listAll(b, 'data'), isError('io', false, /unknown shape/));
    await assert.rejects(listAll(b, 'index'), isError('io', false, /not JSON/));
  });

  it('maps 5xx and 429 to transient errors, 404 to not-found, other 4xx to permanent ones', async (t) => {
    let status = 500;
    const url = await serve(t, (_req, res) => {
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(`status ${status} from the server\n`);
    });
    const b = open(t, `rest:${url}`);
    for (const s of [500, 502, 503, 429]) {
      status = s;
      await assert.rejects(b.load(someFile), isError('io', true, new RegExp(`answered ${s}`)));
      await assert.rejects(b.save(someFile, Buffer.from('x')), isError('io', true));
      await assert.rejects(listAll(b, 'data'), isError('io', true));
    }
    status = 404;
    await assert.rejects(b.load(someFile), isError('not-found', false));
    await assert.rejects(b.load(someFile, 10, 20), isError('not-found', false));
    await assert.rejects(b.stat(someFile), isError('not-found', false));
    await b.remove(someFile);
    status = 400;
    await assert.rejects(
      b.save(someFile, Buffer.from('x')),
      isError('io', false, /status 400 from the server/),
    );
    status = 403;
    await assert.rejects(b.remove(someFile), isError('io', false, /access denied/));
  });

  it('reports refused credentials permanently, without the password', async (t) => {
    const password = 'correct horse';
    let seen: string | undefined;
    const url = await serve(t, (req, res) => {
      seen = req.headers.authorization;
      // A careless server might echo what it got; the message must not pass that on.
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' }).end(`bad password ${password}`);
    });
    const host = new URL(url).host;
    const b = open(t, `rest:http://me:${encodeURIComponent(password)}@${host}/`);
    await assert.rejects(b.stat(someFile), (err: unknown) => {
      isError('io', false, /authentication failed/)(err);
      assert.ok(!(err as Error).message.includes(password));
      return true;
    });
    assert.equal(seen, `Basic ${Buffer.from(`me:${password}`).toString('base64')}`);
    const fromEnv = open(t, `rest:${url}`, { env: { ARCA_REST_USERNAME: 'u', ARCA_REST_PASSWORD: 'p:w' } });
    await assert.rejects(fromEnv.stat(someFile));
    assert.equal(seen, `Basic ${Buffer.from('u:p:w').toString('base64')}`);
  });

  it('asks for byte ranges, and reports short or refused ranges as corrupt', async (t) => {
    const file = Buffer.from('0123456789abcdefghij');
    const ranges: (string | undefined)[] = [];
    let mode: 'honest' | 'short' | 'ignore' | '416' = 'honest';
    const url = await serve(t, (req, res) => {
      ranges.push(req.headers.range);
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (m === null || mode === 'ignore') {
        res.writeHead(200, { 'Content-Length': file.length }).end(file);
        return;
      }
      if (mode === '416') {
        res.writeHead(416, { 'Content-Range': `bytes */${file.length}` }).end();
        return;
      }
      const start = Number(m[1]);
      const end = Math.min(m[2] === '' ? file.length - 1 : Number(m[2]), file.length - 1);
      const part = mode === 'short' ? file.subarray(start, end) : file.subarray(start, end + 1);
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${file.length}` }).end(part);
    });
    const b = open(t, `rest:${url}`);
    assert.deepEqual(await b.load(someFile), file);
    assert.deepEqual(await b.load(someFile, 5, 10), file.subarray(5, 15));
    assert.deepEqual(await b.load(someFile, 15), file.subarray(15));
    assert.deepEqual(ranges, [undefined, 'bytes=5-14', 'bytes=15-']);
    assert.deepEqual(await b.load(someFile, 3, 0), Buffer.alloc(0));
    assert.equal(ranges.length, 3, 'a zero-length range needs no request');
    await assert.rejects(b.load(someFile, 15, 10), isError('corrupt', false));
    mode = 'short';
    await assert.rejects(b.load(someFile, 2, 4), isError('corrupt', false));
    mode = '416';
    await assert.rejects(b.load(someFile, 30, 4), isError('corrupt', false));
    mode = 'ignore';
    assert.deepEqual(await b.load(someFile, 5, 10), file.subarray(5, 15));
    assert.deepEqual(await b.load(someFile, 12), file.subarray(12));
    await assert.rejects(b.load(someFile, 15, 10), isError('corrupt', false));
    await assert.rejects(b.load(someFile, 25), isError('corrupt', false));
  });

  it('reports a body cut short, a server that falls silent and a refused connection as transient', async (t) => {
    const url = await serve(t, (req, res) => {
      if (req.url === '/data/') return; // never answers
      res.writeHead(200, { 'Content-Length': 1000 });
      res.write(Buffer.alloc(10));
      setTimeout(() => res.destroy(), 10);
    });
    const b = open(t, `rest:${url}`, { extended: { 'rest.timeout': '0.2' } });
    await assert.rejects(b.load(someFile), isError('io', true, /ended after 10 of 1000 bytes/));
    await assert.rejects(listAll(b, 'data'), isError('io', true, /rest\.timeout/));
    const down = open(t, `rest:http://127.0.0.1:${await closedPort()}/`);
    await assert.rejects(down.stat(someFile), isError('io', true, /ECONNREFUSED/));
  });

  it('creates a repository unless a config exists, and survives being closed twice', async (t) => {
    let config = false;
    const seen: string[] = [];
    const url = await serve(t, (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/r/config' && req.method === 'HEAD') res.writeHead(config ? 200 : 404).end();
      else res.writeHead(200).end();
    });
    const b = open(t, `rest:${url}r`);
    await b.create();
    assert.deepEqual(seen, ['HEAD /r/config', 'POST /r/?create=true']);
    config = true;
    await assert.rejects(b.create(), isError('exists', false));
    await b.close();
    await b.close();
    await b.save({ type: 'config', name: '' }, Buffer.from('after close'));
    assert.equal(seen.at(-1), 'POST /r/config');
  });
});
