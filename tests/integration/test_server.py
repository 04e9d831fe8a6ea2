"""Server endpoints: http-api.md §1 (conventions), §3 (/, /_up, /_all_dbs, /_uuids)."""

import re
import shutil
import tempfile
import unittest

from divan_harness import (HEX32, Node, NodeTestCase, db_path, parse_raw_response, qjson)


class ServerTest(NodeTestCase):

    # ---- GET / ---------------------------------------------------------------------------------

    def test_3_root_welcome(self):
        r = self.get("/")
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(r.body["couchdb"], "Welcome")
        self.assertRegex(r.body["version"], r"^3\.\d+\.\d+$")
        self.assertRegex(r.body["uuid"], HEX32)

    def test_3_root_uuid_stable_between_requests(self):
        self.assertEqual(self.get("/").body["uuid"], self.get("/").body["uuid"])

    def test_3_root_head(self):
        r = self.head("/")
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, b"")

    def test_3_root_post_is_405(self):
        self.assertMethodNotAllowed(self.post("/", {}), "GET,HEAD")

    def test_1_1_json_replies_have_cache_control_must_revalidate(self):
        # §1.1: CouchDB always sends Content-Type application/json and Cache-Control must-revalidate.
        for path in ("/", "/_up", "/_all_dbs", "/no_such_db"):
            r = self.get(path)
            self.assertJsonReply(r)
            self.assertIn("must-revalidate", (r.header("Cache-Control") or ""), f"{path}: {r!r}")

    def test_1_1_head_mirrors_get(self):
        for path in ("/_up", "/_all_dbs", "/"):
            with self.subTest(path=path):
                g, h = self.get(path), self.head(path)
                self.assertEqual(h.status, g.status)
                self.assertEqual(h.raw, b"")
                self.assertEqual(h.content_type(), g.content_type())

    # ---- /_up ----------------------------------------------------------------------------------

    def test_3_up(self):
        r = self.get("/_up")
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(r.body["status"], "ok")

    # ---- /_all_dbs -----------------------------------------------------------------------------

    def _make_dbs(self, prefix, suffixes):
        names = [prefix + s for s in suffixes]
        for n in names:
            self.assertStatus(self.put(db_path(n)), 201)
        return names

    def test_3_all_dbs_sorted_by_bytes(self):
        # '$' < '(' < ')' < '+' < '-' < '/' < digits < '_' < letters (byte order, not collation).
        names = self._make_dbs("alldbs-sort", ["b", "a", "_x", "$", "(", ")", "+", "-z", "/y", "9"])
        r = self.get("/_all_dbs")
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertIsInstance(r.body, list)
        self.assertEqual(r.body, sorted(r.body, key=lambda s: s.encode()), "not in byte order")
        for n in names:
            self.assertIn(n, r.body)
        mine = [n for n in r.body if n.startswith("alldbs-sort")]
        self.assertEqual(mine, sorted(names, key=lambda s: s.encode()))

    def test_3_all_dbs_range_limit_skip_descending(self):
        names = self._make_dbs("alldbs-range-", ["a", "b", "c", "d", "e"])
        lo, hi = qjson("alldbs-range-"), qjson("alldbs-range-~")

        def q(params):
            r = self.get("/_all_dbs?" + params)
            self.assertStatus(r, 200)
            return r.body

        self.assertEqual(q(f"startkey={lo}&endkey={hi}"), names)
        self.assertEqual(q(f"start_key={lo}&end_key={hi}"), names)
        self.assertEqual(q(f"startkey={lo}&endkey={hi}&limit=2"), names[:2])
        self.assertEqual(q(f"startkey={lo}&endkey={hi}&skip=3"), names[3:])
        self.assertEqual(q(f"startkey={lo}&endkey={hi}&skip=1&limit=2"), names[1:3])
        self.assertEqual(q(f"startkey={qjson(names[1])}&endkey={qjson(names[3])}"), names[1:4])
        self.assertEqual(q(f"startkey={qjson(names[1])}&endkey={qjson(names[3])}&inclusive_end=false"),
                         names[1:3])
        self.assertEqual(q(f"startkey={hi}&endkey={lo}&descending=true"), names[::-1])
        self.assertEqual(q(f"startkey={qjson(names[3])}&endkey={qjson(names[1])}&descending=true"),
                         names[3:0:-1])
        self.assertEqual(q(f"startkey={lo}&endkey={hi}&limit=0"), [])

    def test_3_all_dbs_post_is_405(self):
        self.assertMethodNotAllowed(self.post("/_all_dbs", {}), "GET,HEAD")

    def test_3_all_dbs_subpath_is_404(self):
        r = self.get("/_all_dbs/anything")
        self.assertError(r, 404, None)

    # ---- /_uuids -------------------------------------------------------------------------------

    def test_3_uuids_default_one(self):
        r = self.get("/_uuids")
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(list(r.body.keys()), ["uuids"])
        self.assertEqual(len(r.body["uuids"]), 1)
        self.assertRegex(r.body["uuids"][0], HEX32)

    def test_3_uuids_count_3_distinct(self):
        r = self.get("/_uuids?count=3")
        self.assertStatus(r, 200)
        u = r.body["uuids"]
        self.assertEqual(len(u), 3)
        self.assertEqual(len(set(u)), 3)
        for x in u:
            self.assertRegex(x, HEX32)

    def test_3_uuids_count_1000_allowed(self):
        r = self.get("/_uuids?count=1000")
        self.assertStatus(r, 200)
        self.assertEqual(len(set(r.body["uuids"])), 1000)

    def test_3_uuids_count_1001_too_large(self):
        self.assertError(self.get("/_uuids?count=1001"), 400, "bad_request",
                         "count parameter too large")

    def test_3_uuids_count_negative(self):
        self.assertError(self.get("/_uuids?count=-1"), 400, "bad_request",
                         "count must be a positive integer")

    def test_3_uuids_count_not_a_number(self):
        self.assertError(self.get("/_uuids?count=abc"), 400, "bad_request")

    def test_3_uuids_post_is_405(self):
        self.assertMethodNotAllowed(self.post("/_uuids", {}), "GET")

    # ---- unknown endpoints, 405 table (§1.3) ---------------------------------------------------

    def test_1_3_unknown_server_endpoint_couch_style(self):
        for path in ("/_no_such_endpoint", "/_utils_nope/x"):
            r = self.get(path)
            self.assertIn(r.status, (400, 404), r)
            self.assertError(r, r.status, None)

    def test_1_3_known_db_endpoints_wrong_method_are_405(self):
        db = self.new_db()
        self.assertMethodNotAllowed(self.get(f"/{db}/_bulk_docs"), "POST")
        self.assertMethodNotAllowed(self.get(f"/{db}/_revs_diff"), "POST")
        self.assertMethodNotAllowed(self.get(f"/{db}/_bulk_get"), "POST")
        self.assertMethodNotAllowed(self.get(f"/{db}/_ensure_full_commit"), "POST")
        self.assertMethodNotAllowed(self.req("PATCH", f"/{db}", {}), "DELETE,GET,HEAD,POST")

    # ---- connections ---------------------------------------------------------------------------

    def test_1_1_keep_alive_reuses_one_connection(self):
        conn = self.node.new_connection()
        try:
            conn.request("GET", "/_up")
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            sock = conn.sock
            self.assertIsNotNone(sock, "server closed an HTTP/1.1 keep-alive connection")
            for _ in range(50):
                conn.request("GET", "/")
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                self.assertIs(conn.sock, sock, "connection was not kept alive")
        finally:
            conn.close()

    def test_1_1_http10_request_answered_and_closed(self):
        data = self.node.raw_exchange(b"GET /_up HTTP/1.0\r\n\r\n", timeout=5)
        parsed = parse_raw_response(data)
        self.assertIsNotNone(parsed, data)
        self.assertEqual(parsed[0], 200)

    def test_1_1_head_sends_no_body(self):
        # Read to EOF on a raw socket: bytes after the header block must be empty for HEAD.
        data = self.node.raw_exchange(
            b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
        status, headers, rest = parse_raw_response(data)
        self.assertEqual(status, 200)
        self.assertEqual(rest, b"", "HEAD reply carried a body")

    def test_1_1_pipelined_requests_answered_in_order(self):
        data = self.node.raw_exchange(
            b"GET /_uuids?count=1 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /_all_dbs/nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /_up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
        statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3})", data)]
        self.assertEqual(statuses, [200, 404, 200], data[:2000])


