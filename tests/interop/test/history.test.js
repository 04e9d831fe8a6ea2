'use strict';
// History until compaction, as a PouchDB app uses it: older revisions read back through a remote
// PouchDB (get with rev, revs_info, open_revs), then db.compact() (POST _compact, then polling the
// db info for compact_running:false), after which only the leaves answer. And a purged revision
// stays purged when a local PouchDB that still holds it pushes again.
const assert = require('node:assert/strict');
const { suite, localDb, remoteDb, uniqueName, within } = require('../lib/harness');

suite('history and compaction through PouchDB', (ctx, test) => {
  test('older revisions readable until compact(), then missing', async () => {
    const divan = ctx.divan;
    const remote = remoteDb(divan, uniqueName('hist'));
    const revs = [];
    let doc = { _id: 'note', text: 'v1' };
    for (let i = 1; i <= 4; i++) {
      doc.text = `v${i}`;
      const res = await remote.put(doc);
      revs.push(res.rev);
      doc = { ...doc, _rev: res.rev };
    }
    for (let i = 0; i < revs.length; i++) {
      const old = await remote.get('note', { rev: revs[i] });
      assert.equal(old.text, `v${i + 1}`);
    }
    const info = await remote.get('note', { revs_info: true });
    assert.deepEqual(info._revs_info.map((r) => r.status), ['available', 'available', 'available', 'available']);
    const open = await remote.get('note', { open_revs: [revs[0]] });
    assert.equal(open[0].ok.text, 'v1');

    const result = await within(30000, 'compact', remote.compact());
    assert.equal(result.ok, true);
    await assert.rejects(remote.get('note', { rev: revs[0] }), (e) => e.status === 404);
    const after = await remote.get('note', { revs_info: true });
    assert.deepEqual(after._revs_info.map((r) => r.status), ['available', 'missing', 'missing', 'missing']);
    assert.equal((await remote.get('note')).text, 'v4');
  });

  test('a purged revision does not come back when PouchDB pushes again', async () => {
    const divan = ctx.divan;
    const name = uniqueName('purge');
    const local = localDb();
    const put = await local.put({ _id: 'secret', text: 'oops' });
    await within(20000, 'first push', local.replicate.to(remoteDb(divan, name)));
    const purge = await divan.request('POST', `/${name}/_purge`, { json: { secret: [put.rev] } });
    assert.equal(purge.status, 201, purge.raw);
    assert.deepEqual(purge.body.purged, { secret: [put.rev] });
    // A replication with doc_ids has another replication id: it starts from 0 and offers the
    // purged revision again, which _revs_diff no longer reports missing.
    await local.put({ _id: 'other', n: 1 });
    const again = await within(20000, 'second push',
      local.replicate.to(remoteDb(divan, name), { doc_ids: ['secret', 'other'] }));
    assert.equal(again.ok, true);
    assert.equal(again.docs_written, 1, JSON.stringify(again));
    const gone = await divan.request('GET', `/${name}/secret`);
    assert.equal(gone.status, 404, gone.raw);
    assert.equal((await divan.request('GET', `/${name}/other`)).status, 200);
  });
});
