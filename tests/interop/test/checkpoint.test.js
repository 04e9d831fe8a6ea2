'use strict';
// 4. checkpoints: a second replication with nothing new transfers nothing, and it knows so from the
// `_local` checkpoint docs (it asks _changes from the checkpointed seq, not from 0).
const assert = require('node:assert/strict');
const { suite, localDb, remoteDb, uniqueName, within } = require('../lib/harness');

suite('checkpoints: _local docs on Divan', (ctx, test) => {
  test('push twice: the second writes nothing and starts from the checkpoint', async () => {
    const divan = ctx.divan;
    const db = uniqueName('ckpush');
    const local = localDb();
    const docs = [];
    for (let i = 0; i < 10; i++) docs.push({ _id: `c${i}`, i });
    await local.bulkDocs(docs);
    const remote = remoteDb(divan, db);

    const first = await within(20000, 'first push', local.replicate.to(remote));
    assert.equal(first.docs_written, 10, JSON.stringify(first));

    // PouchDB wrote its checkpoint as a _local doc on Divan (and on the local side).
    const locals = await divan.request('GET', `/${db}/_local_docs`);
    assert.equal(locals.status, 200, locals.raw.toString());
    assert.equal(locals.body.rows.length, 1, JSON.stringify(locals.body));
    const ckId = locals.body.rows[0].id;
    assert.match(ckId, /^_local\//);
    const ck = await divan.request('GET', `/${db}/${ckId}`);
    assert.equal(ck.status, 200);
    assert.ok(ck.body.session_id, JSON.stringify(ck.body));
    assert.equal(String(ck.body.last_seq), String(first.last_seq), JSON.stringify(ck.body));
    const localCk = await local.get(ckId);
    assert.equal(localCk.session_id, ck.body.session_id);

    const mark = divan.logMark();
    const second = await within(20000, 'second push', local.replicate.to(remote));
    assert.equal(second.ok, true);
    assert.equal(second.docs_written, 0, JSON.stringify(second));
    assert.equal(second.docs_read, 0, JSON.stringify(second));
    const reqs = await divan.settledRequestsSince(mark);
    // It read the checkpoint back from Divan …
    assert.ok(reqs.some((r) => r.method === 'GET' && r.target.startsWith(`/${db}/_local/`) && r.status === 200),
      reqs.map((r) => r.line).join('\n'));
    // … and so had no change to diff or send.
    assert.ok(!reqs.some((r) => /_revs_diff|_bulk_docs/.test(r.target)), reqs.map((r) => r.line).join('\n'));
  });

  test('pull twice: the second asks _changes since the checkpointed seq and writes nothing', async () => {
    const divan = ctx.divan;
    const db = uniqueName('ckpull');
    await divan.createDb(db);
    const docs = [];
    for (let i = 0; i < 10; i++) docs.push({ _id: `c${i}`, i });
    const bulk = await divan.request('POST', `/${db}/_bulk_docs`, { json: { docs } });
    assert.equal(bulk.status, 201);
    const local = localDb();
    const remote = remoteDb(divan, db);

    const first = await within(20000, 'first pull', local.replicate.from(remote));
    assert.equal(first.docs_written, 10, JSON.stringify(first));

    const mark = divan.logMark();
    const second = await within(20000, 'second pull', local.replicate.from(remote));
    assert.equal(second.ok, true);
    assert.equal(second.docs_written, 0, JSON.stringify(second));
    assert.equal(second.docs_read, 0, JSON.stringify(second));
    const reqs = await divan.settledRequestsSince(mark);
    const changes = reqs.filter((r) => r.target.startsWith(`/${db}/_changes`));
    assert.ok(changes.length >= 1, reqs.map((r) => r.line).join('\n'));
    for (const c of changes) {
      const since = new URL(c.target, divan.url).searchParams.get('since');
      assert.ok(since !== null && since !== '0', `second pull restarted from 0: ${c.line}`);
    }
    assert.ok(!reqs.some((r) => /_revs_diff|_bulk_get/.test(r.target)), reqs.map((r) => r.line).join('\n'));

    // A new doc on Divan: the third pull moves exactly that one.
    await divan.request('PUT', `/${db}/late`, { json: { late: true } });
    const third = await within(20000, 'third pull', local.replicate.from(remote));
    assert.equal(third.docs_written, 1, JSON.stringify(third));
    assert.equal((await local.get('late')).late, true);
  });
});
