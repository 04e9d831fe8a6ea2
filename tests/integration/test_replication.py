"""The replicator end to end (replication-protocol.md §3, §8, §9): real `divan` nodes on loopback,
admin credentials on every request as in production, replications between them over HTTP and
between databases of one node. Every wait is bounded (wait_until)."""

import base64
import hashlib
import json
import os
import time
import unittest

from divan_harness import db_path, doc_path, seq_num, test_seed
from replication_harness import (AdminNode, NodesTestCase, free_port, wait_until,
                                 written_this_run)

ADMIN, PASSWORD = "admin", "pw"  # AdminNode's defaults


class ReplicationTestCase(NodesTestCase):
    """Two nodes, A and B, for the whole class; each test uses databases of its own."""

    counter = 0

    def new_db(self, node, name=None):
        type(self).counter += 1
        db = name or f"db{type(self).counter}-{self._testMethodName[5:30].lower()}"
        node.json("PUT", db_path(db), status=201)
        return db

    def put(self, node, db, docid, body):
        return node.json("PUT", doc_path(db, docid), body, status=201)["rev"]

    def replicate(self, node, body, status=200):
        return node.json("POST", "/_replicate", body, status=status)

    def all_docs(self, node, db):
        rows = node.json("GET", db_path(db) + "/_all_docs", status=200)["rows"]
        return {row["id"]: row["value"]["rev"] for row in rows}

    def tree_of(self, node, db, docid):
        """What must be equal on every node after sync: winner, conflicts, deleted conflicts."""
        doc = node.json("GET", doc_path(db, docid) + "?conflicts=true&deleted_conflicts=true",
                        status=200)
        return (doc["_rev"], sorted(doc.get("_conflicts", [])),
                sorted(doc.get("_deleted_conflicts", [])), doc.get("v"))


