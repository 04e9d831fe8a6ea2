'use strict';
// A foreign server: Divan's own replicator (POST /_replicate) against express-pouchdb, the HTTP
// layer of pouchdb-server (npm, in memory, in this process; lib/foreign_server.js). Divan pulls
// from it and pushes to it, one-shot and continuous, with credentials in the URL: every foreign
// database is readable by server admins only (_security), so a request without them fails.
// After each one-shot run both sides must agree on every doc: winner, _conflicts, history, leaves
// (deleted ones too), attachments byte for byte; a second run must write nothing.
const assert = require('node:assert/strict');
const { describe, it, before, after } = require('node:test');
const { startDivan, uniqueName, waitFor, sleep, pseudoRandomBytes, md5Digest, TEST_TIMEOUT_MS } =
  require('../lib/harness');
const { startForeignServer, ForeignServer } = require('../lib/foreign_server');

const hex = (c) => c.repeat(32);
const DIVAN_ADMIN = { name: 'admin', password: 'pw' };
const ONE_SHOT_MS = 20000;     // a one-shot POST /_replicate must answer within this
const CONTINUOUS_MS = 20000;   // a doc written during a continuous job must arrive within this
const IDLE_MS = 13000;         // longer than divan's longpoll timeout (10 s) and 2 heartbeats (6 s)

const BIN = pseudoRandomBytes(40000, 4242);   // a binary attachment, inline base64
const TEXT = Buffer.from('plain text attachment, written with a standalone PUT\n');

// Leaf revisions written by fill(): 10 plain docs (one updated, one deleted), "two" (2 leaves),
// "tomb" (a live leaf and a deleted one), "att-inline", "att-put".
const LEAVES = 10 + 2 + 2 + 1 + 1;

// Writes the fixture through `side.request` (Divan or the foreign server: the same HTTP API).
async function fill(side, db) {
  const ok = (r, status, what) => assert.equal(r.status, status, `${what}: ${r.raw.toString()}`);
  const docs = [];
  for (let i = 0; i < 10; i++) docs.push({ _id: `d-${String(i).padStart(2, '0')}`, i, s: `v${i}` });
  ok(await side.request('POST', `/${db}/_bulk_docs`, { json: { docs } }), 201, '_bulk_docs');
  const d0 = await side.request('GET', `/${db}/d-00`);
  ok(await side.request('PUT', `/${db}/d-00`, { json: { ...d0.body, s: 'updated' } }), 201, 'update d-00');
  const d1 = await side.request('GET', `/${db}/d-01`);
  ok(await side.request('DELETE', `/${db}/d-01?rev=${d1.body._rev}`), 200, 'delete d-01');

  // "two": two branches of one length (winner: the greater rev id); "tomb": a live 2-branch and a
  // deleted 3-branch (winner: the live one).
  const conflicted = [
    { _id: 'two', _rev: `2-${hex('b')}`, _revisions: { start: 2, ids: [hex('b'), hex('a')] }, v: 'b' },
    { _id: 'two', _rev: `2-${hex('c')}`, _revisions: { start: 2, ids: [hex('c'), hex('a')] }, v: 'c' },
    { _id: 'tomb', _rev: `2-${hex('4')}`, _revisions: { start: 2, ids: [hex('4'), hex('5')] }, v: 'alive' },
    { _id: 'tomb', _rev: `3-${hex('6')}`, _revisions: { start: 3, ids: [hex('6'), hex('7'), hex('5')] }, _deleted: true },
  ];
  ok(await side.request('POST', `/${db}/_bulk_docs`, { json: { docs: conflicted, new_edits: false } }),
    201, '_bulk_docs new_edits:false');

  ok(await side.request('PUT', `/${db}/att-inline`, { json: {
    kind: 'inline',
    _attachments: { 'blob.bin': { content_type: 'application/octet-stream', data: BIN.toString('base64') } },
  } }), 201, 'att-inline');
  const created = await side.request('PUT', `/${db}/att-put`, { json: { kind: 'standalone' } });
  ok(created, 201, 'att-put');
  ok(await side.request('PUT', `/${db}/att-put/note.txt?rev=${created.body.rev}`,
    { body: TEXT, headers: { 'Content-Type': 'text/plain' } }), 201, 'att-put/note.txt');
}

