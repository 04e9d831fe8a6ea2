'use strict';
// Harness for the PouchDB interop suite: starts the real `divan` binary on loopback with
// `--port 0` and a fresh data dir, reads the port from its first `listening on ADDR:PORT` stderr
// line, polls /_up with a deadline, and stops it by pid (SIGTERM, then SIGKILL). Only processes
// started here are ever signalled.
//
// Environment:
//   DIVAN_BIN   path of the binary (default /work/main/build/tools/divan)
//   DIVAN_KEEP  if set, data directories are kept (their paths are printed)

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');

const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-replication'));

const DEFAULT_BIN = '/work/main/build/tools/divan';
const START_DEADLINE_MS = 10000;   // port line plus a 200 from /_up
const STOP_DEADLINE_MS = 10000;    // between SIGTERM and SIGKILL
const REQUEST_TIMEOUT_MS = 15000;  // per HTTP request made by the tests themselves
const LOG_KEEP = 2000;             // stderr lines kept for diagnostics

const TEST_TIMEOUT_MS = 30000;     // every test: node:test `timeout` option

const live = new Set();            // child processes started by this file, killed on exit

function killAll(signal) {
  for (const child of live) {
    try { process.kill(child.pid, signal); } catch (_) { /* already gone */ }
  }
}
process.on('exit', () => killAll('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killAll('SIGKILL'); process.exit(130); });
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function fetchWithTimeout(url, init = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
  try {
    return await fetch(url, { ...init, signal: ctl.signal });
  } finally {
    clearTimeout(timer);
  }
}

class Divan {
  constructor(child, dataDir, port, admin) {
    this.child = child;
    this.dataDir = dataDir;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.lines = [];
    this.admin = admin;  // {name, password} when started with --admin; request() then sends it
  }

  // Access-log lines ("GET /db/doc 200 123us") written since `mark` (an index from logMark()).
  logMark() { return this.lines.length; }
  requestsSince(mark) {
    const out = [];
    for (const line of this.lines.slice(mark)) {
      const m = /\[info\] (\S+) (\S+) (\d{3}) \d+us/.exec(line);
      if (m) out.push({ method: m[1], target: m[2], status: Number(m[3]), line });
    }
    return out;
  }
  // The node logs a request after answering it, so a client can finish before its last requests
  // reach the log: wait until the log has been quiet for 100 ms (at most 2 s), then read it.
  async settledRequestsSince(mark) {
    const deadline = Date.now() + 2000;
    let seen = -1;
    while (seen !== this.lines.length && Date.now() < deadline) {
      seen = this.lines.length;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return this.requestsSince(mark);
  }
  logTail(n = 40) { return this.lines.slice(-n).join('\n'); }

  dbUrl(db) { return `${this.url}/${encodeURIComponent(db)}`; }

  // Plain HTTP against the node; returns {status, headers, body (parsed JSON or null), raw}.
  async request(method, target, { json, body, headers = {} } = {}) {
    const init = { method, headers: { Accept: 'application/json', ...headers } };
    if (this.admin && !init.headers.Authorization) {
      const { name, password } = this.admin;
      init.headers.Authorization = 'Basic ' + Buffer.from(`${name}:${password}`).toString('base64');
    }
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers['Content-Type'] = 'application/json';
    } else if (body !== undefined) {
      init.body = body;
    }
    const res = await fetchWithTimeout(this.url + target, init);
    const raw = Buffer.from(await res.arrayBuffer());
    let parsed = null;
    const ct = res.headers.get('content-type') || '';
    if (ct.includes('json') || ct.includes('text/plain')) {
      try { parsed = JSON.parse(raw.toString('utf8')); } catch (_) { parsed = null; }
    }
    return { status: res.status, headers: res.headers, body: parsed, raw };
  }

  async createDb(db) {
    const r = await this.request('PUT', '/' + encodeURIComponent(db));
    if (r.status !== 201 && r.status !== 202) {
      throw new Error(`PUT /${db} -> ${r.status} ${r.raw.toString()}`);
    }
  }

  async stop() {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      try { process.kill(child.pid, 'SIGTERM'); } catch (_) { /* gone */ }
      let timer;
      const deadline = new Promise((r) => { timer = setTimeout(() => r('timeout'), STOP_DEADLINE_MS); });
      const outcome = await Promise.race([exited, deadline]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        console.error(`[divan-interop] divan pid ${child.pid} ignored SIGTERM for ${STOP_DEADLINE_MS} ms: SIGKILL`);
        try { process.kill(child.pid, 'SIGKILL'); } catch (_) { /* gone */ }
        await exited;
      }
    }
    live.delete(child);
    if (process.env.DIVAN_KEEP) {
      console.error(`[divan-interop] kept data dir ${this.dataDir}`);
    } else {
      fs.rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}

// `admin` ({name, password}): start with `--admin NAME:PASSWORD` (no admin party) and send those
// credentials on every request() and in /_up; without it the node runs as an admin party.
// `args`: more flags (`--peer-probe-ms`, …).
async function startDivan({ admin, args: extra = [] } = {}) {
  const bin = process.env.DIVAN_BIN || DEFAULT_BIN;
  if (!fs.existsSync(bin)) throw new Error(`divan binary not found at ${bin} (set DIVAN_BIN)`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'divan-interop-'));
  const args = ['--port', '0', '--bind', '127.0.0.1', '--data-dir', dataDir, '--log-level', 'info'];
  if (admin) args.push('--admin', `${admin.name}:${admin.password}`);
  args.push(...extra);
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);

  const lines = [];
  let partial = '';
  let resolvePort;
  const portSeen = new Promise((r) => { resolvePort = r; });
  // Keep draining stderr for the node's whole life (a full pipe would block its logger).
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    partial += chunk;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      if (lines.length > LOG_KEEP * 2) lines.splice(0, lines.length - LOG_KEEP);
      const m = /listening on [\d.]+:(\d+)/.exec(line);
      if (m) resolvePort(Number(m[1]));
    }
  });
  child.once('exit', (code, sig) => resolvePort(new Error(`divan exited early (${code ?? sig})`)));

  let startTimer;
  const port = await Promise.race([
    portSeen,
    new Promise((r) => {
      startTimer = setTimeout(() => r(new Error('no "listening on" line within deadline')), START_DEADLINE_MS);
    }),
  ]);
  clearTimeout(startTimer);
  if (port instanceof Error) {
    try { process.kill(child.pid, 'SIGKILL'); } catch (_) { /* gone */ }
    live.delete(child);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`${port.message}; stderr:\n${lines.join('\n')}`);
  }
  const divan = new Divan(child, dataDir, port, admin);
  divan.lines = lines;

  const deadline = Date.now() + START_DEADLINE_MS;
  let last = 'no answer';
  for (;;) {
    try {
      const r = await divan.request('GET', '/_up');
      if (r.status === 200) break;
      last = `HTTP ${r.status}`;
    } catch (e) { last = `${e.message}${e.cause ? ` (${e.cause.code || e.cause.message})` : ''}`; }
    if (Date.now() > deadline) {
      const c = divan.child;
      if (c.exitCode !== null || c.signalCode !== null) last += `; divan exited (${c.exitCode ?? c.signalCode})`;
      await divan.stop();
      throw new Error(`GET ${divan.url}/_up did not answer 200 within ${START_DEADLINE_MS} ms ` +
        `(last: ${last}); stderr:\n${lines.slice(-20).join('\n')}`);
    }
    await sleep(50);
  }
  return divan;
}