class OneShotTests(ReplicationTestCase):

    def test_push_and_pull_copy_docs_deletions_and_attachments_but_not_local_docs(self):
        src = self.new_db(self.a)
        for i in range(30):
            self.put(self.a, src, f"d{i:02}", {"v": i})
        gone = self.put(self.a, src, "gone", {"v": "x"})
        self.a.json("DELETE", doc_path(src, "gone") + f"?rev={gone}", status=200)
        self.a.json("PUT", doc_path(src, "_local/mine"), {"v": 1}, status=201)
        blob = os.urandom(3 << 20)  # 3 MiB of random bytes
        resp = self.a.request("PUT", doc_path(src, "att") + "/blob.bin", body=blob,
                              content_type="application/octet-stream")
        self.assertEqual(resp.status, 201, resp.body)

        # Push: a local source, a remote target created on the way.
        dst = f"push-{self.counter}"
        out = self.replicate(self.a, {"source": src, "target": self.b.url(dst),
                                      "create_target": True})
        self.assertTrue(out["ok"])
        self.assertRegex(out["session_id"], r"^[0-9a-f]{32}$")
        self.assertEqual(out["replication_id_version"], 4)
        hist = out["history"][0]
        self.assertEqual(hist["docs_written"], 32)
        self.assertEqual(hist["missing_found"], 32)
        self.assertEqual(hist["doc_write_failures"], 0)
        for key in ("start_time", "end_time", "start_last_seq", "end_last_seq", "recorded_seq",
                    "docs_read", "missing_checked", "session_id"):
            self.assertIn(key, hist)
        self.assertEqual(self.all_docs(self.b, dst), self.all_docs(self.a, src))
        resp = self.b.get(doc_path(dst, "att") + "/blob.bin")
        self.assertEqual(resp.status, 200)
        self.assertEqual(hashlib.md5(resp.raw).hexdigest(), hashlib.md5(blob).hexdigest())
        self.assertEqual(self.b.get(doc_path(dst, "_local/mine")).status, 404)
        self.assertEqual(self.b.json("GET", db_path(dst))["doc_del_count"], 1)
        self.assertEqual(self.b.get(doc_path(dst, "gone")).status, 404)

        # A second run finds nothing to do.
        again = self.replicate(self.a, {"source": src, "target": self.b.url(dst)})
        self.assertTrue(again.get("no_changes"), again)

        # Pull: a remote source into a local target.
        back = f"pull-{self.counter}"
        out = self.replicate(self.a, {"source": self.b.url(dst), "target": back,
                                      "create_target": True})
        self.assertEqual(out["history"][0]["docs_written"], 32)
        self.assertEqual(self.all_docs(self.a, back), self.all_docs(self.a, src))

    def test_an_update_after_a_run_replicates_with_its_attachment_as_a_stub(self):
        src = self.new_db(self.a)
        dst = self.new_db(self.b)
        rev = self.put(self.a, src, "doc", {"v": 1, "_attachments": {
            "a.txt": {"content_type": "text/plain", "data": base64.b64encode(b"hi").decode()}}})
        self.replicate(self.a, {"source": src, "target": self.b.url(dst)})
        self.put(self.a, src, "doc", {"_rev": rev, "v": 2, "_attachments": {
            "a.txt": {"stub": True}}})
        out = self.replicate(self.a, {"source": src, "target": self.b.url(dst)})
        self.assertEqual(written_this_run(out), 1)
        doc = self.b.json("GET", doc_path(dst, "doc"), status=200)
        self.assertEqual(doc["v"], 2)
        self.assertEqual(self.b.get(doc_path(dst, "doc") + "/a.txt").raw, b"hi")

    def test_conflicting_edits_converge_to_the_same_winner_and_conflicts(self):
        a_db = self.new_db(self.a)
        b_db = self.new_db(self.b)
        for i in range(10):
            self.put(self.a, a_db, f"c{i}", {"v": "base"})
        self.replicate(self.a, {"source": a_db, "target": self.b.url(b_db)})
        for i in range(10):  # both sides edit every doc; some delete
            for node, db, tag in ((self.a, a_db, "a"), (self.b, b_db, "b")):
                rev = node.json("GET", doc_path(db, f"c{i}"))["_rev"]
                if i % 4 == 0 and tag == "b":
                    node.json("DELETE", doc_path(db, f"c{i}") + f"?rev={rev}", status=200)
                else:
                    self.put(node, db, f"c{i}", {"_rev": rev, "v": f"{tag}{i}"})
        self.replicate(self.a, {"source": a_db, "target": self.b.url(b_db)})
        self.replicate(self.a, {"source": self.b.url(b_db), "target": a_db})
        for i in range(10):
            self.assertEqual(self.tree_of(self.a, a_db, f"c{i}"),
                             self.tree_of(self.b, b_db, f"c{i}"), f"c{i}")
            self.assertTrue(self.tree_of(self.a, a_db, f"c{i}")[1] or
                            self.tree_of(self.a, a_db, f"c{i}")[2])
        # No ping-pong: another round both ways writes nothing.
        for body in ({"source": a_db, "target": self.b.url(b_db)},
                     {"source": self.b.url(b_db), "target": a_db}):
            out = self.replicate(self.a, body)
            self.assertEqual(written_this_run(out), 0, out)

    def test_doc_ids_and_selector_filters(self):
        src = self.new_db(self.a)
        for i in range(6):
            self.put(self.a, src, f"f{i}", {"kind": "even" if i % 2 == 0 else "odd"})
        by_ids = f"ids-{self.counter}"
        self.replicate(self.a, {"source": self.a.url(src), "target": self.b.url(by_ids),
                                "create_target": True, "doc_ids": ["f1", "f4"]})
        self.assertEqual(sorted(self.all_docs(self.b, by_ids)), ["f1", "f4"])
        by_sel = f"sel-{self.counter}"
        self.replicate(self.a, {"source": src, "target": by_sel, "create_target": True,
                                "selector": {"kind": "odd"}})
        self.assertEqual(sorted(self.all_docs(self.a, by_sel)), ["f1", "f3", "f5"])

    def test_errors_are_couchdb_shaped(self):
        resp = self.a.request("POST", "/_replicate", body={"source": "nope", "target": "x"})
        self.assertEqual(resp.status, 500)
        self.assertEqual(resp.body["error"], "db_not_found")
        resp = self.a.request("POST", "/_replicate", body={"source": "x"})
        self.assertEqual(resp.status, 400, resp.body)
        resp = self.a.request("POST", "/_replicate",
                              body={"source": "a", "target": "b", "doc_ids": "no"})
        self.assertEqual(resp.status, 400, resp.body)
        resp = self.a.request("POST", "/_replicate", body={"source": "a", "target": "b"},
                              headers={"Authorization": ""})
        self.assertEqual(resp.status, 401, resp.body)
        src = self.new_db(self.a)
        bad_target = f"http://{ADMIN}:wrong@127.0.0.1:{self.b.port}/x"
        resp = self.a.request("POST", "/_replicate", body={"source": src, "target": bad_target})
        self.assertEqual(resp.status, 401, resp.body)
        self.assertNotIn("wrong", resp.raw.decode())  # credentials never echoed
        resp = self.a.request("GET", "/_replicate")
        self.assertEqual(resp.status, 405)


