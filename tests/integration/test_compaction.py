"""Compaction of a real node (engine/compaction.h): kill -9 in the middle of one leaves a sound file
with every acknowledged write, and the automatic policy compacts a database that is mostly
history on its own."""

import os
import sqlite3
import threading
import time
import unittest

from divan_harness import Node, db_path, doc_path, escaped_db_filename, rev_pos

DOCS = 20000
REVISIONS = 4
PAD = "x" * 300


def integrity_check(path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def build(node, db, docs, revisions, pad=PAD):
    """`revisions` revisions of `docs` docs through _bulk_docs; returns {id: latest rev}."""
    revs = {}
    for r in range(revisions):
        for start in range(0, docs, 1000):
            batch = []
            for i in range(start, min(docs, start + 1000)):
                doc = {"_id": f"d{i:06d}", "v": r + 1, "pad": pad}
                if r:
                    doc["_rev"] = revs[doc["_id"]]
                batch.append(doc)
            res = node.post(db_path(db) + "/_bulk_docs", {"docs": batch}, timeout=60)
            assert res.status == 201, res
            for item in res.body:
                assert "rev" in item, item
                revs[item["id"]] = item["rev"]
    return revs


def wait_until(predicate, seconds, step=0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class KillDuringCompactionTest(unittest.TestCase):
    def setUp(self):
        self.node = Node().start()

    def tearDown(self):
        self.node.cleanup()

    def test_kill_9_mid_compaction_file_sound_and_acked_writes_kept(self):
        node, db = self.node, "compactkill"
        self.assertEqual(node.put(db_path(db)).status, 201)
        revs = build(node, db, DOCS, REVISIONS)
        first = node.get(doc_path(db, "d000001") + "?revs_info=true").body["_revs_info"]
        self.assertEqual([i["status"] for i in first], ["available"] * REVISIONS)

        # Acknowledged writes while compaction runs, then kill -9 mid-way.
        acked, stop = {}, threading.Event()

        def writer():
            n = 0
            while not stop.is_set() and n < 5000:
                docid = f"w{n:05d}"
                try:
                    r = node.put(doc_path(db, docid), {"n": n}, timeout=10)
                except OSError:
                    return
                if r.status == 201:
                    acked[docid] = r.body["rev"]
                n += 1

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        r = node.post(db_path(db) + "/_compact", b"", content_type="application/json")
        self.assertEqual(r.status, 202)

        def halfway():
            tasks = node.get("/_active_tasks").body
            return any(t.get("type") == "database_compaction" and t.get("changes_done", 0) > 0
                       for t in tasks)
        self.assertTrue(wait_until(halfway, 30), "compaction never showed progress")
        self.assertTrue(node.get(db_path(db)).body["compact_running"])
        node.kill()
        stop.set()
        t.join(10)
        node.close_connections()

        path = os.path.join(node.data_dir, escaped_db_filename(db))
        self.assertEqual(integrity_check(path), [("ok",)])
        node.start()
        info = node.get(db_path(db)).body
        self.assertFalse(info["compact_running"])
        # Every acked write is there; the one in flight at the kill may be there too.
        self.assertIn(info["doc_count"] - DOCS - len(acked), (0, 1))
        for docid, rev in acked.items():
            self.assertEqual(node.get(doc_path(db, docid)).body["_rev"], rev)
        for i in range(0, DOCS, 97):
            docid = f"d{i:06d}"
            body = node.get(doc_path(db, docid)).body
            self.assertEqual((body["_rev"], body["v"]), (revs[docid], REVISIONS))

        # A second compaction finishes the job: history gone, leaves intact.
        r = node.post(db_path(db) + "/_compact", b"", content_type="application/json")
        self.assertEqual(r.status, 202)
        self.assertTrue(wait_until(lambda: not node.get(db_path(db)).body["compact_running"], 120))
        info = node.get(db_path(db) + "/d000001?revs_info=true").body["_revs_info"]
        self.assertEqual([i["status"] for i in info], ["available"] + ["missing"] * (REVISIONS - 1))
        self.assertEqual(node.get(doc_path(db, "d000001")).body["v"], REVISIONS)


AUTO_COMPACT_ARGS = ["--compact-check-ms", "100", "--compact-min-size", "1048576",
                     "--compact-ratio", "2"]


class AutoCompactionTest(unittest.TestCase):
    def setUp(self):
        # The history is written with the policy off (so no compaction overlaps the writes and
        # leaves a ratio below 2 behind), then the node restarts with it on.
        self.node = Node(extra_args=["--auto-compact", "false"]).start()

    def tearDown(self):
        self.node.cleanup()

    def test_policy_compacts_a_database_that_is_mostly_history(self):
        node, db = self.node, "autocompact"
        self.assertEqual(node.put(db_path(db)).status, 201)
        revs = build(node, db, 500, 8, pad="y" * 2000)
        node.stop()
        node.extra_args = AUTO_COMPACT_ARGS
        node.start()
        before = node.get(db_path(db)).body["sizes"]  # opens it: the policy watches open dbs

        def compacted():
            info = node.get(doc_path(db, "d000001") + "?revs_info=true").body["_revs_info"]
            return info[1]["status"] == "missing"
        self.assertTrue(wait_until(compacted, 60, step=0.1), f"not compacted; sizes {before}")
        self.assertTrue(wait_until(lambda: not node.get(db_path(db)).body["compact_running"], 60))
        after = node.get(db_path(db)).body["sizes"]
        self.assertEqual(after["external"], before["external"])
        self.assertLess(after["file"], before["file"])
        self.assertLess(after["file"], 2 * after["active"] + 8 * 1024 * 1024)
        body = node.get(doc_path(db, "d000499")).body
        self.assertEqual((body["_rev"], body["v"]), (revs["d000499"], 8))
        # A database below --compact-min-size is left alone, however much of it is history.
        small = "autocompact_small"
        self.assertEqual(node.put(db_path(small)).status, 201)
        r1 = node.put(doc_path(small, "a"), {"v": 1}).body["rev"]
        node.put(doc_path(small, "a"), {"v": 2, "_rev": r1})
        time.sleep(0.5)
        self.assertEqual(node.get(doc_path(small, "a") + "?rev=" + r1).status, 200)


if __name__ == "__main__":
    unittest.main()