class RestartTest(unittest.TestCase):
    """Behaviour across restarts on the same data dir (§3 uuid; graceful shutdown)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="divan-it-restart-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_3_uuid_persists_across_restart_and_differs_per_data_dir(self):
        node = Node(data_dir=self.dir).start()
        try:
            uuid1 = node.get("/").body["uuid"]
            node.restart()
            self.assertEqual(node.get("/").body["uuid"], uuid1, "uuid changed across a restart")
        finally:
            node.stop()
        other = Node().start()
        try:
            self.assertNotEqual(other.get("/").body["uuid"], uuid1,
                                "two data dirs share a uuid: it must be generated, not fixed")
        finally:
            other.cleanup()

    def test_sigterm_exits_cleanly_and_data_survives(self):
        node = Node(data_dir=self.dir).start()
        try:
            self.assertEqual(node.put("/keep").status, 201)
            r = node.put("/keep/doc", {"v": 1})
            self.assertEqual(r.status, 201)
            rev = r.body["rev"]
            self.assertEqual(node.put("/keep/_local/cp", {"seq": 7}).status, 201)
            code = node.stop()
            self.assertEqual(code, 0, f"SIGTERM should exit 0\n{node.log(tail=30)}")
            node.start()
            r = node.get("/keep/doc")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, {"_id": "doc", "_rev": rev, "v": 1})
            r = node.get("/keep/_local/cp")
            self.assertEqual(r.body, {"_id": "_local/cp", "_rev": "0-1", "seq": 7})
            self.assertEqual(node.get("/keep").body["doc_count"], 1)
        finally:
            node.stop()


if __name__ == "__main__":
    unittest.main()
