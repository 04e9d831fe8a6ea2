'use strict';
// 1. push: a local PouchDB replicates to Divan; Divan must then hold the same docs, the same rev
// trees and the same deletions, read back over plain HTTP.
const assert = require('node:assert/strict');
const { suite, localDb, remoteDb, uniqueName, within } = require('../lib/harness');

suite('push: PouchDB -> Divan', (ctx, test) => {
  test('50 docs (some updated twice, one deleted) arrive with the same revs', async () => {
    const divan = ctx.divan;
    const db = uniqueName('push');
    const local = localDb();

    const docs = [];
    for (let i = 0; i < 50; i++) {
      docs.push({ _id: `doc-${String(i).padStart(2, '0')}`, n: i, tags: ['a', `t${i % 3}`], nested: { x: i * 1.5 } });
    }
    const created = await local.bulkDocs(docs);
    assert.ok(created.every((r) => r.ok), JSON.stringify(created));
    // doc-00 … doc-09: updated twice (generation 3).
    for (let i = 0; i < 10; i++) {
      const id = `doc-0${i}`;
      let d = await local.get(id);
      d.updated = 1;
      await local.put(d);
      d = await local.get(id);
      d.updated = 2;
      d.text = 'ünïcødé ✓';
      await local.put(d);
    }
    // doc-49: deleted (generation 2, _deleted).
    const gone = await local.get('doc-49');
    const del = await local.remove(gone);

    const result = await within(25000, 'replicate.to', local.replicate.to(remoteDb(divan, db)));
    assert.equal(result.ok, true);
    assert.equal(result.docs_written, 50, JSON.stringify(result));
    assert.equal(result.doc_write_failures, 0);

    // Database info.
    const info = await divan.request('GET', `/${db}`);
    assert.equal(info.status, 200);
    assert.equal(info.body.doc_count, 49, JSON.stringify(info.body));
    assert.equal(info.body.doc_del_count, 1, JSON.stringify(info.body));

    // _all_docs: same ids, same winning revs.
    const localAll = await local.allDocs();
    const remoteAll = await divan.request('GET', `/${db}/_all_docs`);
    assert.equal(remoteAll.status, 200);
    assert.equal(remoteAll.body.total_rows, 49);
    assert.deepEqual(
      remoteAll.body.rows.map((r) => [r.id, r.value.rev]),
      localAll.rows.map((r) => [r.id, r.value.rev]));

    // Every live doc: same body and the same rev history.
    for (const row of localAll.rows) {
      const want = await local.get(row.id, { revs: true });
      const got = await divan.request('GET', `/${db}/${row.id}?revs=true`);
      assert.equal(got.status, 200, `${row.id}: ${got.raw}`);
      assert.deepEqual(got.body, want, row.id);
    }
    const d0 = await divan.request('GET', `/${db}/doc-00`);
    assert.match(d0.body._rev, /^3-/);
    assert.equal(d0.body.text, 'ünïcødé ✓');

    // The deleted doc: 404 "deleted"; its tombstone rev is readable and carries the history.
    const g = await divan.request('GET', `/${db}/doc-49`);
    assert.equal(g.status, 404);
    assert.deepEqual(g.body, { error: 'not_found', reason: 'deleted' });
    const tomb = await divan.request('GET', `/${db}/doc-49?rev=${del.rev}&revs=true`);
    assert.equal(tomb.status, 200, tomb.raw.toString());
    assert.equal(tomb.body._deleted, true);
    assert.equal(tomb.body._rev, del.rev);
    assert.deepEqual(tomb.body._revisions, (await local.get('doc-49', { rev: del.rev, revs: true }))._revisions);
  });
});
