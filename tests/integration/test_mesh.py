"""The sync mesh (replicator/mesh.h) end to end: real `divan` nodes on loopback started with
`--peer` to each other, admin credentials on every request. Databases appear on every node,
concurrent writes and conflicting edits converge to the same trees, `kill -9` of a node during
the writes loses nothing, peers come and go at runtime, and /_mesh reports health. Every loop is
bounded in count and time."""

import base64
import os
import random
import shutil
import tempfile
import threading
import time
import unittest

from divan_harness import Node, db_path, doc_path, test_seed
from replication_harness import AdminNode, free_port, wait_until

PROBE_MS = 300  # how often a peer is probed and its database list compared
CONVERGE = 60.0  # seconds a mesh may take to converge after the writes stop


def peer_url(port):
    return f"http://admin:pw@127.0.0.1:{port}"


def mesh_node(port, peer_ports, extra=()):
    args = ["--peer-probe-ms", str(PROBE_MS), "--peer-idle-ms", "1000"]
    for p in peer_ports:
        args += ["--peer", peer_url(p)]
    return AdminNode(extra_args=[*args, *extra], fixed_port=port)


def start_mesh(count):
    ports = [free_port() for _ in range(count)]
    nodes = [mesh_node(p, [q for q in ports if q != p]) for p in ports]
    for node in nodes:
        node.start()
    return nodes


def state_of(node, db):
    """What must be equal on every node: per doc id its leaves, its winner, deleted or not, and
    the winner's body."""
    rows = node.json("GET", db_path(db) + "/_changes?style=all_docs", status=200)["results"]
    state = {}
    for row in rows:
        leaves = sorted(c["rev"] for c in row["changes"])
        doc = node.request("GET", doc_path(db, row["id"]) + "?conflicts=true&deleted_conflicts=true")
        winner = doc.body if doc.status == 200 else None
        state[row["id"]] = (leaves, bool(row.get("deleted")), winner)
    return state


def converged(nodes, db):
    states = [state_of(n, db) for n in nodes]
    return states[0] if all(s == states[0] for s in states[1:]) else None