class ContinuousTests(ReplicationTestCase):

    def test_continuous_follows_writes_and_cancel_stops_it(self):
        src = self.new_db(self.a)
        dst = self.new_db(self.b)
        body = {"source": src, "target": self.b.url(dst), "continuous": True}
        resp = self.a.request("POST", "/_replicate", body=body)
        self.assertEqual(resp.status, 202, resp.body)
        local_id = resp.body["_local_id"]
        self.assertTrue(local_id.endswith("+continuous"))
        for i in range(5):
            self.put(self.a, src, f"live{i}", {"i": i})
        wait_until("5 docs on B", lambda: len(self.all_docs(self.b, dst)) == 5)
        jobs = self.a.json("GET", "/_scheduler/jobs", status=200)
        job = [j for j in jobs["jobs"] if j["id"] == local_id]
        self.assertEqual(len(job), 1, jobs)
        self.assertEqual(job[0]["source"], src)
        self.assertNotIn(PASSWORD, json.dumps(jobs))
        tasks = self.a.json("GET", "/_active_tasks", status=200)
        self.assertTrue(any(t.get("replication_id") == local_id for t in tasks), tasks)

        out = self.replicate(self.a, dict(body, cancel=True))
        self.assertEqual(out, {"ok": True, "_local_id": local_id})
        self.put(self.a, src, "after-cancel", {})
        time.sleep(0.5)
        self.assertNotIn("after-cancel", self.all_docs(self.b, dst))
        resp = self.a.request("POST", "/_replicate", body=dict(body, cancel=True))
        self.assertEqual(resp.status, 404, resp.body)

    def test_a_peer_that_goes_down_is_retried_until_it_is_back(self):
        c = AdminNode(fixed_port=free_port())  # the same port after the restart
        c.start()
        try:
            src = self.new_db(self.a)
            c.json("PUT", "/target", status=201)
            if self.a.get("/_replicator").status == 404:
                self.a.json("PUT", "/_replicator", status=201)
            self.a.json("PUT", doc_path("_replicator", "to-c"),
                        {"source": src, "target": c.url("target"), "continuous": True},
                        status=201)
            self.put(self.a, src, "one", {})
            wait_until("one on C", lambda: c.get(doc_path("target", "one")).status == 200)
            c.kill()  # kill -9
            self.put(self.a, src, "two", {})
            wait_until("the job to be crashing", lambda: self.a.json(
                "GET", "/_scheduler/docs/_replicator/to-c")["state"] == "crashing")
            row = self.a.json("GET", "/_scheduler/docs/_replicator/to-c")
            self.assertGreaterEqual(row["error_count"], 1, row)
            self.assertNotIn(PASSWORD, json.dumps(row))
            c.start()
            wait_until("two on C", lambda: c.get(doc_path("target", "two")).status == 200)
            wait_until("the job to run again", lambda: self.a.json(
                "GET", "/_scheduler/docs/_replicator/to-c")["state"] == "running")
            rev = self.a.json("GET", doc_path("_replicator", "to-c"))["_rev"]
            self.a.json("DELETE", doc_path("_replicator", "to-c") + "?rev=" + rev, status=200)
            wait_until("the job to go", lambda: self.a.get(
                "/_scheduler/docs/_replicator/to-c").status == 404)
        finally:
            c.stop()
            c.cleanup()


