"""The replicator under network faults (replication-protocol.md §5, §8, §9): real `divan` nodes
on loopback, admin credentials on every request, and a fault-injecting proxy (fault_proxy.py)
between them: refused connections, a peer that stops listening, slow answers, answers cut
mid-body, and 500s. Continuous replications must come back by themselves once a fault is
cleared, with exactly the source's documents and revisions on the target. Then three nodes in a
mesh with conflicting edits, a 20 MiB attachment over HTTP, and malformed replication requests.

Every wait is bounded (wait_until); processes are stopped by pid (divan_harness.Node)."""

import base64
import hashlib
import json
import os
import random
import threading
import time
import unittest

from divan_harness import db_path, doc_path, seq_num, test_seed
from fault_proxy import FaultProxy
from replication_harness import AdminNode, NodesTestCase, wait_until

ADMIN = "admin"
# Distinctive, so that any occurrence of it in an answer or a log line is a leak.
PASSWORD = "Fault-Pw-7e3q"
WAIT = 20.0       # seconds anything in these tests may take to show its effect
FAULT_HOLD = 1.5  # seconds a fault stays on after the writes made during it


def FaultNode(extra_args=(), **kw):
    """A node whose admin has the distinctive password (replication_harness.AdminNode)."""
    return AdminNode(extra_args=extra_args, admin=ADMIN, password=PASSWORD, **kw)


def proxy_url(proxy, db):
    return proxy.url(db, ADMIN, PASSWORD)


# ---- What "the same documents" means ----------------------------------------------------------

def doc_states(node, db):
    """id → (deleted?, sorted leaf revs) from `_changes?style=all_docs`; also fails if an id
    shows up twice (the feed has one row per document)."""
    rows = node.json("GET", db_path(db) + "/_changes?style=all_docs", status=200)["results"]
    out = {}
    for row in rows:
        if row["id"] in out:
            raise AssertionError(f"{db}: id {row['id']!r} twice in _changes: {rows!r}")
        out[row["id"]] = (bool(row.get("deleted")), sorted(c["rev"] for c in row["changes"]))
    return out


def leaves(node, db, docid):
    """Every leaf of the document, with its `_revisions` and body (GET ?open_revs=all&revs=true)."""
    resp = node.request("GET", doc_path(db, docid) + "?open_revs=all&revs=true",
                        headers={"Accept": "application/json"})
    if resp.status != 200:
        raise AssertionError(f"open_revs=all of {docid!r} on :{node.port}: {resp!r}")
    docs = [item["ok"] for item in resp.body if "ok" in item]
    return sorted((json.dumps(d, sort_keys=True) for d in docs))


def winner_view(node, db, docid):
    """(winning rev, _conflicts, _deleted_conflicts) from
    GET ?conflicts=true&deleted_conflicts=true; ("deleted", reason) when the winner is a deletion
    (the GET answers 404 then)."""
    resp = node.request("GET", doc_path(db, docid) + "?conflicts=true&deleted_conflicts=true")
    if resp.status == 404:
        return ("deleted", resp.body.get("reason") if isinstance(resp.body, dict) else None)
    if resp.status != 200:
        raise AssertionError(f"GET {docid!r} on :{node.port}: {resp!r}")
    doc = resp.body
    return (doc["_rev"], sorted(doc.get("_conflicts", [])),
            sorted(doc.get("_deleted_conflicts", [])))


class ReplicationAsserts(NodesTestCase):

    @classmethod
    def make_node(cls):
        return FaultNode()

    def new_db(self, node, tag):
        type(self).counter += 1
        db = f"{tag}{type(self).counter}-{self._testMethodName[5:28].lower()}"
        node.json("PUT", db_path(db), status=201)
        return db

    def put(self, node, db, docid, body):
        return node.json("PUT", doc_path(db, docid), body, status=201)["rev"]

    def ensure_replicator_db(self, node):
        if node.get("/_replicator").status == 404:
            node.json("PUT", "/_replicator", status=201)

    def assertSameDocs(self, src_node, src, dst_node, dst):
        """dst holds exactly src's documents: same ids, winners, deletions, leaves, `_revisions`
        and bodies, same doc_count/doc_del_count, nothing twice."""
        self.assertEqual(doc_states(dst_node, dst), doc_states(src_node, src))
        src_info = src_node.json("GET", db_path(src), status=200)
        dst_info = dst_node.json("GET", db_path(dst), status=200)
        for key in ("doc_count", "doc_del_count"):
            self.assertEqual(dst_info[key], src_info[key], f"{key}: {src_info!r} vs {dst_info!r}")
        for docid in doc_states(src_node, src):
            self.assertEqual(leaves(dst_node, dst, docid), leaves(src_node, src, docid), docid)

    def wait_same(self, src_node, src, dst_node, dst, what, timeout=WAIT):
        wait_until(what, lambda: doc_states(dst_node, dst) == doc_states(src_node, src),
                   timeout=timeout, step=0.1)
        self.assertSameDocs(src_node, src, dst_node, dst)