class MeshTests(unittest.TestCase):
    """Three nodes, each started with --peer to the other two."""

    @classmethod
    def setUpClass(cls):
        cls.nodes = start_mesh(3)

    @classmethod
    def tearDownClass(cls):
        for node in cls.nodes:
            node.cleanup()

    def tearDown(self):
        for node in self.nodes:
            node.assert_alive()

    def test_a_database_created_on_one_node_appears_on_every_node_within_2s(self):
        for creator in range(3):
            db = f"made-on-{creator}"
            start = time.monotonic()
            self.nodes[creator].json("PUT", db_path(db), status=201)
            for node in self.nodes:
                wait_until(f"{db} on every node",
                           lambda n=node: db in n.json("GET", "/_all_dbs", status=200),
                           timeout=2.0, step=0.02)
            print(f"[mesh] {db} on 3 nodes after {time.monotonic() - start:.3f}s")

    def test_writes_conflicts_deletes_and_attachments_converge(self):
        db = "converge"
        self.nodes[0].json("PUT", db_path(db), status=201)
        for node in self.nodes:
            wait_until("db everywhere", lambda n=node: db in n.json("GET", "/_all_dbs"))
        # The same ids written on every node, each its own revision (new_edits=false, so the
        # conflicts do not depend on timing): resolved the same way everywhere.
        for i, node in enumerate(self.nodes):
            docs = [{"_id": f"d{k}", "_rev": f"1-{'abc'[i] * 32}", "v": f"node{i}"}
                    for k in range(20)]
            docs.append({"_id": f"att{i}", "_rev": f"1-{'abc'[i] * 32}", "_attachments": {"a.txt": {
                "content_type": "text/plain",
                "data": base64.b64encode(f"from node {i}".encode()).decode()}}})
            node.json("POST", db_path(db) + "/_bulk_docs", {"docs": docs, "new_edits": False},
                      status=201)
        state = wait_until("the same trees on every node", lambda: converged(self.nodes, db),
                           timeout=CONVERGE, step=0.2)
        self.assertEqual(len(state), 23)
        conflicted = [s for s in state.values() if len(s[0]) == 3]
        self.assertEqual(len(conflicted), 20, "each of d0..d19 has one leaf per node")
        # A deletion and an edit on different nodes converge too.
        rev = self.nodes[1].json("GET", doc_path(db, "d0"))["_rev"]
        self.nodes[1].json("DELETE", doc_path(db, "d0") + f"?rev={rev}", status=200)
        rev = self.nodes[2].json("GET", doc_path(db, "d1"))["_rev"]
        self.nodes[2].json("PUT", doc_path(db, "d1"), {"_rev": rev, "v": "edited"}, status=201)
        wait_until("the edits everywhere", lambda: all(
            n.json("GET", doc_path(db, "d1")).get("v") == "edited" for n in self.nodes),
            timeout=CONVERGE, step=0.1)
        state = wait_until("the same trees again", lambda: converged(self.nodes, db),
                           timeout=CONVERGE, step=0.2)
        att = self.nodes[2].request("GET", doc_path(db, "att0") + "/a.txt")
        self.assertEqual(att.status, 200)

    def test_health_shows_every_peer_and_both_directions_of_every_database(self):
        db = "health"
        self.nodes[2].json("PUT", db_path(db), status=201)

        self.nodes[2].json("PUT", doc_path(db, "x"), {"v": 1}, status=201)

        def both_synced():
            body = self.nodes[0].json("GET", "/_mesh")
            dbs = [p["databases"].get(db) for p in body["peers"]]
            return body if all(d and d[w]["state"] == "idle" and d[w]["last_active"]
                               for d in dbs for w in ("push", "pull")) else None

        body = wait_until("both directions synced and idle for both peers", both_synced)
        self.assertTrue(body["ok"])
        self.assertEqual(len(body["peers"]), 2)
        for peer in body["peers"]:
            self.assertTrue(peer["reachable"])
            self.assertTrue(peer["db_updates"])
            self.assertIsNone(peer["last_error"])
            self.assertIsInstance(peer["rtt_ms"], float)
            self.assertNotIn("pw", peer["url"])  # credentials never shown
            self.assertNotIn("_users", peer["databases"])  # system databases left out
            self.assertNotIn("_replicator", peer["databases"])
            for direction in ("push", "pull"):
                job = peer["databases"][db][direction]
                self.assertEqual(job["mode"], "cold")
                self.assertEqual(job["changes_pending"], 0)
                self.assertEqual(job["lag_seconds"], 0.0)
                self.assertIsNone(job["last_error"])
                for key in ("docs_per_second", "docs_written"):
                    self.assertIn(key, job)
        # Idle databases hold no replication job.
        self.assertEqual(self.nodes[0].json("GET", "/_scheduler/jobs")["jobs"], [])
        self.assertIn("never propagated", body["note"])
        text = self.nodes[0].request("GET", "/_mesh?format=prometheus")
        self.assertEqual(text.status, 200)
        self.assertTrue(text.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        lines = text.raw.decode()
        self.assertIn("divan_mesh_healthy 1\n", lines)
        for peer in body["peers"]:
            self.assertIn(f'divan_mesh_peer_up{{peer="{peer["name"]}"}} 1\n', lines)
            self.assertIn(f'divan_mesh_hot{{peer="{peer["name"]}",db="{db}",direction="push"}}',
                          lines)
        self.assertEqual(self.nodes[0].request("GET", "/_mesh?format=xml").status, 400)
        resp = self.nodes[0].request("GET", "/_mesh")
        self.assertEqual(resp.status, 200)
        anonymous = Node.request(self.nodes[0], "GET", "/_mesh")  # no credentials
        self.assertEqual(anonymous.status, 401)
        self.assertEqual(self.nodes[0].request("GET", "/_up").status, 200)


class MeshChaosTests(unittest.TestCase):
    """Five nodes; random writes on every node while one node after another is killed with
    kill -9 and restarted. Afterwards every node holds the same trees, and every write that was
    answered 2xx is on every node."""

    NODES = 5
    WRITE_SECONDS = 8.0
    KILLS = 3

    def setUp(self):
        self.nodes = start_mesh(self.NODES)

    def tearDown(self):
        for node in self.nodes:
            node.cleanup()

    def writer(self, index, db, stop, acked, rng):
        node = self.nodes[index]
        for op in range(2000):  # bounded, and by time
            if stop.is_set():
                return
            docid = f"doc{rng.randrange(25)}"
            try:
                current = node.request("GET", doc_path(db, docid))
                body = {"by": index, "op": op}
                if rng.random() < 0.2:
                    body["_attachments"] = {"n.txt": {"content_type": "text/plain",
                                                      "data": base64.b64encode(b"%d" % op).decode()}}
                if current.status == 200:
                    body["_rev"] = current.body["_rev"]
                if current.status == 200 and rng.random() < 0.15:
                    resp = node.request("DELETE", doc_path(db, docid) + f"?rev={body['_rev']}")
                else:
                    resp = node.request("PUT", doc_path(db, docid), body)
                if resp.status in (200, 201, 202):
                    acked.append((docid, resp.body["rev"]))
            except Exception:  # the node is down (killed): try again shortly
                time.sleep(0.05)

    def test_random_writes_on_every_node_with_kill_9_converge_and_lose_nothing(self):
        db = "chaos"
        self.nodes[0].json("PUT", db_path(db), status=201)
        for node in self.nodes:
            wait_until("db everywhere", lambda n=node: db in n.json("GET", "/_all_dbs"))
        rng = random.Random(test_seed())
        stop = threading.Event()
        acked = []
        threads = [threading.Thread(target=self.writer,
                                    args=(i, db, stop, acked, random.Random(rng.random())))
                   for i in range(self.NODES)]
        for t in threads:
            t.start()
        try:
            for _ in range(self.KILLS):
                time.sleep(self.WRITE_SECONDS / (self.KILLS + 1))
                victim = self.nodes[rng.randrange(1, self.NODES)]
                victim.kill()
                time.sleep(0.3)
                victim.close_connections()
                victim.start()
            time.sleep(self.WRITE_SECONDS / (self.KILLS + 1))
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertGreater(len(acked), 50)
        state = wait_until("the same trees on every node", lambda: converged(self.nodes, db),
                           timeout=CONVERGE, step=0.5)
        self.assertTrue(state)
        by_doc = {}
        for docid, rev in acked:
            by_doc.setdefault(docid, []).append(rev)
        for node in self.nodes:
            missing = node.json("POST", db_path(db) + "/_revs_diff", by_doc, status=200)
            self.assertEqual(missing, {}, f"acknowledged writes missing on node {node.port}")
        print(f"[mesh] {len(acked)} acknowledged writes on {self.NODES} nodes, "
              f"{self.KILLS} kill -9, converged")


class MeshPeersAtRuntimeTests(unittest.TestCase):

    def setUp(self):
        self.started = []

    def tearDown(self):
        for node in self.started:
            node.cleanup()

    def start(self, node):
        self.started.append(node)
        return node.start()

    def test_a_peer_down_at_start_is_reported_then_synced_when_it_comes_up_then_removed(self):
        port_b = free_port()
        a = self.start(mesh_node(free_port(), [port_b]))
        a.json("PUT", db_path("early"), status=201)
        a.json("PUT", doc_path("early", "x"), {"v": 1}, status=201)

        def down_reported():
            resp = a.request("GET", "/_mesh")
            peer = resp.body["peers"][0]
            return resp if resp.status == 503 and peer["last_error"] else None

        resp = wait_until("the down peer reported", down_reported)
        peer = resp.body["peers"][0]
        self.assertFalse(resp.body["ok"])
        self.assertFalse(peer["reachable"])
        self.assertIn("connect", peer["last_error"])
        self.assertIsNotNone(peer["next_retry"])

        b = self.start(AdminNode(fixed_port=port_b))  # B has no peers: A syncs both ways
        wait_until("A's doc on B", lambda: b.request("GET", doc_path("early", "x")).status == 200)
        b.json("PUT", doc_path("early", "y"), {"v": 2}, status=201)
        wait_until("B's doc on A", lambda: a.request("GET", doc_path("early", "y")).status == 200)
        wait_until("A healthy", lambda: a.request("GET", "/_mesh").status == 200)

        removed = a.json("DELETE", f"/_mesh/peers/127.0.0.1:{port_b}", status=200)
        self.assertTrue(removed["ok"])
        self.assertEqual(a.json("GET", "/_mesh/peers")["peers"], [])
        a.json("PUT", doc_path("early", "z"), {"v": 3}, status=201)
        time.sleep(1.0)  # what a removed peer must not get
        self.assertEqual(b.request("GET", doc_path("early", "z")).status, 404)
        self.assertEqual(a.request("DELETE", "/_mesh/peers/nosuch:1").status, 404)

    def test_a_peer_added_at_runtime_syncs_every_database_and_survives_a_restart(self):
        b = self.start(AdminNode())
        a = self.start(mesh_node(free_port(), []))
        a.json("PUT", db_path("one"), status=201)
        b.json("PUT", db_path("two"), status=201)
        self.assertEqual(a.request("POST", "/_mesh/peers", {"url": "ftp://x"}).status, 400)
        self.assertEqual(a.request("POST", "/_mesh/peers", {"url": peer_url(b.port) + "/db"}).status,
                         400)  # a database URL, not a server root
        added = a.json("POST", "/_mesh/peers", {"url": peer_url(b.port)}, status=201)
        self.assertTrue(added["ok"])
        wait_until("one on B", lambda: "one" in b.json("GET", "/_all_dbs"))
        wait_until("two on A", lambda: "two" in a.json("GET", "/_all_dbs"))
        a.restart()
        self.assertEqual(a.json("GET", "/_mesh/peers")["peers"], [f"127.0.0.1:{b.port}"])
        b.json("PUT", doc_path("two", "after-restart"), {}, status=201)
        wait_until("the doc on A after A's restart",
                   lambda: a.request("GET", doc_path("two", "after-restart")).status == 200)

    def test_peers_and_patterns_from_a_config_file_and_its_environment_variable(self):
        port_b = free_port()
        b = self.start(AdminNode(fixed_port=port_b))
        config_dir = tempfile.mkdtemp(prefix="divan-cfg-")
        self.addCleanup(shutil.rmtree, config_dir, True)
        config = os.path.join(config_dir, "divan.toml")
        with open(config, "w") as f:
            f.write(f'peer = ["{peer_url(port_b)}"]\npeer-dbs = "shop_*"\n'
                    f'peer-probe-ms = {PROBE_MS}\n')
        a = self.start(AdminNode(extra_args=["--config", config], fixed_port=free_port()))
        body = a.json("GET", "/_mesh/peers", status=200)
        self.assertEqual(body["peers"], [f"127.0.0.1:{port_b}"])
        self.assertEqual(body["dbs"], "shop_*")
        a.json("PUT", db_path("shop_eu"), status=201)
        a.json("PUT", db_path("other"), status=201)
        wait_until("shop_eu on B", lambda: "shop_eu" in b.json("GET", "/_all_dbs"))
        self.assertNotIn("other", b.json("GET", "/_all_dbs"))  # left out by the pattern
        os.environ["DIVAN_CONFIG"] = config
        try:
            c = self.start(AdminNode(fixed_port=free_port()))
        finally:
            del os.environ["DIVAN_CONFIG"]
        self.assertEqual(c.json("GET", "/_mesh/peers")["dbs"], "shop_*")

    def test_deleting_a_database_is_not_propagated_and_it_comes_back(self):
        b = self.start(AdminNode())
        a = self.start(mesh_node(free_port(), []))
        a.json("POST", "/_mesh/peers", {"url": peer_url(b.port)}, status=201)
        a.json("PUT", db_path("keep"), status=201)
        a.json("PUT", doc_path("keep", "x"), {"v": 1}, status=201)
        wait_until("x on B", lambda: b.request("GET", doc_path("keep", "x")).status == 200)
        a.json("DELETE", db_path("keep"), status=200)
        # B still has it: the mesh brings it back to A, with its documents.
        wait_until("keep back on A", lambda: a.request("GET", doc_path("keep", "x")).status == 200)
        self.assertEqual(b.request("GET", db_path("keep")).status, 200)

    def test_a_peer_list_naming_this_node_itself_is_fine(self):
        port = free_port()
        a = self.start(mesh_node(port, [port]))  # a shared peer list names every node
        a.json("PUT", db_path("alone"), status=201)

        def self_seen():
            resp = a.request("GET", "/_mesh")
            peer = resp.body["peers"][0]
            return resp if peer["self"] and peer["reachable"] else None

        wait_until("the peer recognised as this node", self_seen)
        time.sleep(3 * PROBE_MS / 1000)  # a few probe rounds: none may sync it with itself
        resp = a.request("GET", "/_mesh")
        self.assertTrue(resp.body["peers"][0]["self"])
        self.assertEqual(resp.status, 200)  # not an unreachable peer: healthy
        self.assertEqual(resp.body["peers"][0]["databases"], {})  # never synced with itself
        self.assertEqual(a.json("GET", "/_scheduler/jobs")["jobs"], [])

    def test_wrong_credentials_are_reported_as_the_last_error(self):
        b = self.start(AdminNode())
        a = self.start(mesh_node(free_port(), []))
        a.json("POST", "/_mesh/peers", {"url": f"http://admin:wrong@127.0.0.1:{b.port}"},
               status=201)

        def unauthorized():
            resp = a.request("GET", "/_mesh")
            err = resp.body["peers"][0]["last_error"] or ""
            return resp if resp.status == 503 and "401" in err else None

        resp = wait_until("401 reported", unauthorized)
        self.assertTrue(resp.body["peers"][0]["reachable"])


class WriteConcernTests(unittest.TestCase):
    """?w=N: the answer waits until N nodes hold the revision, or is 202 with the count reached."""

    @classmethod
    def setUpClass(cls):
        cls.port_b = free_port()
        cls.a = mesh_node(free_port(), [cls.port_b], extra=["--w-timeout-ms", "3000"])
        cls.b = AdminNode(fixed_port=cls.port_b)
        cls.a.start()
        cls.b.start()
        cls.a.json("PUT", db_path("wc"), status=201)
        wait_until("wc on B", lambda: "wc" in cls.b.json("GET", "/_all_dbs"))

    @classmethod
    def tearDownClass(cls):
        cls.a.cleanup()
        cls.b.cleanup()

    def test_w2_answers_after_the_peer_holds_the_revision(self):
        for method, path, body in (("PUT", doc_path("wc", "p") + "?w=2", {"v": 1}),
                                   ("POST", db_path("wc") + "?w=2", {"_id": "q", "v": 1})):
            resp = self.a.request(method, path, body)
            self.assertEqual(resp.status, 201, resp.body)
            self.assertEqual(resp.headers["X-Divan-W-Reached"], "2")
            # Already on B at the moment A answered: no waiting here.
            got = self.b.request("GET", doc_path("wc", resp.body["id"]))
            self.assertEqual(got.status, 200)
            self.assertEqual(got.body["_rev"], resp.body["rev"])
        rev = self.a.json("GET", doc_path("wc", "p"))["_rev"]
        resp = self.a.request("DELETE", doc_path("wc", "p") + f"?rev={rev}&w=2")
        self.assertEqual(resp.status, 200)
        self.assertEqual(self.b.request("GET", doc_path("wc", "p")).status, 404)
        resp = self.a.request("POST", db_path("wc") + "/_bulk_docs?w=2",
                              {"docs": [{"_id": f"bulk{i}"} for i in range(20)]})
        self.assertEqual(resp.status, 201)
        self.assertEqual(len(resp.body), 20)
        for i in (0, 19):
            self.assertEqual(self.b.request("GET", doc_path("wc", f"bulk{i}")).status, 200)
        # w=1 and no w: as always, no header.
        resp = self.a.request("PUT", doc_path("wc", "plain"), {})
        self.assertEqual(resp.status, 201)
        self.assertNotIn("X-Divan-W-Reached", resp.headers)

    def test_bad_w_is_400_and_writes_nothing(self):
        for query in ("w=0", "w=x", "w=2&w_timeout=-1"):
            resp = self.a.request("PUT", doc_path("wc", "bad") + "?" + query, {"v": 1})
            self.assertEqual(resp.status, 400, query)
            self.assertIn(resp.body["error"], ("bad_request", "query_parse_error"))
        self.assertEqual(self.a.request("GET", doc_path("wc", "bad")).status, 404)

    def test_w2_is_202_with_the_count_when_the_peer_is_down(self):
        self.b.kill()
        try:
            t0 = time.monotonic()
            resp = self.a.request("PUT", doc_path("wc", "down") + "?w=2&w_timeout=500", {"v": 1})
            elapsed = time.monotonic() - t0
            self.assertEqual(resp.status, 202, resp.body)
            self.assertEqual(resp.body["w_reached"], 1)
            self.assertTrue(resp.body["ok"])
            self.assertEqual(resp.headers["X-Divan-W-Reached"], "1")
            self.assertGreaterEqual(elapsed, 0.45)
            self.assertLess(elapsed, 3.0)
            # w larger than the mesh can ever reach: 202 after the default timeout (3 s here).
            resp = self.a.request("PUT", doc_path("wc", "toomany") + "?w=5&w_timeout=200", {})
            self.assertEqual(resp.status, 202)
        finally:
            self.b.close_connections()
            self.b.start()
        wait_until("the write on B once it is back",
                   lambda: self.b.request("GET", doc_path("wc", "down")).status == 200)


def established_to(port):
    """TCP connections in state ESTABLISHED whose remote end is 127.0.0.1:`port` (this network
    namespace: every process of the test)."""
    count = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.split(":")[1], 16) == port:
                count += 1
    return count


