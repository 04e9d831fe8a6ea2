"""Crash safety (STYLE.md Tests/Integration "Crash test", SQLite tempfault): kill -9 under write
load, restart on the same data dir; every acknowledged write must be there, an unacknowledged one
all there or absent, and `PRAGMA integrity_check` must say ok for every database file."""

import glob
import os
import random
import shutil
import sys
import sqlite3
import tempfile
import threading
import time
import unittest
import http.client
import zlib

from divan_harness import Node, db_path, doc_path, rev_pos, seq_num, test_seed

ROUNDS = int(os.environ.get("DIVAN_CRASH_ROUNDS", "4"))
WRITERS = 8
MAX_OPS_PER_WRITER = 400     # bound per round, whatever the speed of the machine
LOAD_MIN, LOAD_MAX = 0.4, 1.2  # seconds of load before the kill


def integrity_check(path):
    conn = sqlite3.connect(path, timeout=10)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


class Writer(threading.Thread):
    """Sequential writes to its own docs, so at most one write of this thread is in flight.

    acked[id] = (rev, body) for every 2xx reply; pending = (id, pos, body) of the write in flight
    (its outcome unknown if the node dies first)."""

    def __init__(self, node, db, tag, rng, acked, stop):
        super().__init__(daemon=True)
        self.node, self.db, self.tag, self.rng, self.stop = node, db, tag, rng, stop
        self.acked = acked  # shared model for this writer's ids, carried across rounds
        self.pending = None
        self.pending_bulk = []
        self.error = None
        self.ops = 0

    def run(self):
        try:
            while not self.stop.is_set() and self.ops < MAX_OPS_PER_WRITER:
                self.ops += 1
                self.step()
        except (OSError, http.client.HTTPException, AssertionError):
            pass  # the node was killed under us: expected
        except BaseException as e:
            self.error = e

    def step(self):
        mine = [k for k in self.acked]
        choice = self.rng.random()
        if choice < 0.15:
            self.bulk_create()
            return
        if mine and choice < 0.6:
            docid = self.rng.choice(mine)
            rev, _ = self.acked[docid]
            body = {"w": self.tag, "n": self.ops, "pad": "u" * self.rng.randint(0, 2000)}
            self.pending = (docid, rev_pos(rev) + 1, body)
            r = self.node.put(doc_path(self.db, docid), dict(body, _rev=rev))
        else:
            docid = f"{self.tag}-{self.ops:05d}"
            body = {"w": self.tag, "n": self.ops, "pad": "c" * self.rng.randint(0, 2000)}
            self.pending = (docid, 1, body)
            if self.rng.random() < 0.5:
                r = self.node.put(doc_path(self.db, docid), body)
            else:
                r = self.node.post(db_path(self.db), dict(body, _id=docid))
        if r.status != 201:
            raise RuntimeError(f"unexpected reply under load: {r!r}")
        self.acked[docid] = (r.body["rev"], body)
        self.pending = None

    def bulk_create(self):
        docs = [{"_id": f"{self.tag}-{self.ops:05d}-b{k}", "w": self.tag, "k": k}
                for k in range(self.rng.randint(2, 12))]
        self.pending_bulk = docs
        r = self.node.post(db_path(self.db) + "/_bulk_docs", {"docs": docs})
        if r.status != 201:
            raise RuntimeError(f"unexpected bulk reply under load: {r!r}")
        for d, res in zip(docs, r.body):
            if not res.get("ok"):
                raise RuntimeError(f"bulk item failed: {res!r}")
            body = {k: v for k, v in d.items() if k != "_id"}
            self.acked[d["_id"]] = (res["rev"], body)
        self.pending_bulk = []


class CrashTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="divan-it-crash-")
        self.node = Node(data_dir=self.dir)
        self.addCleanup(self.cleanup)

    def cleanup(self):
        self.node.stop()
        if os.environ.get("DIVAN_KEEP"):
            print(f"[divan-it] kept crash data dir {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def check_integrity(self, when):
        files = sorted(glob.glob(os.path.join(self.dir, "*.sqlite3")))
        self.assertTrue(files, f"no *.sqlite3 files in {self.dir}: {os.listdir(self.dir)}")
        for f in files:
            self.assertEqual(integrity_check(f), [("ok",)], f"{when}: integrity_check of {f}")

    def verify(self, db, model, pending, pending_bulk, created_dbs):
        """Compares the node's state of `db` against the acknowledged model, resolving in-flight
        writes (each either fully applied or absent). Returns the observed model."""
        node = self.node
        r = node.get(db_path(db) + "/_all_docs?include_docs=true")
        self.assertEqual(r.status, 200, r)
        seen = {}
        for row in r.body["rows"]:
            doc = row["doc"]
            body = {k: v for k, v in doc.items() if not k.startswith("_")}
            seen[row["id"]] = (doc["_rev"], body)
        self.assertEqual(r.body["total_rows"], len(seen))
        info = node.get(db_path(db)).body
        self.assertEqual(info["doc_count"], len(seen), "doc_count disagrees with _all_docs")

        in_flight = {}
        for p in pending:
            if p is not None:
                in_flight[p[0]] = (p[1], p[2])
        for docs in pending_bulk:
            for d in docs:
                in_flight[d["_id"]] = (1, {k: v for k, v in d.items() if k != "_id"})

        for docid, (rev, body) in model.items():
            self.assertIn(docid, seen, f"acknowledged doc {docid} ({rev}) lost")
            got_rev, got_body = seen[docid]
            if got_rev == rev:
                self.assertEqual(got_body, body, f"{docid} at acknowledged {rev}: body differs")
                continue
            # Only the one in-flight update of this doc may have landed on top.
            self.assertIn(docid, in_flight, f"{docid}: {got_rev} is neither acked {rev} "
                                            "nor an in-flight write")
            pos, want_body = in_flight[docid]
            self.assertEqual(rev_pos(got_rev), pos, f"{docid}: unexpected rev {got_rev}")
            self.assertEqual(got_body, want_body, f"{docid}: half-applied write at {got_rev}")
        # The acked rev must still be in the tree (as the leaf or its parent).
        if model:
            r = node.post(db_path(db) + "/_revs_diff",
                          {docid: [rev] for docid, (rev, _) in model.items()})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, {}, "acknowledged revisions missing from the rev trees")
        for docid, (got_rev, got_body) in seen.items():
            if docid in model:
                continue
            self.assertIn(docid, in_flight, f"{docid} appeared from nowhere")
            pos, want_body = in_flight[docid]
            self.assertEqual(rev_pos(got_rev), 1)
            self.assertEqual(got_body, want_body, f"{docid}: half-applied create")
        for name in created_dbs:
            self.assertEqual(node.get(db_path(name)).status, 200, f"acked database {name} lost")
        return seen

    def test_kill_9_under_write_load(self):
        rng = random.Random(test_seed())
        deadline = time.monotonic() + 90
        databases = {}          # db -> verified model {id: (rev, body)}
        created_dbs = []
        self.node.start()
        for rnd in range(ROUNDS):
            if time.monotonic() > deadline:
                break
            db = f"crash-r{rnd}"
            self.assertEqual(self.node.put(db_path(db)).status, 201)
            created_dbs.append(db)
            # Writers hit this round's db and the previous round's (data that has survived a crash).
            targets = [db] if rnd == 0 else [db, f"crash-r{rnd - 1}"]
            stop = threading.Event()
            writers = []
            models = {}
            for target in targets:
                models[target] = dict(databases.get(target, {}))
            for t in range(WRITERS):
                target = targets[t % len(targets)]
                # Each writer owns its ids (so its updates never conflict): it gets its own slice
                # of the docs that survived earlier rounds.
                slot, slots = t // len(targets), WRITERS // len(targets)
                acked = {k: v for k, v in models[target].items()
                         if zlib.crc32(k.encode()) % slots == slot}
                writers.append(Writer(self.node, target, f"r{rnd}w{t}",
                                      random.Random(rng.random()), acked, stop))
            # Also create databases under load; only acknowledged ones must survive.
            db_acks = []

            def db_creator():
                try:
                    for k in range(50):
                        if stop.is_set():
                            return
                        name = f"side-r{rnd}-{k}"
                        if self.node.put(db_path(name)).status == 201:
                            db_acks.append(name)
                except (OSError, http.client.HTTPException, AssertionError):
                    pass

            side = threading.Thread(target=db_creator, daemon=True)
            for w in writers:
                w.start()
            side.start()
            time.sleep(rng.uniform(LOAD_MIN, LOAD_MAX))
            self.node.kill()
            stop.set()
            for w in writers + [side]:
                w.join(30)
                self.assertFalse(w.is_alive(), "writer did not notice the kill")
            self.node.close_connections()
            for w in writers:
                if w.error:
                    raise w.error
            acks = sum(len(w.acked) for w in writers)
            ops = sum(w.ops for w in writers)
            in_flight = sum(w.pending is not None or bool(w.pending_bulk) for w in writers)
            print(f"[divan-it] crash round {rnd}: {ops} ops, {acks} docs acked, "
                  f"{in_flight} writes in flight at the kill, {len(db_acks)} dbs created",
                  file=sys.stderr)
            self.assertGreater(acks, 0, "no write was acknowledged before the kill")
            self.check_integrity(f"round {rnd} after kill -9")

            self.node.start()
            for target in targets:
                model = dict(models[target])
                for w in writers:
                    if w.db == target:
                        model.update(w.acked)
                pending = [w.pending for w in writers if w.db == target]
                pending_bulk = [w.pending_bulk for w in writers if w.db == target]
                databases[target] = self.verify(target, model, pending, pending_bulk,
                                                created_dbs + db_acks)
            # Older databases untouched this round must be exactly as verified before.
            for old, model in databases.items():
                if old in targets:
                    continue
                self.verify(old, model, [], [], [])
            created_dbs += db_acks
        self.assertGreaterEqual(len(databases), min(ROUNDS, 2), "too few rounds ran")
        self.assertEqual(self.node.stop(), 0, "SIGTERM should exit 0")
        self.check_integrity("after the final clean stop")


if __name__ == "__main__":
    unittest.main()
