'use strict';
// 5. attachments: inline attachments pushed by PouchDB are served byte-exact with CouchDB's
// "md5-<base64>" digests; attachments PUT standalone to Divan are pulled byte-exact; an edit that
// leaves an attachment alone does not move its bytes again when pulled.
// As CouchDB 3.5, Divan stores compressible types (text/*, application/json, ...) gzip-compressed
// (zlib level 8, memLevel 8) and digests the stored bytes, so a text attachment's digest is the md5
// of that gzip, not the md5 PouchDB computed locally from the identity bytes.
const assert = require('node:assert/strict');
const zlib = require('node:zlib');
const {
  suite, localDb, remoteDb, uniqueName, within, md5Digest, pseudoRandomBytes,
} = require('../lib/harness');

const TEXT = Buffer.from('hello from PouchDB ✓\nsecond line\n', 'utf8');
const BIG = pseudoRandomBytes(200 * 1024, 4242);     // ~200 KB, every byte value

// What CouchDB 3.5 stores for an identity upload of a compressible type.
function gzip8(bytes) {
  return zlib.gzipSync(bytes, { level: 8, memLevel: 8, windowBits: 15 });
}

// `stored`: the bytes the server keeps (gzip for compressible types), whose md5 is the digest.
function assertStub(stub, bytes, contentType, what, stored = bytes) {
  assert.ok(stub, `${what}: no stub`);
  assert.equal(stub.stub, true, `${what}: ${JSON.stringify(stub)}`);
  assert.equal(stub.digest, md5Digest(stored), `${what}: digest`);
  assert.equal(stub.length, bytes.length, `${what}: length`);
  assert.equal(stub.content_type, contentType, `${what}: content_type`);
}

async function assertServed(divan, db, id, name, bytes, contentType) {
  const r = await divan.request('GET', `/${db}/${id}/${name}`, { headers: { Accept: '*/*' } });
  assert.equal(r.status, 200, `GET /${db}/${id}/${name}: ${r.status} ${r.raw.toString().slice(0, 200)}`);
  assert.equal((r.headers.get('content-type') || '').split(';')[0], contentType, `${name}: Content-Type`);
  assert.equal(r.raw.length, bytes.length, `${name}: length`);
  assert.ok(r.raw.equals(bytes), `${name}: bytes differ`);
}

// A doc on Divan whose attachment went in as raw bytes: PUT /db/doc, then PUT /db/doc/att?rev=.
async function divanDocWithAttachment(divan, db, id, name, bytes, contentType) {
  const put = await divan.request('PUT', `/${db}/${id}`, { json: { kind: 'standalone', n: 1 } });
  assert.equal(put.status, 201, put.raw.toString());
  const att = await divan.request('PUT', `/${db}/${id}/${name}?rev=${put.body.rev}`, {
    body: bytes, headers: { 'Content-Type': contentType },
  });
  assert.equal(att.status, 201, `PUT attachment: ${att.status} ${att.raw.toString()}`);
  assert.match(att.body.rev, /^2-/);
  return att.body.rev;
}

