'use strict';
// The foreign server's process (started by lib/foreign_server.js, never by hand): express-pouchdb,
// the HTTP layer of pouchdb-server, over PouchDB 9 with the in-memory adapter, on 127.0.0.1 with a
// free port. Pure JS: no leveldown, no native build.
//
// Usage: node foreign_server_main.js LOG_DIR   (FOREIGN_ADMIN=name:password in the environment)
// stdout carries one JSON object a line: {"listening": PORT} once, then one
// {"req": {method, target, status, auth}} per answered request (auth: an Authorization header
// was sent; status 0 and aborted: true when the client closed the connection before the answer
// was complete). express-pouchdb's own log file goes to LOG_DIR.
//
// Why a process of its own: express-pouchdb 4.2.0 leaks the heartbeat interval of a longpoll
// _changes request that a closing client cancels, which would keep the test process alive; and
// its plugins (auth, security, all-dbs) change pouchdb-core's one class for everyone in a process.

const path = require('node:path');

const express = require('express');
const expressPouchDB = require('express-pouchdb');
const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-memory'))
  // Not for serving: pouchdb-security wraps db.replicate.to/from and throws without them.
  .plugin(require('pouchdb-replication'));

// Everything PouchDB replication needs (express-pouchdb's "minimumForPouchDB") plus basic-auth
// users with a server admin, _session and per-database _security, which a CouchDB peer has too,
// and what a sync mesh asks a peer: _all_dbs, and _db_updates (which pouchdb-server answers 400,
// not implemented: the mesh then pulls with continuous jobs).
const PARTS = [
  'routes/all-dbs',
  'routes/db-updates',
  'config-infrastructure',
  'logging-infrastructure',
  'routes/authentication',
  'routes/authorization',
  'routes/session',
  'routes/security',
];

function emit(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

async function main() {
  const logDir = process.argv[2];
  const admin = process.env.FOREIGN_ADMIN || '';
  const colon = admin.indexOf(':');
  if (!logDir || colon <= 0) throw new Error('usage: FOREIGN_ADMIN=name:password node foreign_server_main.js LOG_DIR');

  const pouchApp = expressPouchDB({
    mode: 'minimumForPouchDB',
    overrideMode: { include: PARTS },
    inMemoryConfig: true,
    logPath: path.join(logDir, 'log.txt'),
  });
  // The admin, as `PUT /_config/admins/NAME` would set it (hashed by the config layer), before
  // PouchDB is handed over, so the _users database is set up once, with it.
  await new Promise((resolve, reject) => {
    pouchApp.couchConfig.set('admins', admin.slice(0, colon), admin.slice(colon + 1),
      (err) => (err ? reject(err) : resolve()));
  });
  await pouchApp.setPouchDB(PouchDB.defaults({ adapter: 'memory' }));

  const app = express();
  app.use((req, res, next) => {
    const line = { method: req.method, target: req.originalUrl, auth: Boolean(req.headers.authorization) };
    res.on('finish', () => emit({ req: { ...line, status: res.statusCode } }));
    // The client closed the connection before the answer was complete.
    res.on('close', () => { if (!res.writableFinished) emit({ req: { ...line, status: 0, aborted: true } }); });
    next();
  });
  app.use(pouchApp);

  const server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  emit({ listening: server.address().port });
}

// The parent going away (its stdin pipe closing) ends this process too.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

main().catch((e) => {
  process.stderr.write(`foreign server: ${e.stack || e}\n`);
  process.exit(1);
});