// What one side holds, in a form both must agree on: per doc id (deleted ones too, from
// _changes?style=all_docs) the winner with _conflicts and _revisions, every leaf with its
// _revisions and _deleted, and each attachment's type, digest and bytes.
async function snapshot(side, db) {
  const get = async (target) => {
    const r = await side.request('GET', `/${db}${target}`);
    assert.equal(r.status, 200, `GET /${db}${target}: ${r.raw.toString()}`);
    return r.body;
  };
  const changes = await get('/_changes?style=all_docs');
  const out = {};
  for (const row of changes.results) {
    const id = row.id;
    const enc = encodeURIComponent(id);
    const entry = { deleted: Boolean(row.deleted), leafRevs: row.changes.map((c) => c.rev).sort() };
    const leaves = await side.request('GET', `/${db}/${enc}?open_revs=all&revs=true`,
      { headers: { Accept: 'application/json' } });
    assert.equal(leaves.status, 200, `open_revs=all of ${id}: ${leaves.raw.toString()}`);
    entry.leaves = leaves.body.map((x) => {
      assert.ok(x.ok, `open_revs=all of ${id}: ${JSON.stringify(x)}`);
      return normalize(x.ok);
    }).sort((a, b) => (a._rev < b._rev ? -1 : 1));
    if (!row.deleted) {
      const winner = await get(`/${enc}?conflicts=true&revs=true`);
      entry.winner = normalize(winner);
      entry.conflicts = (winner._conflicts || []).slice().sort();
      entry.attachments = {};
      for (const [name, stub] of Object.entries(winner._attachments || {})) {
        const r = await side.request('GET', `/${db}/${enc}/${encodeURIComponent(name)}`, { headers: { Accept: '*/*' } });
        assert.equal(r.status, 200, `GET attachment ${id}/${name}`);
        entry.attachments[name] = {
          content_type: stub.content_type,
          digest: stub.digest,
          length: stub.length,
          bytes_md5: md5Digest(r.raw),
          header_type: (r.headers.get('content-type') || '').split(';')[0],
        };
      }
    }
    out[id] = entry;
  }
  return out;
}

// A doc as compared: the body, _id, _rev, _deleted, _revisions, attachment stubs without the
// fields that are local bookkeeping (revpos, stub, encoding details).
function normalize(doc) {
  const out = {};
  for (const [k, v] of Object.entries(doc)) {
    if (k === '_conflicts') continue;
    if (k === '_attachments') {
      out._attachments = {};
      for (const [name, a] of Object.entries(v)) {
        out._attachments[name] = { content_type: a.content_type, digest: a.digest, length: a.length };
      }
      continue;
    }
    out[k] = v;
  }
  return out;
}

// `snap` with the digests of text attachments (those CouchDB stores gzip) taken out; binary ones
// stay, and every attachment's length and bytes_md5 stay.
function withoutTextDigests(snap) {
  const strip = (atts) => {
    for (const a of Object.values(atts || {})) {
      if ((a.content_type || '').startsWith('text/')) delete a.digest;
    }
  };
  const copy = structuredClone(snap);
  for (const entry of Object.values(copy)) {
    strip(entry.attachments);
    if (entry.winner) strip(entry.winner._attachments);
    for (const leaf of entry.leaves) strip(leaf._attachments);
  }
  return copy;
}