suite('attachments: PouchDB <-> Divan', (ctx, test) => {
  test('push: inline text + 200 KB binary attachments are served byte-exact with md5 digests', async () => {
    const divan = ctx.divan;
    const db = uniqueName('attpush');
    const local = localDb();
    await local.put({
      _id: 'att-push',
      kind: 'inline',
      _attachments: {
        'a.txt': { content_type: 'text/plain', data: TEXT.toString('base64') },
        'b.bin': { content_type: 'application/octet-stream', data: BIG.toString('base64') },
      },
    });
    const pushed = await within(25000, 'push', local.replicate.to(remoteDb(divan, db)));
    assert.equal(pushed.docs_written, 1, JSON.stringify(pushed));
    assert.equal(pushed.doc_write_failures, 0, JSON.stringify(pushed));

    const doc = await divan.request('GET', `/${db}/att-push`);
    assert.equal(doc.status, 200, doc.raw.toString());
    const localDoc = await local.get('att-push');
    assert.equal(doc.body._rev, localDoc._rev);
    assertStub(doc.body._attachments['a.txt'], TEXT, 'text/plain', 'divan a.txt', gzip8(TEXT));
    assertStub(doc.body._attachments['b.bin'], BIG, 'application/octet-stream', 'divan b.bin');
    // For the binary type the digest PouchDB computed is the one Divan computed; for text/plain
    // PouchDB digests the identity bytes, Divan (as CouchDB) the stored gzip.
    assert.equal(localDoc._attachments['a.txt'].digest, md5Digest(TEXT));
    assert.equal(doc.body._attachments['b.bin'].digest, localDoc._attachments['b.bin'].digest);
    await assertServed(divan, db, 'att-push', 'a.txt', TEXT, 'text/plain');
    await assertServed(divan, db, 'att-push', 'b.bin', BIG, 'application/octet-stream');

    // ?attachments=true inlines the same bytes as base64.
    const full = await divan.request('GET', `/${db}/att-push?attachments=true`);
    assert.equal(full.status, 200);
    assert.equal(full.body._attachments['b.bin'].data, BIG.toString('base64'));

    // Edit the doc locally without touching the attachments, push again: still byte-exact.
    await local.put({ ...(await local.get('att-push')), kind: 'inline-edited' });
    const again = await within(25000, 'second push', local.replicate.to(remoteDb(divan, db)));
    assert.equal(again.docs_written, 1, JSON.stringify(again));
    const doc2 = await divan.request('GET', `/${db}/att-push`);
    assert.match(doc2.body._rev, /^2-/);
    assert.equal(doc2.body.kind, 'inline-edited');
    assertStub(doc2.body._attachments['b.bin'], BIG, 'application/octet-stream', 'divan b.bin after edit');
    assert.equal(doc2.body._attachments['b.bin'].revpos, 1);
    await assertServed(divan, db, 'att-push', 'b.bin', BIG, 'application/octet-stream');
  });

  test('pull: an attachment PUT standalone to Divan arrives byte-exact', async () => {
    const divan = ctx.divan;
    const db = uniqueName('attpull');
    await divan.createDb(db);
    const rev = await divanDocWithAttachment(divan, db, 'att-pull', 'photo.bin', BIG, 'image/x-test');
    const stub = (await divan.request('GET', `/${db}/att-pull`)).body._attachments['photo.bin'];
    assertStub(stub, BIG, 'image/x-test', 'divan photo.bin');

    const local = localDb();
    const pulled = await within(25000, 'pull', local.replicate.from(remoteDb(divan, db)));
    assert.equal(pulled.docs_written, 1, JSON.stringify(pulled));
    assert.equal(pulled.doc_write_failures, 0, JSON.stringify(pulled));

    const l = await local.get('att-pull');
    assert.equal(l._rev, rev);
    assertStub(l._attachments['photo.bin'], BIG, 'image/x-test', 'local photo.bin');
    const bytes = await local.getAttachment('att-pull', 'photo.bin');
    assert.ok(Buffer.isBuffer(bytes));
    assert.equal(bytes.length, BIG.length);
    assert.ok(bytes.equals(BIG), 'pulled bytes differ');
  });

  test('an edit that leaves the attachment alone: the next pull does not download it again', async () => {
    const divan = ctx.divan;
    const db = uniqueName('attstub');
    await divan.createDb(db);
    const small = Buffer.from('stub me\n');
    await divanDocWithAttachment(divan, db, 'att-stub', 'big.bin', BIG, 'application/octet-stream');
    // Second attachment on the same doc, so the doc has two and only one is re-checked.
    const cur = await divan.request('GET', `/${db}/att-stub`);
    const put2 = await divan.request('PUT', `/${db}/att-stub/small.txt?rev=${cur.body._rev}`, {
      body: small, headers: { 'Content-Type': 'text/plain' },
    });
    assert.equal(put2.status, 201, put2.raw.toString());

    const local = localDb();
    const remote = remoteDb(divan, db);
    await within(25000, 'first pull', local.replicate.from(remote));
    assert.ok((await local.getAttachment('att-stub', 'big.bin')).equals(BIG));

    // Edit on Divan: body changes, attachments are sent back as the stubs GET returned.
    const now = await divan.request('GET', `/${db}/att-stub`);
    assert.equal(now.body._attachments['big.bin'].stub, true);
    const edit = await divan.request('PUT', `/${db}/att-stub`, { json: { ...now.body, kind: 'edited' } });
    assert.equal(edit.status, 201, edit.raw.toString());
    const after = await divan.request('GET', `/${db}/att-stub`);
    assertStub(after.body._attachments['big.bin'], BIG, 'application/octet-stream', 'big.bin after stub edit');
    assert.equal(after.body._attachments['big.bin'].revpos, 2);
    await assertServed(divan, db, 'att-stub', 'big.bin', BIG, 'application/octet-stream');

    const mark = divan.logMark();
    const second = await within(25000, 'second pull', local.replicate.from(remote));
    assert.equal(second.docs_written, 1, JSON.stringify(second));
    // PouchDB always fetches attachments with ?rev=. Only those count: the node logs a request
    // after answering it, so assertServed's own GET above may still be logged after the mark.
    const fetched = (await divan.settledRequestsSince(mark))
      .filter((r) => r.method === 'GET' && r.target.startsWith(`/${db}/att-stub/`) &&
        r.target.includes('?rev='));
    assert.deepEqual(fetched.map((r) => r.line), [], 'unchanged attachments were downloaded again');

    const l = await local.get('att-stub');
    assert.equal(l._rev, edit.body.rev);
    assert.equal(l.kind, 'edited');
    assert.equal(l._attachments['big.bin'].digest, md5Digest(BIG));
    assert.ok((await local.getAttachment('att-stub', 'big.bin')).equals(BIG));
    assert.ok((await local.getAttachment('att-stub', 'small.txt')).equals(small));
  });
});