class BidirectionalTests(ReplicationTestCase):
    """"bidirectional": true (ours, replicator/sync.h): both directions from one request."""

    def test_one_shot_syncs_both_ways_and_answers_both_summaries(self):
        a_db = self.new_db(self.a)
        b_db = f"bidi-{self.counter}"
        for i in range(4):
            self.put(self.a, a_db, f"a{i}", {"v": i})
        body = {"source": a_db, "target": self.b.url(b_db), "bidirectional": True,
                "create_target": True}
        out = self.replicate(self.a, body)
        self.assertTrue(out["ok"])
        self.assertEqual(written_this_run(out["source_to_target"]), 4)
        self.assertTrue(out["target_to_source"].get("no_changes") or
                        written_this_run(out["target_to_source"]) == 0, out)
        # Both sides edit the same doc and add their own: one sync converges them.
        for node, db, tag in ((self.a, a_db, "a"), (self.b, b_db, "b")):
            rev = node.json("GET", doc_path(db, "a0"))["_rev"]
            self.put(node, db, "a0", {"_rev": rev, "v": tag})
            self.put(node, db, f"only-{tag}", {})
        out = self.replicate(self.a, dict(body, create_target=False))
        self.assertEqual(written_this_run(out["source_to_target"]), 2, out)
        self.assertEqual(written_this_run(out["target_to_source"]), 2, out)
        self.assertEqual(self.all_docs(self.a, a_db), self.all_docs(self.b, b_db))
        self.assertEqual(self.tree_of(self.a, a_db, "a0"), self.tree_of(self.b, b_db, "a0"))
        self.assertEqual(len(self.tree_of(self.a, a_db, "a0")[1]), 1)
        # No ping-pong: a third sync writes nothing either way.
        out = self.replicate(self.a, body)
        for direction in ("source_to_target", "target_to_source"):
            self.assertEqual(written_this_run(out[direction]), 0, out)

    def test_continuous_keeps_both_directions_running_and_cancel_stops_both(self):
        a_db = self.new_db(self.a)
        b_db = self.new_db(self.b)
        body = {"source": a_db, "target": self.b.url(b_db), "bidirectional": True,
                "continuous": True}
        resp = self.a.request("POST", "/_replicate", body=body)
        self.assertEqual(resp.status, 202, resp.body)
        ids = resp.body["_local_ids"]
        self.assertEqual(len(ids), 2)
        self.assertEqual(resp.body["_local_id"], ids[0])
        self.assertNotEqual(ids[0], ids[1])
        self.put(self.a, a_db, "from-a", {})
        self.put(self.b, b_db, "from-b", {})
        wait_until("both docs on both nodes", lambda: sorted(self.all_docs(self.a, a_db)) ==
                   sorted(self.all_docs(self.b, b_db)) == ["from-a", "from-b"])
        running = {j["id"] for j in self.a.json("GET", "/_scheduler/jobs")["jobs"]}
        self.assertTrue(set(ids) <= running, running)
        out = self.replicate(self.a, dict(body, cancel=True))
        self.assertEqual(sorted(out["_local_ids"]), sorted(ids))
        running = {j["id"] for j in self.a.json("GET", "/_scheduler/jobs")["jobs"]}
        self.assertFalse(set(ids) & running, running)
        resp = self.a.request("POST", "/_replicate", body=dict(body, cancel=True))
        self.assertEqual(resp.status, 404, resp.body)

    def test_bad_values_are_refused(self):
        resp = self.a.request("POST", "/_replicate",
                              body={"source": "a", "target": "b", "bidirectional": "yes"})
        self.assertEqual(resp.status, 400, resp.body)
        self.assertEqual(resp.body["reason"], "parameter `bidirectional` must be a boolean")
        resp = self.a.request("POST", "/_replicate",
                              body={"source": "nope", "target": "x", "bidirectional": True})
        self.assertEqual(resp.status, 500, resp.body)
        self.assertEqual(resp.body["error"], "db_not_found")
        if self.a.get("/_replicator").status == 404:
            self.a.json("PUT", "/_replicator", status=201)
        resp = self.a.request("PUT", doc_path("_replicator", "both"),
                              body={"source": "a", "target": "b", "bidirectional": "yes"})
        self.assertEqual(resp.status, 403, resp.body)