# ---- 1, 2. Continuous replications through each fault ------------------------------------------

class FaultTests(ReplicationAsserts):
    """A and B, with a proxy in front of each: the push job runs on A (a `_replicator` doc, target
    B through `to_b`), the pull job on B (a `_replicate` call, source A through `to_a`). Both copy
    the same database of A, so every fault is seen from both sides of a replication: the target's
    (_revs_diff, _bulk_docs, checkpoints) and the source's (_changes long-poll, _bulk_get)."""

    counter = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.to_a = FaultProxy(cls.a.port).start()
        cls.to_b = FaultProxy(cls.b.port).start()

    @classmethod
    def tearDownClass(cls):
        stuck = cls.to_a.stop() + cls.to_b.stop()
        super().tearDownClass()
        if stuck:
            raise AssertionError(f"proxy threads did not end: {stuck}")

    def setUp(self):
        for proxy in (self.to_a, self.to_b):
            proxy.clear()
            proxy.reset_counts()

    def tearDown(self):
        self.to_a.clear()
        self.to_b.clear()
        super().tearDown()
        for node in (self.a, self.b):
            self.assertNotIn(PASSWORD, node.log(), "a password in the node's log")

    # -- the two jobs --

    def start_jobs(self, **options):
        """Creates A's database and B's two copies, starts the push and the pull job (both
        continuous, with `options`), and arranges for them to be stopped after the test."""
        self.ensure_replicator_db(self.a)
        src = self.new_db(self.a, "src")
        push = self.new_db(self.b, "push")
        pull = self.new_db(self.b, "pull")
        doc_id = f"push-{src}"
        self.a.json("PUT", doc_path("_replicator", doc_id),
                    dict({"source": src, "target": proxy_url(self.to_b, push),
                          "continuous": True}, **options), status=201)
        body = dict({"source": proxy_url(self.to_a, src), "target": pull, "continuous": True},
                    **options)
        resp = self.b.request("POST", "/_replicate", body=body)
        self.assertEqual(resp.status, 202, resp)
        job_id = resp.body["_local_id"]

        def stop_jobs():
            self.to_a.clear()
            self.to_b.clear()
            rev = self.a.json("GET", doc_path("_replicator", doc_id))["_rev"]
            self.a.json("DELETE", doc_path("_replicator", doc_id) + "?rev=" + rev, status=200)
            self.b.json("POST", "/_replicate", dict(body, cancel=True), status=200)
        self.addCleanup(stop_jobs)
        wait_until("the push job to run", lambda: self.push_state(doc_id) == "running")
        wait_until("the pull job to run", lambda: self.pull_running(job_id))
        return src, push, pull, doc_id, job_id

    def push_row(self, doc_id):
        return self.a.json("GET", f"/_scheduler/docs/_replicator/{doc_id}", status=200)

    def push_state(self, doc_id):
        # The scheduler reads `_replicator` docs after they are written: a doc just PUT may not
        # be listed yet (404), as in CouchDB.
        resp = self.a.request("GET", f"/_scheduler/docs/_replicator/{doc_id}")
        return resp.body["state"] if resp.status == 200 else None

    def pull_job(self, job_id):
        jobs = self.b.json("GET", "/_scheduler/jobs", status=200)["jobs"]
        found = [j for j in jobs if j["id"] == job_id]
        self.assertLessEqual(len(found), 1, jobs)
        return found[0] if found else None

    def pull_running(self, job_id):
        job = self.pull_job(job_id)
        return job is not None and job["pid"] is not None and \
            job["history"][0]["type"] == "started"

    def pull_crashes(self, job_id):
        job = self.pull_job(job_id)
        return [e for e in job["history"] if e["type"] == "crashed"] if job else []

    # -- writes --

    def write_batch(self, src, tag, count=12):
        """New docs, updates of older ones, deletions and one with an attachment, on A."""
        existing = [row["id"] for row in
                    self.a.json("GET", db_path(src) + "/_all_docs", status=200)["rows"]]
        for i in range(count):
            self.put(self.a, src, f"{tag}-{i:02}", {"tag": tag, "i": i})
        for docid in existing[:3]:
            rev = self.a.json("GET", doc_path(src, docid), status=200)["_rev"]
            self.put(self.a, src, docid, {"_rev": rev, "updated_in": tag})
        for docid in existing[3:5]:
            rev = self.a.json("GET", doc_path(src, docid), status=200)["_rev"]
            self.a.json("DELETE", doc_path(src, docid) + "?rev=" + rev, status=200)
        self.put(self.a, src, f"{tag}-att", {"_attachments": {"x.bin": {
            "content_type": "application/octet-stream",
            "data": base64.b64encode(os.urandom(5000)).decode()}}})

    def baseline(self, src, push, pull):
        self.write_batch(src, "base")
        self.wait_same(self.a, src, self.b, push, "the baseline on B (push)")
        self.wait_same(self.a, src, self.b, pull, "the baseline on B (pull)")

    def assertNotArrived(self, db, docid):
        self.assertEqual(self.b.get(doc_path(db, docid)).status, 404,
                         f"{docid} reached {db} through a proxy that should be failing")

    def recover(self, src, push, pull, doc_id, job_id):
        """After the fault is cleared: everything arrives, both jobs run again, a later write
        arrives too (the jobs are live, not merely caught up once)."""
        t0 = time.monotonic()
        self.wait_same(self.a, src, self.b, push, "the push target to catch up")
        self.wait_same(self.a, src, self.b, pull, "the pull target to catch up")
        wait_until("the push job to be running again", lambda: self.push_state(doc_id) ==
                   "running")
        wait_until("the pull job to be running again", lambda: self.pull_running(job_id))
        self.put(self.a, src, "after-recovery", {"late": True})
        for db in (push, pull):
            wait_until(f"after-recovery on {db}",
                       lambda db=db: self.b.get(doc_path(db, "after-recovery")).status == 200)
        self.assertSameDocs(self.a, src, self.b, push)
        self.assertSameDocs(self.a, src, self.b, pull)
        return time.monotonic() - t0

    def assertRedacted(self):
        """The scheduler never shows the password (endpoints as user:*****@)."""
        for node in (self.a, self.b):
            for path in ("/_scheduler/jobs", "/_scheduler/docs", "/_active_tasks"):
                text = node.get(path).raw.decode()
                self.assertNotIn(PASSWORD, text, f"{path} on :{node.port}")

    # -- the faults --

    def check_crashing_while_unreachable(self, src, push, pull, doc_id, job_id, mode):
        self.write_batch(src, f"during-{mode}")
        # Push: the doc's state is `crashing`, with the reason in info.error and error_count.
        wait_until("the push job to be crashing", lambda: self.push_state(doc_id) == "crashing")
        row = self.push_row(doc_id)
        self.assertIsInstance(row["info"].get("error"), str, row)
        self.assertTrue(row["info"]["error"], row)
        self.assertGreaterEqual(row["error_count"], 1, row)
        self.assertIn(f"{ADMIN}:*****@", row["target"], row)
        # spec §9.4: a job that is not running (crashing, waiting for its host) is no active task.
        tasks = self.a.json("GET", "/_active_tasks", status=200)
        if self.push_state(doc_id) == "crashing":
            self.assertNotIn(row["id"], [t.get("replication_id") for t in tasks], tasks)
        # Pull: the job's history has `crashed` events with a reason; it is not running.
        wait_until("a crash of the pull job", lambda: self.pull_crashes(job_id))
        job = self.pull_job(job_id)
        self.assertTrue(all(isinstance(e.get("reason"), str) and e["reason"]
                            for e in self.pull_crashes(job_id)), job)
        self.assertIn(f"{ADMIN}:*****@", job["source"], job)
        self.assertRedacted()
        time.sleep(FAULT_HOLD)
        self.assertNotArrived(push, f"during-{mode}-00")
        self.assertNotArrived(pull, f"during-{mode}-00")
        self.assertRedacted()

    def test_refused_connections_then_recovery(self):
        src, push, pull, doc_id, job_id = self.start_jobs()
        self.baseline(src, push, pull)
        self.to_a.set_mode("refuse")
        self.to_b.set_mode("refuse")
        self.check_crashing_while_unreachable(src, push, pull, doc_id, job_id, "refuse")
        self.assertGreater(self.to_b.counts["refused"], 0)
        self.assertGreater(self.to_a.counts["refused"], 0)
        self.to_a.clear()
        self.to_b.clear()
        took = self.recover(src, push, pull, doc_id, job_id)
        print(f"[faults] refuse: recovered in {took:.2f}s", flush=True)

    def test_peer_stops_listening_then_recovery(self):
        src, push, pull, doc_id, job_id = self.start_jobs()
        self.baseline(src, push, pull)
        self.to_a.set_mode("down")
        self.to_b.set_mode("down")
        self.check_crashing_while_unreachable(src, push, pull, doc_id, job_id, "down")
        self.to_a.clear()
        self.to_b.clear()
        took = self.recover(src, push, pull, doc_id, job_id)
        print(f"[faults] down: recovered in {took:.2f}s", flush=True)

    def test_responses_cut_mid_body_then_recovery(self):
        src, push, pull, doc_id, job_id = self.start_jobs()
        self.baseline(src, push, pull)
        self.to_a.set_mode("cut")
        self.to_b.set_mode("cut")
        self.write_batch(src, "during-cut")
        wait_until("a response cut on each side",
                   lambda: self.to_a.counts["cut"] > 0 and self.to_b.counts["cut"] > 0)
        # A cut answer is no answer: the job waits for the host, as for a refusal.
        wait_until("the push job to be crashing", lambda: self.push_state(doc_id) == "crashing")
        wait_until("a crash of the pull job", lambda: self.pull_crashes(job_id))
        self.assertRedacted()
        time.sleep(FAULT_HOLD)
        self.assertNotArrived(pull, "during-cut-00")
        self.to_a.clear()
        self.to_b.clear()
        took = self.recover(src, push, pull, doc_id, job_id)
        print(f"[faults] cut: recovered in {took:.2f}s", flush=True)

    def test_http_500_answers_then_recovery(self):
        # retries_per_request 1: a 500 is resent once after 250 ms, then the job crashes with
        # `http_error_code: 500 <METHOD> <url>` and the scheduler restarts it after its backoff
        # (300 ms doubling, at most 1 s here), again and again until the peer is fixed.
        src, push, pull, doc_id, job_id = self.start_jobs(retries_per_request=1)
        self.baseline(src, push, pull)
        self.to_a.set_mode("error")
        self.to_b.set_mode("error")
        self.write_batch(src, "during-500")
        wait_until("the push job to be crashing", lambda: self.push_state(doc_id) == "crashing")
        wait_until("the push job to crash twice in a row",
                   lambda: self.push_row(doc_id)["error_count"] >= 2)
        row = self.push_row(doc_id)
        self.assertEqual(row["state"], "crashing", row)
        self.assertTrue(row["info"]["error"].startswith("http_error_code: 500 "), row)
        self.assertIn(f"http://{ADMIN}:*****@127.0.0.1:{self.to_b.port}/", row["info"]["error"],
                      row)
        wait_until("two crashes of the pull job", lambda: len(self.pull_crashes(job_id)) >= 2)
        reason = self.pull_crashes(job_id)[0]["reason"]
        self.assertTrue(reason.startswith("http_error_code: 500 "), reason)
        self.assertIn(f"http://{ADMIN}:*****@127.0.0.1:{self.to_a.port}/", reason)
        self.assertNotArrived(push, "during-500-00")
        self.assertNotArrived(pull, "during-500-00")
        self.assertRedacted()
        self.to_a.clear()
        self.to_b.clear()
        took = self.recover(src, push, pull, doc_id, job_id)
        print(f"[faults] 500: recovered in {took:.2f}s", flush=True)

    def test_slow_answers_then_answers_slower_than_the_timeout(self):
        # connection_timeout 1 s: a 300 ms delay is slow but fine, a 2.5 s one times out.
        src, push, pull, doc_id, job_id = self.start_jobs(connection_timeout=1000)
        self.baseline(src, push, pull)
        self.to_a.set_mode("delay", delay_ms=300)
        self.to_b.set_mode("delay", delay_ms=300)
        self.write_batch(src, "slow")
        # Slow is not broken: everything arrives while the delay is still on.
        self.wait_same(self.a, src, self.b, push, "the push target, through slow answers")
        self.wait_same(self.a, src, self.b, pull, "the pull target, through slow answers")
        self.assertGreater(self.to_a.counts["delayed"], 0)
        self.assertGreater(self.to_b.counts["delayed"], 0)

        # Slower than the timeout: requests (including _bulk_docs that B did apply) time out and
        # are resent; nothing may be written twice.
        self.to_a.set_mode("delay", delay_ms=2500)
        self.to_b.set_mode("delay", delay_ms=2500)
        self.write_batch(src, "timeout")
        wait_until("a request given up by its client (a timeout)",
                   lambda: self.to_a.counts["abandoned"] + self.to_b.counts["abandoned"] > 0,
                   timeout=10.0)
        time.sleep(FAULT_HOLD)
        self.assertRedacted()
        self.to_a.clear()
        self.to_b.clear()
        took = self.recover(src, push, pull, doc_id, job_id)
        print(f"[faults] delay: recovered in {took:.2f}s", flush=True)

    # -- single glitches --

    def test_single_500s_are_resent_without_crashing_the_job(self):
        # spec §5.1: a 5xx is resent (250 ms, doubling) by the request itself; the job goes on.
        src, push, pull, doc_id, job_id = self.start_jobs()
        self.baseline(src, push, pull)
        self.to_b.set_mode("error", match="/_revs_diff", times=2)
        self.to_a.set_mode("error", match="/_bulk_get", times=2)
        self.write_batch(src, "glitch")
        self.wait_same(self.a, src, self.b, push, "the push target, past two 500s")
        self.wait_same(self.a, src, self.b, pull, "the pull target, past two 500s")
        self.assertEqual(self.to_b.counts["error"], 2)
        self.assertEqual(self.to_a.counts["error"], 2)
        row = self.push_row(doc_id)
        self.assertEqual((row["state"], row["error_count"]), ("running", 0), row)
        self.assertEqual(self.pull_crashes(job_id), [], self.pull_job(job_id))

    def test_a_changes_feed_cut_mid_stream_is_reopened_without_a_crash(self):
        # spec §5.1: "Changes feed: a stream closed mid-response is reopened from the last seen
        # seq without consuming retries." The pull job reads A's feed through `to_a`.
        src, push, pull, doc_id, job_id = self.start_jobs()
        self.baseline(src, push, pull)
        self.to_a.set_mode("cut", match="/_changes", times=1)
        self.write_batch(src, "feed-cut")
        wait_until("the feed to be cut", lambda: self.to_a.counts["cut"] == 1)
        self.wait_same(self.a, src, self.b, pull, "the pull target, past a cut feed")
        self.assertEqual(self.pull_crashes(job_id), [], self.pull_job(job_id))

    def test_a_one_shot_replication_survives_a_single_dropped_connection(self):
        # spec §5.1: connection errors are resent by the request (retries_per_request, 250 ms
        # doubling); only a peer that stays broken fails the replication. A one-shot `_replicate`
        # answers its caller with how its run ended, so a run must not end on one glitch.
        src = self.new_db(self.a, "src")
        self.write_batch(src, "one")
        cases = (
            ("pull, _bulk_get cut", self.to_a, "/_bulk_get", self.b,
             lambda dst: {"source": proxy_url(self.to_a, src), "target": dst}),
            ("push, _bulk_docs cut", self.to_b, "/_bulk_docs", self.a,
             lambda dst: {"source": src, "target": proxy_url(self.to_b, dst)}),
        )
        for name, proxy, match, runner, body in cases:
            with self.subTest(name):
                dst = self.new_db(self.b, "dst")
                proxy.set_mode("cut", match=match, times=1)
                resp = runner.request("POST", "/_replicate", body=body(dst))
                self.assertEqual(proxy.counts["cut"], 1, proxy.counts)
                self.assertEqual(resp.status, 200, resp)
                self.assertSameDocs(self.a, src, self.b, dst)
                proxy.reset_counts()

    # -- a one-shot replication against a peer that only ever answers 500 --

    def test_one_shot_against_a_peer_answering_500_for_good(self):
        src = self.new_db(self.a, "src")
        self.put(self.a, src, "x", {"v": 1})
        dst = self.new_db(self.b, "dst")
        broken = FaultProxy(self.b.port).start()
        broken_a = FaultProxy(self.a.port).start()
        try:
            broken.set_mode("error")
            broken_a.set_mode("error")
            cases = [
                (self.a, {"source": src, "target": proxy_url(broken, dst),
                          "retries_per_request": 2}, broken),
                (self.b, {"source": proxy_url(broken_a, src), "target": dst,
                          "retries_per_request": 2}, broken_a),
            ]
            for node, body, proxy in cases:
                t0 = time.monotonic()
                resp = node.request("POST", "/_replicate", body=body)
                took = time.monotonic() - t0
                self.assertGreaterEqual(resp.status, 400, resp)
                self.assertLess(resp.status, 600, resp)
                self.assertTrue(resp.content_type().startswith("application/json"), resp)
                self.assertIsInstance(resp.body, dict, resp)
                self.assertIsInstance(resp.body.get("error"), str, resp)
                self.assertIsInstance(resp.body.get("reason"), str, resp)
                self.assertNotIn("ok", resp.body, resp)
                self.assertIn("500", resp.body["reason"], resp)
                self.assertNotIn(PASSWORD, resp.raw.decode(), resp)
                # The first attempt and retries_per_request = 2 resends, 250 ms then 500 ms apart.
                self.assertEqual(proxy.counts["error"], 3, (resp, proxy.counts))
                self.assertLess(took, 10.0, resp)
                print(f"[faults] one-shot vs 500: {resp.status} {resp.body} in {took:.2f}s",
                      flush=True)
                # The node is fine: it serves, and its scheduler has no leftover job.
                self.assertEqual(node.get("/_up").status, 200)
                jobs = node.json("GET", "/_scheduler/jobs", status=200)
                self.assertNotIn(proxy_url(proxy, "").split("@")[1], json.dumps(jobs))
            # Once the peer answers again, the same one-shot replications work.
            broken.clear()
            broken_a.clear()
            out = self.a.json("POST", "/_replicate",
                              {"source": src, "target": proxy_url(broken, dst)}, status=200)
            self.assertTrue(out["ok"], out)
            self.assertSameDocs(self.a, src, self.b, dst)
        finally:
            self.assertEqual(broken.stop() + broken_a.stop(), [])


