/**
 * A fault-injecting HTTP reverse proxy for resilience tests of the remote backends: it sits on
 * 127.0.0.1 in front of an upstream server (rclone's REST server, s3rver…) and, following a
 * seeded plan, answers some requests with 500/503, cuts responses mid-body, drops connections
 * before any response, or delays requests. Bodies are streamed both ways, never buffered whole.
 *
 * The Host header is forwarded unchanged: S3 SigV4 signs it, and the client signed for the
 * proxy's host:port, so rewriting it to the upstream's would break every signature. The
 * upstreams accept a foreign Host: s3rver treats an IP address as a path-style request (no
 * virtual-host bucket), and rclone's REST server ignores the Host header.
 */
import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the proxy does wrong, and how often; each rate is a fraction of the matching requests. */
export interface FaultPlan {
  /** Seed of the pseudo-random choices: the same seed and request sequence give the same faults. */
  seed: number;
  /** Requests answered 500 or 503 (S3-style XML error body) without reaching the upstream. */
  errorRate?: number;
  /** Requests forwarded whose response is cut after the headers and about half the body. */
  dropRate?: number;
  /** Requests whose connection is destroyed after the request is read, before any response. */
  dropRequestRate?: number;
  /** Requests delayed by a random 0..maxDelayMs before they are handled (or faulted). */
  delayRate?: number;
  /** Longest delay in milliseconds; default 100. */
  maxDelayMs?: number;
  /** Which requests may be faulted (default all); `path` is the request target, query included. */
  match?: (method: string, path: string) => boolean;
  /** Errors and drops injected under this plan at most; delays do not count, since they do not fail. */
  maxFaults?: number;
}

/** What happened to one faulted request. */
export type FaultKind = 'error' | 'drop' | 'dropRequest' | 'delay';

/** One injected fault, for assertions and for explaining a failed test. */
export interface FaultRecord {
  /** 1-based number of the request since the proxy started. */
  request: number;
  method: string;
  path: string;
  kind: FaultKind;
  /** Status sent, for `error`. */
  status?: number;
  /** Milliseconds waited, for `delay`. */
  delayMs?: number;
}

/** Counters since the proxy started (not reset by `setPlan`). */
export interface FlakyProxyStats {
  requests: number;
  errors: number;
  drops: number;
  dropsBeforeResponse: number;
  delays: number;
}

/** A running proxy. */
export interface FlakyProxy {
  /** `http://127.0.0.1:PORT`, to use in place of the upstream's URL. */
  url: string;
  port: number;
  stats: FlakyProxyStats;
  /** Every injected fault, in order of the requests' arrival. */
  faults: FaultRecord[];
  /** Every request's method and target, in order of arrival (to see what a client fetched). */
  requests: { method: string; path: string }[];
  /** Replaces the plan (null: pass everything through); restarts the PRNG and the maxFaults budget. */
  setPlan(plan: FaultPlan | null): void;
  /** Closes the server, every open connection and every pending delay; idempotent. */
  stop(): Promise<void>;
}

interface Decision {
  kind: 'error' | 'drop' | 'dropRequest' | 'none';
  status: number;
  delayMs: number | undefined;
}

// Hop-by-hop headers concern one connection only. `expect` goes too: this proxy's server has
// already answered `100-continue`, and SigV4 never signs it. `transfer-encoding` stays, so a
// chunked body is re-chunked on the other side.
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'expect',
]);

const statKey = { error: 'errors', drop: 'drops', dropRequest: 'dropsBeforeResponse' } as const;