// What fill() wrote, checked on one side (so two sides that agree are also right).
function checkFixture(snap, where) {
  assert.deepEqual(Object.keys(snap).sort(),
    ['att-inline', 'att-put', 'tomb', 'two', ...Array.from({ length: 10 }, (_, i) => `d-${String(i).padStart(2, '0')}`)].sort(),
    `${where}: doc ids`);
  assert.equal(Object.values(snap).reduce((n, e) => n + e.leafRevs.length, 0), LEAVES, `${where}: leaf count`);
  assert.equal(snap['d-00'].winner.s, 'updated', `${where}: d-00 updated`);
  assert.equal(snap['d-01'].deleted, true, `${where}: d-01 deleted`);
  assert.equal(snap['d-01'].leaves[0]._deleted, true, `${where}: d-01 leaf is a tombstone`);
  assert.equal(snap.two.winner._rev, `2-${hex('c')}`, `${where}: winner of two`);
  assert.deepEqual(snap.two.conflicts, [`2-${hex('b')}`], `${where}: _conflicts of two`);
  assert.equal(snap.tomb.winner._rev, `2-${hex('4')}`, `${where}: winner of tomb`);
  assert.deepEqual(snap.tomb.conflicts, [], `${where}: _conflicts of tomb`);
  assert.deepEqual(snap.tomb.leafRevs, [`2-${hex('4')}`, `3-${hex('6')}`], `${where}: leaves of tomb`);
  assert.equal(snap.tomb.leaves[1]._deleted, true, `${where}: deleted leaf of tomb`);
  assert.deepEqual(snap.tomb.leaves[1]._revisions, { start: 3, ids: [hex('6'), hex('7'), hex('5')] },
    `${where}: history of tomb's deleted leaf`);
  const blob = snap['att-inline'].attachments['blob.bin'];
  assert.equal(blob.digest, md5Digest(BIN), `${where}: blob.bin digest`);
  assert.equal(blob.bytes_md5, md5Digest(BIN), `${where}: blob.bin bytes`);
  assert.equal(blob.length, BIN.length, `${where}: blob.bin length`);
  assert.equal(blob.content_type, 'application/octet-stream', `${where}: blob.bin type`);
  const note = snap['att-put'].attachments['note.txt'];
  assert.equal(note.bytes_md5, md5Digest(TEXT), `${where}: note.txt bytes`);
  assert.equal(note.content_type, 'text/plain', `${where}: note.txt type`);
  assert.equal(note.header_type, 'text/plain', `${where}: note.txt Content-Type`);
}