# ---- 3. Three nodes, a full mesh, conflicting edits everywhere ---------------------------------

class MeshTests(ReplicationAsserts):
    counter = 0
    node_count = 3

    def tree(self, node, db, docid):
        return winner_view(node, db, docid), leaves(node, db, docid)

    def converged(self, db, ids):
        for docid in ids:
            first = self.tree(self.nodes[0], db, docid)
            for node in self.nodes[1:]:
                if self.tree(node, db, docid) != first:
                    return False
        return True

    def test_three_nodes_with_concurrent_conflicting_edits_converge_without_ping_pong(self):
        seed = test_seed()
        db = f"mesh{seed % 1000}"
        for node in self.nodes:
            node.json("PUT", db_path(db), status=201)
        # Each node pushes to both others: A→B, B→C, C→A and the reverse.
        bodies = []
        for i, node in enumerate(self.nodes):
            for j, other in enumerate(self.nodes):
                if i != j:
                    body = {"source": db, "target": other.url(db), "continuous": True}
                    node.json("POST", "/_replicate", body, status=202)
                    bodies.append((node, body))

        def cancel_all():
            for node, body in bodies:
                node.request("POST", "/_replicate", body=dict(body, cancel=True))
        self.addCleanup(cancel_all)

        ids = [f"m{i:02}" for i in range(20)]
        a, b, c = self.nodes
        a.json("POST", db_path(db) + "/_bulk_docs",
               {"docs": [{"_id": d, "v": "base"} for d in ids]}, status=201)
        wait_until("the base docs on every node", lambda: all(
            len(doc_states(n, db)) == len(ids) for n in self.nodes), timeout=WAIT)
        base = {row["id"]: row["value"]["rev"]
                for row in a.json("GET", db_path(db) + "/_all_docs")["rows"]}

        # Round 1: all three edit every doc from the same base at the same moment; C deletes some.
        barrier = threading.Barrier(3, timeout=10)
        results = {}

        def round_one(k, node):
            docs = []
            for n, docid in enumerate(ids):
                d = {"_id": docid, "_rev": base[docid], "v": f"{'abc'[k]}1", "n": n}
                if k == 2 and n % 5 == 0:
                    d = {"_id": docid, "_rev": base[docid], "_deleted": True}
                docs.append(d)
            barrier.wait()
            results[k] = node.request("POST", db_path(db) + "/_bulk_docs", body={"docs": docs})

        # Round 2: each node edits (or deletes) what it now sees as the winner of a third of the
        # docs, while the replications are delivering round 1.
        def round_two(k, node):
            picks = [d for n, d in enumerate(ids) if n % 3 == k]
            rng_k = random.Random(seed * 3 + k)
            for docid in picks:
                resp = node.request("GET", doc_path(db, docid))
                if resp.status != 200:
                    continue
                rev = resp.body["_rev"]
                if rng_k.random() < 0.2:
                    node.request("DELETE", doc_path(db, docid) + "?rev=" + rev)
                else:
                    node.request("PUT", doc_path(db, docid),
                                 body={"_rev": rev, "v": f"{'abc'[k]}2"})  # 201, or 409 on a race

        def both_rounds(k, node):
            round_one(k, node)
            round_two(k, node)

        threads = [threading.Thread(target=both_rounds, args=(k, n), daemon=True)
                   for k, n in enumerate(self.nodes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
            self.assertFalse(t.is_alive(), "an editing thread hung")
        for k, resp in results.items():
            self.assertEqual(resp.status, 201, resp)
        round_one_conflicts = sum(1 for resp in results.values() for item in resp.body
                                  if item.get("error") == "conflict")

        t0 = time.monotonic()
        wait_until("the three nodes to converge", lambda: self.converged(db, ids),
                   timeout=WAIT, step=0.2)
        print(f"[faults] mesh converged {time.monotonic() - t0:.2f}s after the edits", flush=True)
        conflicted = [d for d in ids if self.tree(a, db, d)[0][0] != "deleted" and (
            self.tree(a, db, d)[0][1] or self.tree(a, db, d)[0][2])]
        self.assertTrue(conflicted, "the concurrent edits made no conflict at all")
        for n, docid in enumerate(ids):
            if n % 5 == 0:  # C deleted its branch in round one: a losing deleted leaf everywhere
                view = winner_view(a, db, docid)
                self.assertNotEqual(view[0], "deleted", (docid, view))
                self.assertTrue(view[2], (docid, view))
        print(f"[faults] mesh: {len(conflicted)}/{len(ids)} docs in conflict, "
              f"{round_one_conflicts} round-one edits refused with 409", flush=True)
        states = [doc_states(n, db) for n in self.nodes]
        self.assertEqual(states[1], states[0])
        self.assertEqual(states[2], states[0])
        infos = [n.json("GET", db_path(db)) for n in self.nodes]
        for info in infos[1:]:
            for key in ("doc_count", "doc_del_count"):
                self.assertEqual(info[key], infos[0][key], infos)

        # No ping-pong: once converged, nothing is written anywhere any more.
        seqs = [seq_num(n.json("GET", db_path(db))["update_seq"]) for n in self.nodes]
        time.sleep(1.5)
        again = [seq_num(n.json("GET", db_path(db))["update_seq"]) for n in self.nodes]
        self.assertEqual(again, seqs, "update_seq kept moving after convergence (ping-pong)")
        jobs_before = [self.docs_written(n) for n in self.nodes]
        time.sleep(0.5)
        self.assertEqual([self.docs_written(n) for n in self.nodes], jobs_before)

    def docs_written(self, node):
        jobs = node.json("GET", "/_scheduler/jobs", status=200)["jobs"]
        return sorted((j["id"], j["info"].get("docs_written")) for j in jobs)


# ---- 4. A 20 MiB attachment over HTTP ----------------------------------------------------------

class BigAttachmentTests(ReplicationAsserts):
    counter = 0


    def test_a_20_mib_attachment_push_and_pull(self):
        src = self.new_db(self.a, "big")
        blob = os.urandom(20 << 20)
        md5 = hashlib.md5(blob).hexdigest()
        resp = self.a.request("PUT", doc_path(src, "big") + "/blob.bin", body=blob,
                              content_type="application/octet-stream", timeout=60)
        self.assertEqual(resp.status, 201, resp)
        self.put(self.a, src, "small", {"v": 1})
        # Push: A writes to B over HTTP. Pull: B reads from A over HTTP.
        for runner, body, dst_name in (
                (self.a, lambda dst: {"source": src, "target": self.b.url(dst)}, "pushed"),
                (self.b, lambda dst: {"source": self.a.url(src), "target": dst}, "pulled")):
            dst = self.new_db(self.b, dst_name)
            t0 = time.monotonic()
            resp = runner.request("POST", "/_replicate", body=body(dst), timeout=120)
            took = time.monotonic() - t0
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.body["history"][0]["docs_written"], 2, resp.body)
            got = self.b.request("GET", doc_path(dst, "big") + "/blob.bin", timeout=60)
            self.assertEqual(got.status, 200, got)
            self.assertEqual(len(got.raw), len(blob))
            self.assertEqual(hashlib.md5(got.raw).hexdigest(), md5)
            stub = self.b.json("GET", doc_path(dst, "big"), status=200)["_attachments"]["blob.bin"]
            self.assertEqual(stub["length"], len(blob), stub)
            self.assertEqual(stub["digest"], "md5-" + base64.b64encode(
                hashlib.md5(blob).digest()).decode(), stub)
            print(f"[faults] 20 MiB {dst_name} in {took:.2f}s", flush=True)


# ---- 5. Malformed replication requests ------------------------------------------------------

def bad_bodies(src, dst):
    """(name, body) of `_replicate` bodies that must be refused with 400 (spec §4, §8)."""
    ok = {"source": src, "target": dst}
    wrong_types = [
        ("continuous", "yes"), ("create_target", 1), ("cancel", "yes"),
        ("doc_ids", "d1"), ("doc_ids", [1, 2]), ("selector", "x"), ("selector", [1]),
        ("filter", 12), ("query_params", "a=b"), ("query_params", {"a": 1}),
        ("worker_processes", "many"), ("worker_processes", 0), ("worker_batch_size", True),
        ("worker_batch_size", -5), ("http_connections", []), ("connection_timeout", "soon"),
        ("retries_per_request", -1), ("checkpoint_interval", 0), ("use_checkpoints", "no"),
        ("use_bulk_get", 0), ("user_ctx", "admin"), ("user_ctx", {"roles": "x"}),
        ("create_target_params", 5), ("winning_revs_only", "true"),
    ]
    cases = [(f"{key}={value!r}", dict(ok, **{key: value})) for key, value in wrong_types]
    cases += [
        ("doc_ids and selector", dict(ok, doc_ids=["a"], selector={"a": 1})),
        ("filter without a slash", dict(ok, filter="nofilter")),
        ("unknown source scheme", {"source": "ftp://127.0.0.1/db", "target": dst}),
        ("unknown target scheme", {"source": src, "target": "gopher://127.0.0.1/db"}),
        ("source URL without host", {"source": "http:///db", "target": dst}),
        ("source port out of range", {"source": "http://127.0.0.1:70000/db", "target": dst}),
        ("source a number", {"source": 42, "target": dst}),
        ("source an object without url", {"source": {"headers": {}}, "target": dst}),
        ("source headers not strings", {"source": {"url": "http://127.0.0.1:1/db",
                                                   "headers": {"X": 1}}, "target": dst}),
        ("source an invalid db name", {"source": "Bad Name", "target": dst}),
        ("missing target", {"source": src}),
        ("missing source", {"target": dst}),
        ("null target", {"source": src, "target": None}),
        ("empty object", {}),
    ]
    return cases


class BadInputTests(ReplicationAsserts):
    counter = 0


    def assertCouchError(self, resp, status, error, what):
        self.assertEqual(resp.status, status, f"{what}: {resp!r}")
        self.assertTrue(resp.content_type().startswith("application/json"), f"{what}: {resp!r}")
        self.assertIsInstance(resp.body, dict, f"{what}: {resp!r}")
        self.assertEqual(resp.body.get("error"), error, f"{what}: {resp!r}")
        self.assertIsInstance(resp.body.get("reason"), str, f"{what}: {resp!r}")
        self.assertTrue(resp.body["reason"], f"{what}: {resp!r}")
        self.assertNotIn("ok", resp.body, f"{what}: {resp!r}")

    def test_malformed_replicate_bodies_and_replicator_docs_are_refused(self):
        self.ensure_replicator_db(self.a)
        src = self.new_db(self.a, "src")
        dst = self.new_db(self.b, "dst")
        # A live job before the barrage, to show the scheduler keeps running it.
        live = {"source": src, "target": self.b.url(dst), "continuous": True}
        self.a.json("POST", "/_replicate", live, status=202)
        self.addCleanup(lambda: self.a.request("POST", "/_replicate", body=dict(live, cancel=True)))
        self.put(self.a, src, "before", {})
        wait_until("before on B", lambda: self.b.get(doc_path(dst, "before")).status == 200)

        cases = bad_bodies(src, self.b.url(dst))
        refused = []
        for name, body in cases:
            resp = self.a.request("POST", "/_replicate", body=body)
            error = "illegal_database_name" if name.endswith("invalid db name") else "bad_request"
            self.assertCouchError(resp, 400, error, f"_replicate {name}")
            self.assertNotIn(PASSWORD, resp.raw.decode(), name)
            refused.append(name)
        # Bodies that are not a JSON object, or not JSON at all.
        for name, raw in (("array", b"[]"), ("string", b'"x"'), ("number", b"1"),
                          ("null", b"null"), ("invalid JSON", b'{"source": '),
                          ("trailing garbage", b'{"source":"a","target":"b"} x'),
                          ("empty", b"")):
            resp = self.a.request("POST", "/_replicate", body=raw,
                                  content_type="application/json")
            self.assertCouchError(resp, 400, "bad_request", f"_replicate body {name}")
        # A wrong content type (spec §8: application/json required).
        resp = self.a.request("POST", "/_replicate", body=json.dumps(
            {"source": src, "target": dst}).encode(), content_type="text/plain")
        self.assertCouchError(resp, 415, "bad_content_type", "_replicate as text/plain")

        # The same mistakes in `_replicator` docs: 403 forbidden, nothing stored.
        doc_cases = [(n, b) for n, b in cases if n != "cancel='yes'"]
        doc_cases.append(("cancel in a _replicator doc",
                          {"source": src, "target": self.b.url(dst), "cancel": True}))
        for k, (name, body) in enumerate(doc_cases):
            docid = f"bad-{k:02}"
            resp = self.a.request("PUT", doc_path("_replicator", docid), body=body)
            self.assertCouchError(resp, 403, "forbidden", f"_replicator PUT {name}")
            self.assertEqual(self.a.get(doc_path("_replicator", docid)).status, 404, name)
        resp = self.a.request("POST", "/_replicator", body=dict(doc_cases[0][1], _id="bad-post"))
        self.assertCouchError(resp, 403, "forbidden", "_replicator POST")
        resp = self.a.request("POST", "/_replicator/_bulk_docs", body={"docs": [
            dict(doc_cases[0][1], _id="bad-bulk"), {"_id": "bad-bulk-2", "target": "x"}]})
        self.assertEqual(resp.status, 201, resp)
        self.assertEqual([r.get("error") for r in resp.body], ["forbidden", "forbidden"], resp)
        # A document body that is no JSON object never reaches the validation: 400 (CouchDB).
        for name, raw in (("array", b"[]"), ("invalid JSON", b'{"source": ')):
            resp = self.a.request("PUT", doc_path("_replicator", "bad-raw"), body=raw,
                                  content_type="application/json")
            self.assertCouchError(resp, 400, "bad_request", f"_replicator doc {name}")
        # An update of a valid doc into an invalid one is refused too, and the job keeps going.
        good_id = "good-then-bad"
        good = {"source": src, "target": self.b.url(f"{dst}-viadoc"), "create_target": True,
                "continuous": True}
        rev = self.a.json("PUT", doc_path("_replicator", good_id), good, status=201)["rev"]
        self.addCleanup(lambda: self.a.request(
            "DELETE", doc_path("_replicator", good_id) + "?rev=" +
            self.a.json("GET", doc_path("_replicator", good_id))["_rev"]))
        resp = self.a.request("PUT", doc_path("_replicator", good_id),
                              body=dict(good, _rev=rev, worker_processes="x"))
        self.assertCouchError(resp, 403, "forbidden", "update into an invalid doc")

        # The node keeps serving, and the scheduler keeps running jobs.
        self.assertEqual(self.a.get("/_up").status, 200)
        rows = self.a.json("GET", "/_scheduler/docs", status=200)["docs"]
        self.assertEqual([r["doc_id"] for r in rows if r["doc_id"].startswith("bad")], [], rows)
        self.put(self.a, src, "after", {})
        wait_until("after on B (the live job)",
                   lambda: self.b.get(doc_path(dst, "after")).status == 200)
        wait_until("the good doc's job to run", lambda: self.a.json(
            "GET", f"/_scheduler/docs/_replicator/{good_id}").get("state") == "running")
        wait_until("after on B (the doc's job)",
                   lambda: self.b.get(doc_path(f"{dst}-viadoc", "after")).status == 200)
        print(f"[faults] {len(cases)} bad _replicate bodies, {len(doc_cases)} bad docs refused",
              flush=True)


if __name__ == "__main__":
    unittest.main()