/** Starts a proxy on a free port of 127.0.0.1 in front of `upstream` (`http://127.0.0.1:PORT`). */
export async function startFlakyProxy(upstream: string, plan: FaultPlan | null): Promise<FlakyProxy> {
  const target = new URL(upstream);
  if (target.protocol !== 'http:' || (target.pathname !== '/' && target.pathname !== '')) {
    throw new Error(`flaky proxy: upstream must be http://host:port, got ${upstream}`);
  }
  const upstreamHost = target.hostname;
  const upstreamPort = Number(target.port || 80);
  // A new upstream connection per request: a reused one the upstream has just closed as idle
  // would fail the request, a fault nobody planned. The agent is kept to destroy them on stop.
  const agent = new http.Agent({ keepAlive: false });
  const sockets = new Set<Socket>();
  const stopping = new AbortController();
  const stats: FlakyProxyStats = { requests: 0, errors: 0, drops: 0, dropsBeforeResponse: 0, delays: 0 };
  const faults: FaultRecord[] = [];
  const requests: { method: string; path: string }[] = [];
  let current: FaultPlan | null = null;
  let random = () => 0;
  let faultsLeft = 0;

  const setPlan = (next: FaultPlan | null) => {
    current = next;
    random = mulberry32(next?.seed ?? 0);
    faultsLeft = next?.maxFaults ?? Number.POSITIVE_INFINITY;
  };
  setPlan(plan);

  // Decided synchronously on arrival, so the fault sequence follows the request sequence.
  const decide = (method: string, path: string): Decision => {
    const none: Decision = { kind: 'none', status: 0, delayMs: undefined };
    if (current === null || !(current.match?.(method, path) ?? true)) return none;
    // A fixed number of draws per request, so changing one rate does not shift the others' choices.
    const [kindDraw, statusDraw, delayDraw, delayLength] = [random(), random(), random(), random()];
    const maxDelayMs = current.maxDelayMs ?? 100;
    const delayMs =
      delayDraw < (current.delayRate ?? 0) ? Math.floor(delayLength * (maxDelayMs + 1)) : undefined;
    const status = statusDraw < 0.5 ? 500 : 503;
    if (faultsLeft <= 0) return { ...none, delayMs };
    let threshold = 0;
    for (const [kind, rate] of [
      ['error', current.errorRate],
      ['dropRequest', current.dropRequestRate],
      ['drop', current.dropRate],
    ] as const) {
      threshold += rate ?? 0;
      if (kindDraw < threshold) {
        faultsLeft--;
        return { kind, status, delayMs };
      }
    }
    return { ...none, delayMs };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const n = ++stats.requests;
    const method = req.method ?? '';
    const path = req.url ?? '';
    const decision = decide(method, path);
    requests.push({ method, path });
    // Counted and recorded on arrival, so `faults` follows the request order even when delays reorder them.
    if (decision.delayMs !== undefined) {
      stats.delays++;
      faults.push({ request: n, method, path, kind: 'delay', delayMs: decision.delayMs });
    }
    if (decision.kind !== 'none') {
      stats[statKey[decision.kind]]++;
      const status = decision.kind === 'error' ? { status: decision.status } : {};
      faults.push({ request: n, method, path, kind: decision.kind, ...status });
    }
    try {
      if (decision.delayMs !== undefined)
        await sleep(decision.delayMs, undefined, { signal: stopping.signal });
      switch (decision.kind) {
        case 'error': {
          // Read the whole request first, as a failing server would: answering while the client
          // still sends could make it see EPIPE instead of the status, so the fault would vary.
          await drain(req);
          const body = errorBody(decision.status);
          res.writeHead(decision.status, {
            'content-type': 'application/xml',
            'content-length': body.length,
          });
          res.end(body);
          return;
        }
        case 'dropRequest':
          await drain(req);
          req.socket.destroy();
          return;
        case 'drop':
        case 'none':
          await forward(req, res, decision.kind === 'drop');
          return;
      }
    } catch {
      // The upstream failed, the client went away, or the proxy is stopping.
      if (!res.headersSent && !req.socket.destroyed && !stopping.signal.aborted) {
        res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' });
        res.end('flaky proxy: upstream failed\n');
      } else {
        req.socket.destroy();
      }
    }
  };

  const forward = (req: IncomingMessage, res: ServerResponse, cut: boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const upstreamReq = http.request({
        agent,
        host: upstreamHost,
        port: upstreamPort,
        method: req.method,
        path: req.url,
        headers: endToEnd(req.headers),
      });
      upstreamReq.on('response', (upstreamRes) => {
        (cut ? cutResponse(req, res, upstreamRes) : passResponse(res, upstreamRes)).then(resolve, reject);
      });
      // An upstream failure rejects both this and the pipeline below; the first settlement wins.
      upstreamReq.on('error', reject);
      pipeline(req, upstreamReq).catch(reject);
    });

  const server = http.createServer((req, res) => void handle(req, res));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= new Promise<void>((resolve) => {
      stopping.abort();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
      agent.destroy();
    });
    return stopped;
  };

  return { url: `http://127.0.0.1:${port}`, port, stats, faults, requests, setPlan, stop };
}

async function passResponse(res: ServerResponse, upstreamRes: IncomingMessage): Promise<void> {
  res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, endToEnd(upstreamRes.headers));
  await pipeline(upstreamRes, res);
}

/**
 * Sends the upstream's status and headers (its Content-Length included) and about half the body,
 * then closes the client connection, which sees a premature end. A response without a body has
 * nothing to cut, so its connection is closed before the headers.
 */
async function cutResponse(
  req: IncomingMessage,
  res: ServerResponse,
  upstreamRes: IncomingMessage,
): Promise<void> {
  const socket = req.socket;
  const status = upstreamRes.statusCode ?? 502;
  const length = upstreamRes.headers['content-length'];
  const bodyless = req.method === 'HEAD' || status === 204 || status === 304 || length === '0';
  if (bodyless) {
    upstreamRes.destroy();
    socket.destroy();
    return;
  }
  res.writeHead(status, upstreamRes.statusMessage, endToEnd(upstreamRes.headers));
  res.flushHeaders();
  // Without a Content-Length, half of the first chunk.
  let limit = length === undefined ? undefined : Math.floor(Number(length) / 2);
  let sent = 0;
  for await (const chunk of upstreamRes as AsyncIterable<Buffer>) {
    limit ??= Math.floor(chunk.length / 2);
    const part = chunk.subarray(0, limit - sent);
    sent += part.length;
    if (!res.write(part)) await once(res, 'drain');
    if (sent >= limit) break;
  }
  // end(), not destroy(): destroy would discard what is still queued in the socket, so how much
  // of the body arrives would vary. The FIN after the partial body is the premature close.
  socket.end(() => socket.destroy());
}

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = String(headers['connection'] ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase());
  const result: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name) && !named.includes(name)) result[name] = value;
  }
  return result;
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) {
    // Discard the body.
  }
}

// S3's own codes, so an S3 client classifies the injected error as it would a real one.
function errorBody(status: number): Buffer {
  const [code, message] =
    status === 503
      ? ['SlowDown', 'Please reduce your request rate.']
      : ['InternalError', 'We encountered an internal error.'];
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message} (flaky proxy)</Message></Error>\n`,
  );
}

/** A small seeded PRNG (mulberry32): uniform floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