describe('foreign server: Divan <-> express-pouchdb (pouchdb-server)', () => {
  const ctx = { divan: null, foreign: null };
  before(async () => {
    ctx.foreign = await startForeignServer();
    ctx.divan = await startDivan({ admin: DIVAN_ADMIN });
  }, { timeout: TEST_TIMEOUT_MS });
  after(async () => {
    if (ctx.divan) await ctx.divan.stop();
    if (ctx.foreign) await ctx.foreign.stop();
  }, { timeout: TEST_TIMEOUT_MS });

  // node:test's `it` with the 30 s bound (or `timeout`); a failure carries both sides' request logs.
  const test = (title, fn, timeout = TEST_TIMEOUT_MS) => it(title, { timeout }, async () => {
    const dMark = ctx.divan ? ctx.divan.logMark() : 0;
    const fMark = ctx.foreign ? ctx.foreign.logMark() : 0;
    try {
      await fn();
    } catch (e) {
      if (e && typeof e === 'object') {
        const dLog = ctx.divan ? ctx.divan.lines.slice(dMark).slice(-60).join('\n') : '';
        const fLog = ctx.foreign ? ctx.foreign.requestsSince(fMark).slice(-60).map(ForeignServer.format).join('\n') : '';
        const extra = `\n--- divan log during this test (last 60 lines) ---\n${dLog}` +
          `\n--- foreign server requests during this test (last 60) ---\n${fLog}`;
        try { e.message += extra; e.stack = `${e.stack}${extra}`; } catch (_) { /* frozen */ }
      }
      throw e;
    }
  });

  // A foreign database only server admins may read or write.
  async function foreignDb(prefix) {
    const db = uniqueName(prefix);
    await ctx.foreign.createDb(db);
    const sec = await ctx.foreign.request('PUT', `/${db}/_security`,
      { json: { admins: { names: [], roles: [] }, members: { names: [], roles: ['_admin'] } } });
    assert.equal(sec.status, 200, sec.raw.toString());
    return db;
  }

  async function replicate(body, expectStatus = 200) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), ONE_SHOT_MS);
    let r;
    try {
      const res = await fetch(`${ctx.divan.url}/_replicate`, {
        method: 'POST',
        signal: ctl.signal,
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          Authorization: 'Basic ' + Buffer.from(`${DIVAN_ADMIN.name}:${DIVAN_ADMIN.password}`).toString('base64'),
        },
        body: JSON.stringify(body),
      });
      r = { status: res.status, text: await res.text() };
    } catch (e) {
      throw new Error(`POST /_replicate ${JSON.stringify(body)} did not answer within ${ONE_SHOT_MS} ms: ${e.message}`);
    } finally {
      clearTimeout(timer);
    }
    assert.equal(r.status, expectStatus, `POST /_replicate ${JSON.stringify(body)} -> ${r.status} ${r.text}`);
    return JSON.parse(r.text);
  }

  // A one-shot answer's counters (CouchDB: the first history entry, cumulative over sessions).
  function counters(answer) {
    assert.equal(answer.ok, true, JSON.stringify(answer));
    assert.ok(Array.isArray(answer.history) && answer.history.length > 0, `history: ${JSON.stringify(answer)}`);
    return answer.history[0];
  }

  // `sameDigests`: a pull keeps the source's digests (Divan stores each attachment as its source
  // stores it). A push cannot: the target digests what it stores itself, pouchdb-server the
  // identity bytes, CouchDB and Divan the gzip bytes of text types. The bytes must agree anyway.
  async function agree(divanDb, foreignDbName, { sameDigests = true } = {}) {
    let d = await snapshot(ctx.divan, divanDb);
    let f = await snapshot(ctx.foreign, foreignDbName);
    checkFixture(f, 'foreign');
    checkFixture(d, 'divan');
    if (!sameDigests) {
      d = withoutTextDigests(d);
      f = withoutTextDigests(f);
    }
    assert.deepEqual(d, f, 'divan and the foreign server hold the same docs, revs, leaves, attachments');
  }

  // A second one-shot run of the same replication writes nothing: CouchDB answers no_changes, or
  // (with rows seen) counters unchanged since the first run (they are cumulative).
  async function secondRunWritesNothing(body, first) {
    const before = counters(first);
    const again = await replicate(body);
    if (again.no_changes === true) return;
    const c = counters(again);
    assert.equal(c.docs_written, before.docs_written, `second run wrote docs: ${JSON.stringify(again)}`);
    assert.equal(c.doc_write_failures, 0, JSON.stringify(again));
  }

  test('(a) one-shot pull from the foreign server: docs, deletion, conflict, attachments match', async () => {
    const src = await foreignDb('fpull');
    await fill(ctx.foreign, src);
    const dst = uniqueName('dpull');
    await ctx.divan.createDb(dst);

    const body = { source: ctx.foreign.dbUrlWithAuth(src), target: dst };
    const answer = await replicate(body);
    const c = counters(answer);
    assert.equal(c.doc_write_failures, 0, JSON.stringify(answer));
    assert.equal(c.docs_written, LEAVES, JSON.stringify(answer));
    await agree(dst, src);

    // (c) pull: a second run writes nothing.
    await secondRunWritesNothing(body, answer);
    await agree(dst, src);
  });

  test('(b) one-shot push to the foreign server: docs, deletion, conflict, attachments match', async () => {
    const src = uniqueName('dpush');
    await ctx.divan.createDb(src);
    await fill(ctx.divan, src);
    const dst = await foreignDb('fpush');

    const body = { source: src, target: ctx.foreign.dbUrlWithAuth(dst) };
    const answer = await replicate(body);
    const c = counters(answer);
    assert.equal(c.doc_write_failures, 0, JSON.stringify(answer));
    assert.equal(c.docs_written, LEAVES, JSON.stringify(answer));
    await agree(src, dst, { sameDigests: false });

    // (c) push: a second run writes nothing.
    await secondRunWritesNothing(body, answer);
    await agree(src, dst, { sameDigests: false });
  });

  // Starts a continuous job, checks a doc written before and one written after the start both
  // arrive within CONTINUOUS_MS, cancels it, and checks the job is gone.
  async function continuous(body, writeSrc, readDst) {
    await writeSrc('before-start', { n: 1 });
    const started = await replicate({ ...body, continuous: true }, 202);
    assert.equal(started.ok, true, JSON.stringify(started));
    assert.equal(typeof started._local_id, 'string', JSON.stringify(started));
    try {
      await waitFor('the doc written before the start', () => readDst('before-start'), CONTINUOUS_MS);
      await writeSrc('after-start', { n: 2 });
      const got = await waitFor('the doc written after the start', () => readDst('after-start'), CONTINUOUS_MS);
      assert.equal(got.n, 2);
    } finally {
      const cancelled = await replicate({ ...body, continuous: true, cancel: true });
      assert.equal(cancelled.ok, true, JSON.stringify(cancelled));
      assert.equal(cancelled._local_id, started._local_id, JSON.stringify(cancelled));
    }
    const jobs = await ctx.divan.request('GET', '/_scheduler/jobs');
    assert.equal(jobs.status, 200, jobs.raw.toString());
    const ids = jobs.body.jobs.map((j) => j.id);
    assert.ok(!ids.includes(started._local_id), `job still listed after cancel: ${JSON.stringify(ids)}`);
  }

  const docReader = (side, db) => async (id) => {
    const r = await side.request('GET', `/${db}/${id}`);
    return r.status === 200 ? r.body : null;
  };
  const docWriter = (side, db) => async (id, body) => {
    const r = await side.request('PUT', `/${db}/${id}`, { json: body });
    assert.equal(r.status, 201, `PUT ${id}: ${r.raw.toString()}`);
  };

  test('(d) continuous pull: a doc written to the foreign server after the start arrives, then cancel', async () => {
    const src = await foreignDb('fcpull');
    const dst = uniqueName('dcpull');
    await ctx.divan.createDb(dst);
    await continuous({ source: ctx.foreign.dbUrlWithAuth(src), target: dst },
      docWriter(ctx.foreign, src), docReader(ctx.divan, dst));
  });

  test('(d) continuous push: a doc written to Divan after the start arrives, then cancel', async () => {
    const src = uniqueName('dcpush');
    await ctx.divan.createDb(src);
    const dst = await foreignDb('fcpush');
    await continuous({ source: src, target: ctx.foreign.dbUrlWithAuth(dst) },
      docWriter(ctx.divan, src), docReader(ctx.foreign, dst));
  });

  // express-pouchdb ignores a longpoll's `timeout` (divan asks for 10 s) and writes a heartbeat
  // newline every 6 s instead, so the request stays open until a change comes. An idle continuous
  // pull must live through that: no crash, and a doc written after the idle time arrives.
  test('(d) continuous pull idle for longer than its longpoll timeout, then a doc arrives', async () => {
    const src = await foreignDb('fidle');
    const dst = uniqueName('didle');
    await ctx.divan.createDb(dst);
    const body = { source: ctx.foreign.dbUrlWithAuth(src), target: dst, continuous: true };
    const started = await replicate(body, 202);
    try {
      await sleep(IDLE_MS);
      await docWriter(ctx.foreign, src)('after-idle', { n: 3 });
      const t0 = Date.now();
      await waitFor('the doc written after the idle time', () => docReader(ctx.divan, dst)('after-idle'), CONTINUOUS_MS);
      const job = await ctx.divan.request('GET', `/_scheduler/jobs/${encodeURIComponent(started._local_id)}`);
      assert.equal(job.status, 200, job.raw.toString());
      const events = job.body.history.map((h) => h.type);
      assert.ok(!events.includes('crashed'), `job history: ${JSON.stringify(job.body.history)}`);
      assert.ok(Date.now() - t0 < 5000, `the doc took ${Date.now() - t0} ms to arrive`);
    } finally {
      await replicate({ ...body, cancel: true });
    }
  }, IDLE_MS + CONTINUOUS_MS + 10000);

  test('credentials are required on the foreign side (the URL userinfo is what divan sends)', async () => {
    const db = await foreignDb('fauth');
    const anon = await fetch(`${ctx.foreign.url}/${db}`);
    assert.equal(anon.status, 401, 'an anonymous read of a foreign db is refused');
    await anon.arrayBuffer();
    // Every request divan made to the foreign server carried an Authorization header.
    const bare = ctx.foreign.requests.filter((r) => !r.auth && r.target !== `/${db}`);
    assert.deepEqual(bare.map((r) => `${r.method} ${r.target} ${r.status}`), [],
      'requests without credentials');
  });
});
