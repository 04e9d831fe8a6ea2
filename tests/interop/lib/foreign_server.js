'use strict';
// A foreign CouchDB-compatible server for the interop suite: express-pouchdb (the HTTP layer of
// pouchdb-server, pinned in package-lock.json) over PouchDB 9 in memory, run by
// lib/foreign_server_main.js in a child process on 127.0.0.1 with a free port, stopped by its pid
// (SIGTERM, then SIGKILL). Only the process started here is ever signalled.
//
// It runs with one server admin (basic auth, as CouchDB), and `requests` records every request it
// answered ({method, target, status, auth}; status 0 and aborted when the client hung up first),
// so a failing test can say what divan asked and what it got.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const MAIN = path.join(__dirname, 'foreign_server_main.js');
const START_DEADLINE_MS = 10000;   // the {"listening": PORT} line
const STOP_DEADLINE_MS = 5000;     // between SIGTERM and SIGKILL
const REQUEST_TIMEOUT_MS = 15000;  // per HTTP request made by the tests themselves
const LOG_KEEP = 2000;             // request lines kept for diagnostics

const live = new Set();            // child processes started by this file, killed on exit
process.on('exit', () => {
  for (const child of live) {
    try { process.kill(child.pid, 'SIGKILL'); } catch (_) { /* already gone */ }
  }
});

class ForeignServer {
  constructor(child, port, admin, tmpDir, requests, stderr) {
    this.child = child;
    this.port = port;
    this.admin = admin;            // {name, password}
    this.tmpDir = tmpDir;
    this.url = `http://127.0.0.1:${port}`;
    this.requests = requests;      // filled as the child reports them
    this.stderr = stderr;          // the child's stderr lines
  }

  // The URL divan is given: credentials in the userinfo, the database name escaped.
  dbUrlWithAuth(db) {
    const { name, password } = this.admin;
    return `http://${encodeURIComponent(name)}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${encodeURIComponent(db)}`;
  }

  authHeader() {
    const { name, password } = this.admin;
    return 'Basic ' + Buffer.from(`${name}:${password}`).toString('base64');
  }

  logMark() { return this.requests.length; }
  requestsSince(mark) { return this.requests.slice(mark); }
  static format(r) {
    return `${r.method} ${r.target} ${r.aborted ? 'aborted by the client' : r.status}${r.auth ? '' : ' (no auth)'}`;
  }

  // Plain HTTP as the admin; returns {status, headers, body (parsed JSON or null), raw}.
  async request(method, target, { json, body, headers = {} } = {}) {
    const init = { method, headers: { Accept: 'application/json', Authorization: this.authHeader(), ...headers } };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers['Content-Type'] = 'application/json';
    } else if (body !== undefined) {
      init.body = body;
    }
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
    try {
      const res = await fetch(this.url + target, { ...init, signal: ctl.signal });
      const raw = Buffer.from(await res.arrayBuffer());
      let parsed = null;
      try { parsed = JSON.parse(raw.toString('utf8')); } catch (_) { parsed = null; }
      return { status: res.status, headers: res.headers, body: parsed, raw };
    } finally {
      clearTimeout(timer);
    }
  }

  async createDb(db) {
    const r = await this.request('PUT', '/' + encodeURIComponent(db));
    if (r.status !== 201) throw new Error(`foreign PUT /${db} -> ${r.status} ${r.raw.toString()}`);
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
        try { process.kill(child.pid, 'SIGKILL'); } catch (_) { /* gone */ }
        await exited;
      }
    }
    live.delete(child);
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

async function startForeignServer({ admin = { name: 'fadmin', password: 'fpw' } } = {}) {
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'divan-foreign-'));
  const child = spawn(process.execPath, [MAIN, tmpDir], {
    cwd: __dirname,
    env: { ...process.env, FOREIGN_ADMIN: `${admin.name}:${admin.password}` },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);

  const requests = [];
  const stderr = [];
  let resolvePort;
  const portSeen = new Promise((r) => { resolvePort = r; });
  const lines = (stream, onLine) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      partial += chunk;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        onLine(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
    });
  };
  lines(child.stdout, (line) => {
    let msg;
    try { msg = JSON.parse(line); } catch (_) { stderr.push(line); return; }
    if (msg.listening) resolvePort(msg.listening);
    if (msg.req) {
      requests.push(msg.req);
      if (requests.length > LOG_KEEP * 2) requests.splice(0, requests.length - LOG_KEEP);
    }
  });
  lines(child.stderr, (line) => {
    stderr.push(line);
    if (stderr.length > LOG_KEEP) stderr.shift();
  });
  child.once('exit', (code, sig) => resolvePort(new Error(`foreign server exited early (${code ?? sig})`)));

  let timer;
  const port = await Promise.race([portSeen, new Promise((r) => {
    timer = setTimeout(() => r(new Error('no {"listening"} line within deadline')), START_DEADLINE_MS);
  })]);
  clearTimeout(timer);
  const server = new ForeignServer(child, port, admin, tmpDir, requests, stderr);
  if (port instanceof Error) {
    await server.stop();
    throw new Error(`${port.message}; stderr:\n${stderr.join('\n')}`);
  }
  return server;
}

module.exports = { startForeignServer, ForeignServer };
