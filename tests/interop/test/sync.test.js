'use strict';
// 3. live sync both ways, and 6. concurrent offline edits converging to the same winner and the
// same _conflicts on both sides.
const assert = require('node:assert/strict');
const { suite, localDb, remoteDb, uniqueName, waitFor, within } = require('../lib/harness');

// Cancels a live sync and waits (bounded) for its 'complete'.
async function cancelSync(sync) {
  const done = new Promise((resolve) => sync.on('complete', resolve));
  sync.cancel();
  await within(10000, 'sync cancel', done);
}

suite('sync: PouchDB <-> Divan', (ctx, test) => {
  test('live sync carries writes made on either side, both ways', async () => {
    const divan = ctx.divan;
    const db = uniqueName('live');
    await divan.createDb(db);
    const local = localDb();
    const errors = [];
    const sync = local.sync(remoteDb(divan, db), { live: true, retry: true });
    sync.on('error', (e) => errors.push(e));
    sync.on('denied', (e) => errors.push(e));
    try {
      await local.put({ _id: 'from-local', side: 'local' });
      const put = await divan.request('PUT', `/${db}/from-remote`, { json: { side: 'remote' } });
      assert.equal(put.status, 201, put.raw.toString());

      await waitFor('from-local on Divan', async () =>
        (await divan.request('GET', `/${db}/from-local`)).status === 200);
      await waitFor('from-remote in PouchDB', async () => (await local.get('from-remote')).side === 'remote');

      // And an update made on Divan after the first round flows down the live feed too.
      const r = await divan.request('GET', `/${db}/from-remote`);
      await divan.request('PUT', `/${db}/from-remote`, { json: { ...r.body, side: 'remote-2' } });
      await waitFor('update of from-remote in PouchDB', async () =>
        (await local.get('from-remote')).side === 'remote-2');
      // And a local delete reaches Divan.
      const l = await local.get('from-local');
      await local.remove(l);
      await waitFor('delete of from-local on Divan', async () => {
        const g = await divan.request('GET', `/${db}/from-local`);
        return g.status === 404 && g.body.reason === 'deleted';
      });

      const remoteAll = await divan.request('GET', `/${db}/_all_docs`);
      const localAll = await local.allDocs();
      assert.deepEqual(
        localAll.rows.map((x) => [x.id, x.value.rev]),
        remoteAll.body.rows.map((x) => [x.id, x.value.rev]));
      assert.deepEqual(errors, []);
    } finally {
      await cancelSync(sync);
    }
  });

  test('concurrent offline edits converge: same winner and same _conflicts on both sides', async () => {
    const divan = ctx.divan;
    const db = uniqueName('conf');
    const local = localDb();
    const remote = remoteDb(divan, db);

    // Common ancestor on both sides.
    await local.put({ _id: 'shared', v: 0 });
    await local.put({ _id: 'doomed', v: 0 });
    await within(20000, 'initial push', local.replicate.to(remote));

    // "Offline": each side edits without replicating.
    const ls = await local.get('shared');
    await local.put({ ...ls, v: 'local' });
    const ls2 = await local.get('shared');
    await local.put({ ...ls2, v: 'local-again' });          // local branch is longer: 3-…
    const rs = await divan.request('GET', `/${db}/shared`);
    const rput = await divan.request('PUT', `/${db}/shared`, { json: { ...rs.body, v: 'remote' } });
    assert.equal(rput.status, 201, rput.raw.toString());    // remote branch: 2-…
    // "doomed": deleted locally, edited remotely (a live leaf beats a deleted one).
    await local.remove(await local.get('doomed'));
    const rd = await divan.request('GET', `/${db}/doomed`);
    const rdput = await divan.request('PUT', `/${db}/doomed`, { json: { ...rd.body, v: 'remote-edit' } });
    assert.equal(rdput.status, 201);

    // Sync both ways (one-shot).
    await within(25000, 'one-shot sync', local.sync(remote));

    for (const id of ['shared', 'doomed']) {
      const l = await local.get(id, { conflicts: true });
      const r = await divan.request('GET', `/${db}/${id}?conflicts=true`);
      assert.equal(r.status, 200, r.raw.toString());
      assert.equal(l._rev, r.body._rev, `${id}: winners differ`);
      assert.deepEqual((l._conflicts || []).slice().sort(), (r.body._conflicts || []).slice().sort(),
        `${id}: _conflicts differ`);
      assert.deepEqual(l, r.body, `${id}: bodies differ`);
      // Same set of leaves, deleted ones included.
      const lLeaves = (await local.get(id, { open_revs: 'all' })).map((x) => x.ok._rev).sort();
      const rLeaves = await divan.request('GET', `/${db}/${id}?open_revs=all`, { headers: { Accept: 'application/json' } });
      assert.equal(rLeaves.status, 200, rLeaves.raw.toString());
      assert.deepEqual(rLeaves.body.map((x) => x.ok._rev).sort(), lLeaves, `${id}: leaves differ`);
    }
    const shared = await local.get('shared', { conflicts: true });
    assert.equal(shared.v, 'local-again');
    assert.match(shared._rev, /^3-/);
    assert.deepEqual(shared._conflicts, [rput.body.rev]);
    const doomed = await local.get('doomed', { conflicts: true });
    assert.equal(doomed.v, 'remote-edit');
    assert.equal(doomed._conflicts, undefined);  // the deleted leaf is not a conflict

    // Resolve on Divan (delete the losing leaf), sync again: no conflicts left anywhere.
    const del = await divan.request('DELETE', `/${db}/shared?rev=${rput.body.rev}`);
    assert.equal(del.status, 200, del.raw.toString());
    await within(25000, 'second sync', local.sync(remote));
    const l2 = await local.get('shared', { conflicts: true });
    const r2 = await divan.request('GET', `/${db}/shared?conflicts=true`);
    assert.equal(l2._rev, r2.body._rev);
    assert.equal(l2._conflicts, undefined);
    assert.equal(r2.body._conflicts, undefined);
  });
});