class ReplicatorDbTests(ReplicationTestCase):

    def ensure_replicator_db(self, node):
        if node.get("/_replicator").status == 404:
            node.json("PUT", "/_replicator", status=201)

    def test_a_one_shot_doc_runs_and_records_completed(self):
        self.ensure_replicator_db(self.a)
        src = self.new_db(self.a)
        for i in range(3):
            self.put(self.a, src, f"r{i}", {})
        target = f"rdb-{self.counter}"
        self.a.json("PUT", doc_path("_replicator", "once"),
                    {"source": src, "target": self.b.url(target), "create_target": True},
                    status=201)
        doc = wait_until("state completed", lambda: (lambda d: d if d.get(
            "_replication_state") == "completed" else None)(
            self.a.json("GET", doc_path("_replicator", "once"))))
        self.assertEqual(doc["owner"], ADMIN)
        self.assertEqual(doc["_replication_stats"]["docs_written"], 3)
        self.assertEqual(len(self.all_docs(self.b, target)), 3)
        row = self.a.json("GET", "/_scheduler/docs/_replicator/once", status=200)
        self.assertEqual(row["state"], "completed")
        self.assertEqual(row["database"], "_replicator")
        self.assertEqual(row["doc_id"], "once")
        listing = self.a.json("GET", "/_scheduler/docs", status=200)
        self.assertIn("once", [d["doc_id"] for d in listing["docs"]])

    def test_a_bidirectional_doc_is_one_doc_with_two_jobs(self):
        self.ensure_replicator_db(self.a)
        left, right = self.new_db(self.a), self.new_db(self.b)
        self.put(self.a, left, "from-left", {})
        self.put(self.b, right, "from-right", {})
        self.a.json("PUT", doc_path("_replicator", "both-live"),
                    {"source": left, "target": self.b.url(right), "bidirectional": True,
                     "continuous": True}, status=201)
        row = wait_until("both jobs running", lambda: (lambda r: r if r.status == 200 and
                         r.body["state"] == "running" and len(r.body["ids"]) == 2 else None)(
            self.a.get("/_scheduler/docs/_replicator/both-live")))
        self.assertEqual(row.body["source"], left)
        self.assertEqual(set(row.body["info"]), {"source_to_target", "target_to_source"})
        jobs = [j["id"] for j in self.a.json("GET", "/_scheduler/jobs")["jobs"]
                if j["doc_id"] == "both-live"]
        self.assertEqual(sorted(jobs), sorted(row.body["ids"]))
        wait_until("both docs on both sides", lambda: set(self.all_docs(self.a, left)) ==
                   set(self.all_docs(self.b, right)) == {"from-left", "from-right"})
        self.put(self.b, right, "later-right", {})
        wait_until("a later write on the target reaches the source",
                   lambda: "later-right" in self.all_docs(self.a, left))
        # Deleting the document stops both jobs.
        rev = self.a.json("GET", doc_path("_replicator", "both-live"))["_rev"]
        self.a.json("DELETE", doc_path("_replicator", "both-live") + f"?rev={rev}", status=200)
        wait_until("both jobs gone", lambda: not [
            j for j in self.a.json("GET", "/_scheduler/jobs")["jobs"] if j["doc_id"] == "both-live"])

    def test_a_one_shot_bidirectional_doc_records_completed_with_both_stats(self):
        self.ensure_replicator_db(self.a)
        left, right = self.new_db(self.a), self.new_db(self.b)
        for i in range(3):
            self.put(self.a, left, f"l{i}", {})
        self.put(self.b, right, "r0", {})
        self.a.json("PUT", doc_path("_replicator", "both-once"),
                    {"source": left, "target": self.b.url(right), "bidirectional": True},
                    status=201)
        doc = wait_until("state completed", lambda: (lambda d: d if d.get(
            "_replication_state") == "completed" else None)(
            self.a.json("GET", doc_path("_replicator", "both-once"))))
        stats = doc["_replication_stats"]
        self.assertEqual(stats["source_to_target"]["docs_written"], 3)
        self.assertEqual(stats["target_to_source"]["docs_written"], 1)
        self.assertEqual(len(self.all_docs(self.a, left)), 4)
        self.assertEqual(len(self.all_docs(self.b, right)), 4)
        row = self.a.json("GET", "/_scheduler/docs/_replicator/both-once", status=200)
        self.assertEqual(row["state"], "completed")

    def test_a_duplicate_doc_fails_with_couchdbs_reason(self):
        self.ensure_replicator_db(self.a)
        src = self.new_db(self.a)
        spec = {"source": src, "target": f"dup-{self.counter}", "create_target": True,
                "continuous": True}
        self.a.json("PUT", doc_path("_replicator", "dup-one"), spec, status=201)
        wait_until("the first running", lambda: self.a.get(
            "/_scheduler/docs/_replicator/dup-one").status == 200)
        self.a.json("PUT", doc_path("_replicator", "dup-two"), spec, status=201)
        doc = wait_until("the duplicate failed", lambda: (lambda d: d if d.get(
            "_replication_state") == "failed" else None)(
            self.a.json("GET", doc_path("_replicator", "dup-two"))))
        self.assertRegex(doc["_replication_state_reason"],
                         r"^Replication `[0-9a-f]{32}\+continuous\+create_target` specified by "
                         r"document `dup-two` already started, triggered by document `dup-one` "
                         r"from db `_replicator`$")
        row = self.a.json("GET", "/_scheduler/docs/_replicator/dup-two", status=200)
        self.assertEqual(row["state"], "failed")
        for docid in ("dup-one", "dup-two"):  # deleting the docs ends the job
            rev = self.a.json("GET", doc_path("_replicator", docid))["_rev"]
            self.a.json("DELETE", doc_path("_replicator", docid) + f"?rev={rev}", status=200)

    def test_an_invalid_doc_is_refused_with_403(self):
        self.ensure_replicator_db(self.a)
        resp = self.a.request("PUT", doc_path("_replicator", "bad"),
                              body={"source": "a", "target": "b", "continuous": "yes"})
        self.assertEqual(resp.status, 403, resp.body)
        self.assertEqual(resp.body["error"], "forbidden")
        resp = self.a.request("PUT", doc_path("_replicator", "bad2"), body={"target": "b"})
        self.assertEqual(resp.status, 403, resp.body)

    def test_a_continuous_doc_survives_a_restart_and_resumes_from_its_checkpoint(self):
        node = AdminNode()
        node.start()
        try:
            self.ensure_replicator_db(node)
            node.json("PUT", "/src", status=201)
            for i in range(20):
                node.json("PUT", doc_path("src", f"p{i}"), {}, status=201)
            node.json("PUT", doc_path("_replicator", "keep"),
                      {"source": "src", "target": "dst", "create_target": True,
                       "continuous": True, "checkpoint_interval": 200}, status=201)
            wait_until("20 docs", lambda: node.get("/dst").status == 200 and
                       node.json("GET", "/dst")["doc_count"] == 20)
            time.sleep(0.5)  # a checkpoint (interval 200 ms)
            node.kill()
            node.start()
            node.json("PUT", doc_path("src", "after"), {}, status=201)
            wait_until("the doc written after the restart",
                       lambda: node.get(doc_path("dst", "after")).status == 200)
            row = node.json("GET", "/_scheduler/docs/_replicator/keep", status=200)
            self.assertEqual(row["state"], "running")
            # Resumed from the checkpoint, not from 0: the session after the restart starts at
            # seq 20 (its checkpoint, interval 200 ms, is in the source's _local doc).
            base_id = row["id"].split("+")[0]

            def resumed_session():
                log = node.get(doc_path("src", "_local/" + base_id))
                if log.status != 200:
                    return None
                first = log.body["history"][0]
                return first if seq_num(first["start_last_seq"]) >= 20 else None
            wait_until("a checkpoint of the resumed session", resumed_session)
        finally:
            node.stop()
            node.cleanup()