class MeshScaleTests(unittest.TestCase):
    """Many databases cost one longpoll and a few pooled connections per peer, not a feed per
    database, and a write to any of them travels as fast as with one."""

    DBS = 300

    def setUp(self):
        self.started = []

    def tearDown(self):
        for node in self.started:
            node.cleanup()

    def test_many_idle_databases_hold_a_handful_of_connections_and_a_write_still_travels_fast(self):
        b = AdminNode()
        b.start()
        self.started.append(b)
        a = mesh_node(free_port(), [])
        a.start()
        self.started.append(a)
        names = [f"many{i:04}" for i in range(self.DBS)]
        for name in names:
            a.json("PUT", db_path(name), status=201)
        start = time.monotonic()
        a.json("POST", "/_mesh/peers", {"url": peer_url(b.port)}, status=201)
        wait_until("every database on B", lambda: len(b.json("GET", "/_all_dbs")) >= self.DBS + 2,
                   timeout=120, step=0.2)

        def all_idle():
            dbs = a.json("GET", "/_mesh")["peers"][0]["databases"]
            return len(dbs) == self.DBS and all(
                d[w]["state"] == "idle" for d in dbs.values() for w in ("push", "pull"))

        wait_until("every direction idle", all_idle, timeout=120, step=0.2)
        print(f"[mesh] {self.DBS} databases created and synced on a new peer in "
              f"{time.monotonic() - start:.1f}s")
        a.json("GET", "/_mesh")  # our own connections to A and B exist now, and stay
        b.json("GET", "/")
        # The pool keeps at most 8 idle connections per origin; one longpoll; ours: 1.
        connections = established_to(b.port)
        print(f"[mesh] {connections} connections to the peer with {self.DBS} idle databases")
        self.assertLessEqual(connections, 12)
        self.assertEqual(a.json("GET", "/_scheduler/jobs")["jobs"], [])
        for docid, node, other in (("from-b", b, a), ("from-a", a, b)):
            t0 = time.monotonic()
            node.json("PUT", doc_path(names[self.DBS // 2], docid), {"v": 1}, status=201)
            wait_until(f"{docid} on the other node", lambda o=other, d=docid: o.request(
                "GET", doc_path(names[self.DBS // 2], d)).status == 200, timeout=5, step=0.005)
            print(f"[mesh] a write {docid} reached the other node in "
                  f"{(time.monotonic() - t0) * 1000:.0f} ms with {self.DBS} databases")


if __name__ == "__main__":
    unittest.main()
