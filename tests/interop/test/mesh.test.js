'use strict';
// Sync meshes (replicator/mesh.h) seen by real PouchDB clients and a real foreign server:
//  - three Divan nodes peered with each other (POST /_mesh/peers) and a PouchDB client syncing
//    live with one of them: its writes reach every node, the other nodes' writes reach it;
//  - a Divan node peering with express-pouchdb (pouchdb-server's HTTP layer), which has no
//    _db_updates: databases and documents still flow both ways.
const assert = require('node:assert/strict');
const { describe, it, before, after } = require('node:test');
const { PouchDB, startDivan, localDb, uniqueName, waitFor, within, TEST_TIMEOUT_MS } =
  require('../lib/harness');
const { startForeignServer } = require('../lib/foreign_server');

const ADMIN = { name: 'admin', password: 'pw' };
const MESH_ARGS = ['--peer-probe-ms', '300', '--peer-idle-ms', '1000'];

function rootUrlWithAuth(port, admin) {
  return `http://${admin.name}:${admin.password}@127.0.0.1:${port}`;
}

async function cancelSync(sync) {
  const done = new Promise((resolve) => sync.on('complete', resolve));
  sync.cancel();
  await within(10000, 'sync cancel', done);
}

async function hasDoc(node, db, id) {
  return (await node.request('GET', `/${db}/${id}`)).status === 200;
}

describe('mesh: PouchDB syncing with one node of a three-node mesh', () => {
  const nodes = [];
  before(async () => {
    for (let i = 0; i < 3; i++) nodes.push(await startDivan({ admin: ADMIN, args: MESH_ARGS }));
    for (const node of nodes) {
      for (const other of nodes) {
        if (other === node) continue;
        const r = await node.request('POST', '/_mesh/peers',
          { json: { url: rootUrlWithAuth(other.port, ADMIN) } });
        assert.equal(r.status, 201, r.raw.toString());
      }
    }
  }, { timeout: TEST_TIMEOUT_MS });
  after(async () => { for (const node of nodes) await node.stop(); }, { timeout: TEST_TIMEOUT_MS });

  it('a live PouchDB sync with node 0 reaches nodes 1 and 2, and their writes reach it',
    { timeout: TEST_TIMEOUT_MS }, async () => {
      const db = uniqueName('mesh');
      await nodes[0].createDb(db);
      for (const node of nodes) {
        await waitFor(`${db} on every node`, async () =>
          (await node.request('GET', '/_all_dbs')).body.includes(db));
      }
      const local = localDb();
      const remote = new PouchDB(nodes[0].dbUrl(db),
        { auth: { username: ADMIN.name, password: ADMIN.password } });
      const errors = [];
      const sync = local.sync(remote, { live: true, retry: true });
      sync.on('error', (e) => errors.push(e));
      sync.on('denied', (e) => errors.push(e));
      try {
        await local.put({ _id: 'from-pouch', v: 1 });
        for (const node of nodes) {
          await waitFor('from-pouch on every node', () => hasDoc(node, db, 'from-pouch'));
        }
        const put = await nodes[2].request('PUT', `/${db}/from-node-2`, { json: { v: 2 } });
        assert.equal(put.status, 201, put.raw.toString());
        await waitFor('from-node-2 in PouchDB', async () => (await local.get('from-node-2')).v === 2);

        // A conflicting edit on node 1 and in PouchDB converges to one winner everywhere.
        const base = await local.get('from-pouch');
        await local.put({ ...base, v: 'pouch' });
        const onNode1 = await nodes[1].request('GET', `/${db}/from-pouch`);
        await nodes[1].request('PUT', `/${db}/from-pouch?new_edits=false`, { json: {
          ...onNode1.body, _rev: `2-${'f'.repeat(32)}`,
          _revisions: { start: 2, ids: ['f'.repeat(32), onNode1.body._rev.split('-')[1]] },
          v: 'node1' } });
        await waitFor('the same winner and conflicts everywhere', async () => {
          const seen = [];
          for (const node of nodes) {
            const r = await node.request('GET', `/${db}/from-pouch?conflicts=true`);
            seen.push(JSON.stringify([r.body._rev, r.body._conflicts || []]));
          }
          const mine = await local.get('from-pouch', { conflicts: true });
          seen.push(JSON.stringify([mine._rev, mine._conflicts || []]));
          return new Set(seen).size === 1 && JSON.parse(seen[0])[1].length === 1;
        });
        assert.deepEqual(errors, []);
      } finally {
        await cancelSync(sync);
      }
    });
});

describe('mesh: a Divan node peering with pouchdb-server (no _db_updates)', () => {
  let divan;
  let foreign;
  before(async () => {
    divan = await startDivan({ admin: ADMIN, args: MESH_ARGS });
    foreign = await startForeignServer();
  }, { timeout: TEST_TIMEOUT_MS });
  after(async () => {
    if (divan) await divan.stop();
    if (foreign) await foreign.stop();
  }, { timeout: TEST_TIMEOUT_MS });

  it('databases and documents flow both ways', { timeout: TEST_TIMEOUT_MS }, async () => {
    const fromForeign = uniqueName('pfrom');
    const r = await foreign.request('PUT', `/${fromForeign}`);
    assert.ok(r.status === 201 || r.status === 202, r.raw.toString());
    await foreign.request('PUT', `/${fromForeign}/a`, { json: { side: 'foreign' } });
    const fromDivan = uniqueName('dfrom');
    await divan.createDb(fromDivan);
    await divan.request('PUT', `/${fromDivan}/b`, { json: { side: 'divan' } });

    const added = await divan.request('POST', '/_mesh/peers',
      { json: { url: rootUrlWithAuth(foreign.port, foreign.admin) } });
    assert.equal(added.status, 201, added.raw.toString());

    await waitFor('the foreign doc on Divan', () => hasDoc(divan, fromForeign, 'a'));
    await waitFor('the Divan doc on the foreign server', async () =>
      (await foreign.request('GET', `/${fromDivan}/b`)).status === 200);
    // Later writes, both ways (pulls run as continuous jobs here).
    await foreign.request('PUT', `/${fromDivan}/c`, { json: { side: 'foreign-later' } });
    await divan.request('PUT', `/${fromForeign}/d`, { json: { side: 'divan-later' } });
    await waitFor('a later foreign write on Divan', () => hasDoc(divan, fromDivan, 'c'));
    await waitFor('a later Divan write on the foreign server', async () =>
      (await foreign.request('GET', `/${fromForeign}/d`)).status === 200);

    const health = await divan.request('GET', '/_mesh');
    assert.equal(health.status, 200, health.raw.toString());
    const peer = health.body.peers[0];
    assert.equal(peer.db_updates, false);
    assert.equal(peer.databases[fromForeign].pull.mode, 'hot');  // no _db_updates: always live
  });
});