class KillDuringReplicationTests(ReplicationTestCase):

    def test_kill_9_of_the_target_mid_run_then_a_rerun_completes_everything(self):
        rng_seed = test_seed()
        src = self.new_db(self.a)
        docs = [{"_id": f"k{i:05}", "n": i, "seed": rng_seed} for i in range(3000)]
        for start in range(0, len(docs), 500):
            self.a.json("POST", db_path(src) + "/_bulk_docs", {"docs": docs[start:start + 500]},
                        status=201)
        c = AdminNode()
        c.start()
        try:
            c.json("PUT", "/t", status=201)
            # Start a continuous push, kill the target while it runs.
            self.replicate(self.a, {"source": src, "target": c.url("t"), "continuous": True,
                                    "worker_batch_size": 100}, status=202)
            wait_until("some docs on C", lambda: c.json("GET", "/t").get("doc_count", 0) > 0,
                       step=0.01)
            c.kill()
            self.replicate(self.a, {"source": src, "target": c.url("t"), "continuous": True,
                                    "worker_batch_size": 100, "cancel": True})
            c.start()
            out = self.replicate(self.a, {"source": src, "target": c.url("t")})
            self.assertTrue(out["ok"])
            self.assertEqual(c.json("GET", "/t")["doc_count"], 3000)
            for doc in (docs[0], docs[1234], docs[-1]):
                got = c.json("GET", doc_path("t", doc["_id"]), status=200)
                self.assertEqual(got["n"], doc["n"])
        finally:
            c.stop()
            c.cleanup()


if __name__ == "__main__":
    unittest.main()
