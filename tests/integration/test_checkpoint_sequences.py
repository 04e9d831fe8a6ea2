"""Checkpoint requests exactly as CouchDB 3's replicator and PouchDB send them to a server they
replicate with (replication-protocol.md §3.4, §10, §11; issue 12 part 1): each step's status and
body shape asserted, against the real binary with an admin, as in production."""

import unittest

from divan_harness import db_path, doc_path
from replication_harness import AdminNode

REP_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # CouchDB: md5 hex of the replication's inputs


class CheckpointSequenceTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.node = AdminNode()
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.node.cleanup()

    def setUp(self):
        self.db = "cp-" + self._testMethodName[5:40].lower().replace("_", "-")
        resp = self.node.put(db_path(self.db))
        self.assertEqual(resp.status, 201, resp)

    def expect(self, resp, status):
        self.assertEqual(resp.status, status, resp)
        return resp.body

    def couchdb_checkpoint_body(self, seq, session, rev=None, revisions=None):
        body = {"_id": "_local/" + REP_ID}
        if rev is not None:
            body["_rev"] = rev
        if revisions is not None:
            body["_revisions"] = revisions
        body.update({
            "session_id": session,
            "source_last_seq": seq,
            "replication_id_version": 4,
            "history": [{"session_id": session, "start_time": "Mon, 07 Dec 2026 04:00:00 GMT",
                         "end_time": "Mon, 07 Dec 2026 04:00:01 GMT", "start_last_seq": 0,
                         "end_last_seq": seq, "recorded_seq": seq, "missing_checked": 3,
                         "missing_found": 3, "docs_read": 3, "docs_written": 3,
                         "doc_write_failures": 0}],
        })
        return body

    def test_couchdb_replicator_checkpoints_twice_and_resumes(self):
        node, db = self.node, self.db
        local = doc_path(db, "_local/" + REP_ID)
        # §11.1 step 3: the v4 id, then the older id versions, all absent.
        self.expect(node.get(local), 404)
        for old in ("v3", "v2", "v1"):
            self.expect(node.get(doc_path(db, f"_local/{REP_ID}{old}")), 404)
        # §11 step 6: ensure_full_commit, then the first checkpoint without a _rev.
        info = self.expect(node.get(db_path(db)), 200)
        commit = self.expect(node.post(db_path(db) + "/_ensure_full_commit", b"",
                                       content_type="application/json"), 201)
        self.assertEqual(commit["ok"], True)
        self.assertEqual(commit["instance_start_time"], info["instance_start_time"])
        first = self.expect(node.put(local, self.couchdb_checkpoint_body("3", "s1")), 201)
        self.assertEqual(first["rev"], "0-1")
        # The second checkpoint carries the _rev it got back, and _revisions as CouchDB 3.5's
        # replicator writes it ({"start":0,"ids":["1"]}, not an integer start of 1).
        second = self.expect(node.put(local, self.couchdb_checkpoint_body(
            "7", "s1", rev="0-1", revisions={"start": 0, "ids": ["1"]})), 201)
        self.assertEqual(second["rev"], "0-2")
        # A restarted replicator reads it back to resume (§3.5).
        doc = self.expect(node.get(local), 200)
        self.assertEqual(doc["_rev"], "0-2")
        self.assertEqual(doc["source_last_seq"], "7")
        self.assertEqual(doc["history"][0]["recorded_seq"], "7")
        self.assertNotIn("_revisions", doc)
        # CouchDB 3 does not compare a _local doc's _rev with the stored one: the new rev is the
        # given one plus 1, so a replicator that lost track of its _rev still checkpoints.
        again = self.expect(node.put(local, self.couchdb_checkpoint_body("9", "s2", rev="0-1")),
                            201)
        self.assertEqual(again["rev"], "0-2")
        self.assertEqual(self.expect(node.get(local), 200)["source_last_seq"], "9")
        # _local docs are never in the changes feed a replicator reads.
        changes = self.expect(node.get(db_path(db) + "/_changes?style=all_docs"), 200)
        self.assertEqual(changes["results"], [])

    def test_couchdb_replicator_deletes_a_checkpoint(self):
        node, db = self.node, self.db
        local = doc_path(db, "_local/" + REP_ID)
        rev = self.expect(node.put(local, self.couchdb_checkpoint_body("1", "s")), 201)["rev"]
        body = self.couchdb_checkpoint_body("1", "s", rev=rev)
        body["_deleted"] = True
        self.expect(node.put(local, body), 201)
        self.expect(node.get(local), 404)

    def test_pouchdb_checkpoints_as_it_sends_them(self):
        node, db = self.node, self.db
        pid = "_local/" + "x2Y7pQ%3D%3D".replace("%3D", "=")  # PouchDB ids are base64-like
        local = doc_path(db, pid)
        # §10 step 7: 404, then a zero checkpoint.
        self.expect(node.get(local), 404)
        made = self.expect(node.put(local, {"_id": pid, "last_seq": 0}), 201)
        self.assertEqual(made["rev"], "0-1")
        # Step 4c: GET, then PUT with its _rev and PouchDB's own fields.
        current = self.expect(node.get(local), 200)
        self.assertEqual(current["last_seq"], 0)
        body = dict(current)
        body.update({"session_id": "a1b2", "last_seq": "12", "replicator": "pouchdb",
                     "version": 1,
                     "history": [{"last_seq": "12", "session_id": "a1b2"}]})
        self.expect(node.put(local, body), 201)
        # Its next checkpoint: GET (for the _rev), PUT. (PouchDB re-reads on a 409; CouchDB 3,
        # and so Divan, never answers 409 for a _local doc.)
        fresh = self.expect(node.get(local), 200)
        self.assertEqual(fresh["_rev"], "0-2")
        self.assertEqual(self.expect(node.put(local, dict(fresh, last_seq="13")), 201)["rev"],
                         "0-3")
        final = self.expect(node.get(local), 200)
        self.assertEqual((final["last_seq"], final["replicator"], final["version"]),
                         ("13", "pouchdb", 1))


if __name__ == "__main__":
    unittest.main()