let counter = 0;
function uniqueName(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${crypto.randomBytes(3).toString('hex')}`;
}

// A fresh in-memory PouchDB (memdown keeps a process-global store per name, so names are unique).
function localDb(prefix = 'local') {
  return new PouchDB(uniqueName(prefix), { adapter: 'memory' });
}

// A PouchDB handle on a Divan database (the http adapter creates it if missing).
function remoteDb(divan, db) {
  return new PouchDB(divan.dbUrl(db));
}

// Polls `check` (async, returns truthy when done) until it succeeds or `ms` elapses.
async function waitFor(what, check, ms = 20000, every = 100) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) { last = e; }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${
        last instanceof Error ? last.stack : JSON.stringify(last)}`);
    }
    await sleep(every);
  }
}

// Bounds a promise (replications, mostly) so a hung request fails the test with a message.
function within(ms, what, promise) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function md5Digest(buf) {
  return 'md5-' + crypto.createHash('md5').update(buf).digest('base64');
}

// Deterministic pseudo-random bytes (xorshift) so failures are reproducible.
function pseudoRandomBytes(n, seed = 12345) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

// Declares one file-level suite that owns one fresh node: `suite(name, (ctx, test) => {...})`;
// `ctx.divan` is the running node, `test(name, fn)` is node:test's `it` with the 30 s bound, and a
// failing test's message carries the tail of the node's access log (what PouchDB asked, and got).
function suite(name, body) {
  const { describe, it, before, after } = require('node:test');
  describe(name, () => {
    const ctx = { divan: null };
    before(async () => { ctx.divan = await startDivan(); }, { timeout: TEST_TIMEOUT_MS });
    after(async () => { if (ctx.divan) await ctx.divan.stop(); }, { timeout: TEST_TIMEOUT_MS });
    const test = (title, fn) => it(title, { timeout: TEST_TIMEOUT_MS }, async () => {
      const mark = ctx.divan ? ctx.divan.logMark() : 0;
      try {
        await fn();
      } catch (e) {
        if (ctx.divan && e && typeof e === 'object') {
          const log = ctx.divan.lines.slice(mark).slice(-60).join('\n');
          const extra = `\n--- divan log during this test (last 60 lines) ---\n${log}`;
          try { e.message += extra; e.stack = `${e.stack}${extra}`; } catch (_) { /* frozen */ }
        }
        throw e;
      }
    });
    body(ctx, test);
  });
}

module.exports = {
  suite,
  PouchDB, startDivan, localDb, remoteDb, uniqueName, waitFor, within, sleep, md5Digest,
  pseudoRandomBytes, TEST_TIMEOUT_MS,
};
