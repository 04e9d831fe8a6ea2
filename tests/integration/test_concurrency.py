"""Concurrency: many clients at once against one node (STYLE.md: one writer per database, conflicts
checked inside the transaction). Every thread has its own keep-alive connection."""

import threading
import time
import unittest

from divan_harness import NodeTestCase, db_path, doc_path, rev_pos

CONFLICT = "Document update conflict."
JOIN_TIMEOUT = 60


def run_threads(n, target):
    """Runs target(i, barrier) in n threads released together; returns per-thread results and
    re-raises the first exception."""
    barrier = threading.Barrier(n, timeout=30)
    results = [None] * n
    errors = []

    def wrap(i):
        try:
            results[i] = target(i, barrier)
        except BaseException as e:  # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
        if t.is_alive():
            raise AssertionError("worker thread did not finish in time")
    if errors:
        raise errors[0]
    return results


class ConcurrencyTest(NodeTestCase):

    def setUp(self):
        self.db = self.new_db()

    def test_same_doc_same_rev_exactly_one_wins(self):
        for round_ in range(3):
            docid = f"hot{round_}"
            base = self.create_doc(self.db, docid, {"v": 0})

            def worker(i, barrier):
                barrier.wait()
                return self.node.put(doc_path(self.db, docid), {"_rev": base, "writer": i})

            results = run_threads(16, worker)
            wins = [r for r in results if r.status == 201]
            losses = [r for r in results if r.status != 201]
            self.assertEqual(len(wins), 1, [r.status for r in results])
            for r in losses:
                self.assertError(r, 409, "conflict", CONFLICT)
            winner_rev = wins[0].body["rev"]
            self.assertRev(winner_rev, 2)
            got = self.get(doc_path(self.db, docid) + "?conflicts=true").body
            self.assertEqual(got["_rev"], winner_rev)
            self.assertNotIn("_conflicts", got)
            self.assertEqual(got["writer"], results.index(wins[0]))

    def test_same_doc_concurrent_creates_one_wins(self):
        def worker(i, barrier):
            barrier.wait()
            return self.node.put(doc_path(self.db, "fresh"), {"writer": i})

        results = run_threads(16, worker)
        self.assertEqual(sum(r.status == 201 for r in results), 1, [r.status for r in results])
        for r in results:
            if r.status != 201:
                self.assertError(r, 409, "conflict", CONFLICT)

    def test_many_threads_distinct_docs(self):
        threads, per = 8, 40

        def worker(i, barrier):
            barrier.wait()
            revs = {}
            for k in range(per):
                docid = f"w{i}-{k:03d}"
                if k % 2:
                    r = self.node.put(doc_path(self.db, docid), {"t": i, "k": k})
                else:
                    r = self.node.post(db_path(self.db), {"_id": docid, "t": i, "k": k})
                assert r.status == 201, r
                revs[docid] = r.body["rev"]
            return revs

        s0 = self.update_seq(self.db)
        results = run_threads(threads, worker)
        want = {k: v for d in results for k, v in d.items()}
        self.assertEqual(len(want), threads * per)
        body = self.get(db_path(self.db) + "/_all_docs").body
        self.assertEqual(body["total_rows"], threads * per)
        self.assertEqual({row["id"]: row["value"]["rev"] for row in body["rows"]}, want)
        self.assertEqual(self.db_info(self.db)["doc_count"], threads * per)
        self.assertEqual(self.update_seq(self.db), s0 + threads * per)

    def test_concurrent_bulk_docs(self):
        def worker(i, barrier):
            barrier.wait()
            out = []
            for b in range(5):
                docs = [{"_id": f"b{i}-{b}-{k}", "v": k} for k in range(20)]
                r = self.node.post(db_path(self.db) + "/_bulk_docs", {"docs": docs})
                assert r.status == 201, r
                assert all(x.get("ok") for x in r.body), r
                out += [x["id"] for x in r.body]
            return out

        results = run_threads(6, worker)
        ids = sorted(x for r in results for x in r)
        self.assertEqual(len(ids), 6 * 5 * 20)
        rows = self.get(db_path(self.db) + "/_all_docs").body["rows"]
        self.assertEqual([row["id"] for row in rows], sorted(ids, key=lambda s: s.encode()))

    def test_replicated_same_revs_concurrently_one_seq(self):
        s0 = self.update_seq(self.db)
        doc = self.path_doc("rep", 3, ["c", "b", "a"], v=1)

        def worker(i, barrier):
            barrier.wait()
            return self.node.post(db_path(self.db) + "/_bulk_docs",
                                  {"new_edits": False, "docs": [doc]})

        for r in run_threads(12, worker):
            self.assertStatus(r, 201)
            self.assertEqual(r.body, [])
        self.assertEqual(self.update_seq(self.db), s0 + 1, "known revs must take no seq")

    def test_replicated_branches_concurrently_all_kept(self):
        def worker(i, barrier):
            barrier.wait()
            return self.node.post(db_path(self.db) + "/_bulk_docs", {"new_edits": False, "docs": [
                self.path_doc("br", 2, [f"x{i:02d}", "a"], v=i)]})

        for r in run_threads(10, worker):
            self.assertEqual((r.status, r.body), (201, []))
        got = self.get(doc_path(self.db, "br") + "?conflicts=true").body
        self.assertEqual(got["_rev"], "2-x09")
        self.assertEqual(got["_conflicts"], [f"2-x{i:02d}" for i in range(8, -1, -1)])

    def test_readers_during_writes(self):
        rev = [self.create_doc(self.db, "rw", {"n": 0})]
        stop = threading.Event()
        deadline = time.monotonic() + 20

        def writer():
            for n in range(1, 60):
                if time.monotonic() > deadline:
                    break
                r = self.node.put(doc_path(self.db, "rw"), {"_rev": rev[0], "n": n})
                assert r.status == 201, r
                rev[0] = r.body["rev"]
            stop.set()

        def reader(i, barrier):
            barrier.wait()
            seen = 0
            last_pos = 0
            while not stop.is_set() and seen < 500:
                r = self.node.get(doc_path(self.db, "rw"))
                assert r.status == 200, r
                pos = rev_pos(r.body["_rev"])
                assert pos == r.body["n"] + 1, r
                assert pos >= last_pos, "a reader went back in time"
                last_pos = pos
                seen += 1
            return seen

        w = threading.Thread(target=writer, daemon=True)
        w.start()
        seen = run_threads(6, reader)
        w.join(JOIN_TIMEOUT)
        stop.set()
        self.assertTrue(all(s > 0 for s in seen))
        self.assertEqual(self.get(doc_path(self.db, "rw")).body["_rev"], rev[0])

    def test_concurrent_db_create_same_name(self):
        name = self.db + "-race"

        def worker(i, barrier):
            barrier.wait()
            return self.node.put(db_path(name))

        results = run_threads(10, worker)
        self.assertEqual(sum(r.status == 201 for r in results), 1, [r.status for r in results])
        for r in results:
            if r.status != 201:
                self.assertError(r, 412, "file_exists")

    def test_writes_to_db_being_deleted(self):
        # Writers race a DELETE of their database: every reply is a clean 201 or 404, never a
        # crash or 500, and afterwards the database is gone.
        name = self.db + "-doomed"
        self.assertStatus(self.put(db_path(name)), 201)

        def worker(i, barrier):
            barrier.wait()
            statuses = []
            if i == 0:
                time.sleep(0.05)
                statuses.append(self.node.delete(db_path(name)).status)
                return statuses
            for k in range(30):
                statuses.append(self.node.put(doc_path(name, f"d{i}-{k}"), {}).status)
            return statuses

        results = run_threads(6, worker)
        self.assertEqual(results[0], [200])
        for st in results[1:]:
            self.assertTrue(set(st) <= {201, 404}, st)
        self.assertError(self.get(db_path(name)), 404, "not_found", "Database does not exist.")


if __name__ == "__main__":
    unittest.main()
