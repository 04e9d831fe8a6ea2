'use strict';
// 2. pull: docs written to Divan over HTTP (plain writes, an update, a delete, and conflicted trees
// written with new_edits:false) replicate into a local PouchDB, which must then agree with Divan on
// every winner and every _conflicts list.
const assert = require('node:assert/strict');
const { suite, localDb, remoteDb, uniqueName, within } = require('../lib/harness');

const hex = (c) => c.repeat(32);

suite('pull: Divan -> PouchDB', (ctx, test) => {
  test('docs, deletions and conflicted trees arrive with the same winners and _conflicts', async () => {
    const divan = ctx.divan;
    const db = uniqueName('pull');
    await divan.createDb(db);

    // 20 plain docs through _bulk_docs.
    const docs = [];
    for (let i = 0; i < 20; i++) docs.push({ _id: `p-${String(i).padStart(2, '0')}`, i, s: `v${i}` });
    const bulk = await divan.request('POST', `/${db}/_bulk_docs`, { json: { docs } });
    assert.equal(bulk.status, 201, bulk.raw.toString());
    // One updated with PUT, one deleted with DELETE.
    const p0 = await divan.request('GET', `/${db}/p-00`);
    const up = await divan.request('PUT', `/${db}/p-00`, { json: { ...p0.body, s: 'updated' } });
    assert.equal(up.status, 201, up.raw.toString());
    const p1 = await divan.request('GET', `/${db}/p-01`);
    const rm = await divan.request('DELETE', `/${db}/p-01?rev=${p1.body._rev}`);
    assert.equal(rm.status, 200, rm.raw.toString());

    // "two": two branches of equal length from one root (winner: the greater rev id).
    // "deep": a 3-long branch and a 2-long branch (winner: the longer one).
    // "tomb": a live 2-branch and a deleted 3-branch (winner: the live one).
    const replicated = [
      { _id: 'two', _rev: `2-${hex('b')}`, _revisions: { start: 2, ids: [hex('b'), hex('a')] }, v: 'b' },
      { _id: 'two', _rev: `2-${hex('c')}`, _revisions: { start: 2, ids: [hex('c'), hex('a')] }, v: 'c' },
      { _id: 'deep', _rev: `3-${hex('1')}`, _revisions: { start: 3, ids: [hex('1'), hex('2'), hex('3')] }, v: 'long' },
      { _id: 'deep', _rev: `2-${hex('f')}`, _revisions: { start: 2, ids: [hex('f'), hex('3')] }, v: 'short' },
      { _id: 'tomb', _rev: `2-${hex('4')}`, _revisions: { start: 2, ids: [hex('4'), hex('5')] }, v: 'alive' },
      { _id: 'tomb', _rev: `3-${hex('6')}`, _revisions: { start: 3, ids: [hex('6'), hex('7'), hex('5')] }, _deleted: true },
    ];
    const nb = await divan.request('POST', `/${db}/_bulk_docs`, { json: { docs: replicated, new_edits: false } });
    assert.equal(nb.status, 201, nb.raw.toString());

    // What Divan itself says about the conflicted docs (CouchDB's winner rule).
    const expectWinner = { two: [`2-${hex('c')}`, [`2-${hex('b')}`]], deep: [`3-${hex('1')}`, [`2-${hex('f')}`]], tomb: [`2-${hex('4')}`, []] };
    for (const [id, [rev, conflicts]] of Object.entries(expectWinner)) {
      const r = await divan.request('GET', `/${db}/${id}?conflicts=true`);
      assert.equal(r.status, 200, r.raw.toString());
      assert.equal(r.body._rev, rev, `divan winner of ${id}`);
      assert.deepEqual(r.body._conflicts || [], conflicts, `divan _conflicts of ${id}`);
    }

    const local = localDb();
    const result = await within(25000, 'replicate.from', local.replicate.from(remoteDb(divan, db)));
    assert.equal(result.ok, true);
    assert.equal(result.doc_write_failures, 0);
    // 20 docs + "two"×2 + "deep"×2 + "tomb"×2 leaf revs.
    assert.equal(result.docs_written, 26, JSON.stringify(result));

    // Same winners for everything.
    const remoteAll = await divan.request('GET', `/${db}/_all_docs`);
    const localAll = await local.allDocs();
    assert.deepEqual(
      localAll.rows.map((r) => [r.id, r.value.rev]),
      remoteAll.body.rows.map((r) => [r.id, r.value.rev]));
    const info = await local.info();
    assert.equal(info.doc_count, remoteAll.body.total_rows);

    // Same winner, same _conflicts, same body, same history, doc by doc.
    for (const row of remoteAll.body.rows) {
      const r = await divan.request('GET', `/${db}/${row.id}?conflicts=true&revs=true`);
      const l = await local.get(row.id, { conflicts: true, revs: true });
      assert.deepEqual(l, r.body, row.id);
    }
    for (const [id, [rev, conflicts]] of Object.entries(expectWinner)) {
      const l = await local.get(id, { conflicts: true });
      assert.equal(l._rev, rev, `local winner of ${id}`);
      assert.deepEqual(l._conflicts || [], conflicts, `local _conflicts of ${id}`);
    }
    // The deleted branch of "tomb" made it too.
    const tombLeaves = await local.get('tomb', { open_revs: 'all' });
    assert.deepEqual(tombLeaves.map((x) => x.ok._rev).sort(), [`2-${hex('4')}`, `3-${hex('6')}`]);
    assert.equal(tombLeaves.find((x) => x.ok._rev.startsWith('3-')).ok._deleted, true);

    // The deleted doc is deleted locally as well.
    await assert.rejects(local.get('p-01'), (e) => e.status === 404 && e.reason === 'deleted');
    assert.equal((await local.get('p-00')).s, 'updated');
  });
});
