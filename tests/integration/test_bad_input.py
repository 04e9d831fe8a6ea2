"""Bad input: http-api.md §1.1/§1.3 error replies for malformed bodies, revs and params, plus
hostile connections. Every test ends by checking the node is up and earlier writes are intact."""

import http.client
import random
import socket
import struct
import threading
import time
import unittest

from divan_harness import (NodeTestCase, parse_raw_response, qjson, quote, raw_response_json,
                           test_seed)

BAD_JSON = "invalid UTF-8 JSON"
NOT_DOC_OBJECT = "Document must be a JSON object"
NOT_BODY_OBJECT = "Request body must be a JSON object"


class HealthCheckedCase(NodeTestCase):
    """Writes a sentinel database once; after every test, /_up must answer 200 on a fresh
    connection and the sentinel docs must be unchanged."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        n = cls.node
        assert n.put("/sentinel").status == 201
        docs = [{"_id": f"s{i:03d}", "i": i, "text": "x" * i} for i in range(25)]
        r = n.post("/sentinel/_bulk_docs", {"docs": docs})
        assert r.status == 201, r
        cls.sentinel = {row["id"]: row["rev"] for row in r.body}
        assert n.put("/bad").status == 201

    def tearDown(self):
        self.check_alive_or_restart()
        self.node.close_connections()
        r = self.get("/_up")
        self.assertStatus(r, 200, "node unhealthy after the test")
        r = self.get("/sentinel/_all_docs?include_docs=true")
        self.assertStatus(r, 200)
        got = {row["id"]: (row["value"]["rev"], row["doc"]["i"]) for row in r.body["rows"]}
        want = {k: (v, int(k[1:])) for k, v in self.sentinel.items()}
        self.assertEqual(got, want, "sentinel documents changed")
        super().tearDown()


class BadBodiesTest(HealthCheckedCase):

    # Endpoints that parse a JSON body, with the reason they give for a non-object body.
    def endpoints(self):
        return [
            ("PUT", "/bad/d1", NOT_DOC_OBJECT),
            ("PUT", "/bad/d1?new_edits=false", NOT_DOC_OBJECT),
            ("PUT", "/bad/_local/l1", NOT_DOC_OBJECT),
            ("POST", "/bad", NOT_DOC_OBJECT),
            ("POST", "/bad/_bulk_docs", NOT_BODY_OBJECT),
            ("POST", "/bad/_bulk_get", NOT_BODY_OBJECT),
            ("POST", "/bad/_revs_diff", NOT_BODY_OBJECT),
            ("POST", "/bad/_all_docs", NOT_BODY_OBJECT),
        ]

    def assertNothingWritten(self):
        self.assertError(self.get("/bad/d1"), 404, "not_found", "missing")
        self.assertError(self.get("/bad/_local/l1"), 404, "not_found", "missing")
        self.assertEqual(self.db_info("bad")["doc_count"], 0)

    def test_1_1_malformed_json_400(self):
        bodies = [b"{", b'{"a":}', b"nul", b'{"a":1} x', b"{'a':1}", b'{"a":1,}', b"[1,2",
                  b'"unterminated', b'{"a":01}', b'{"a":NaN}', b'{"a":"\t"}', b"\x00"]
        for method, path, _ in self.endpoints():
            for body in bodies:
                with self.subTest(endpoint=f"{method} {path}", body=body):
                    r = self.req(method, path, body, content_type="application/json")
                    self.assertError(r, 400, "bad_request", BAD_JSON)
        self.assertNothingWritten()

    def test_1_1_invalid_utf8_in_json_string_400(self):
        bodies = [b'{"a":"\xff"}', b'{"a":"\xc0\xaf"}', b'{"a":"\xed\xa0\x80"}', b'{"\xfe":1}',
                  b'{"a":"\xe2\x82"}', b'{"a":"ok","b":["\xf8\x88\x80\x80\x80"]}']
        for method, path, _ in self.endpoints():
            for body in bodies:
                with self.subTest(endpoint=f"{method} {path}", body=body):
                    r = self.req(method, path, body, content_type="application/json")
                    self.assertError(r, 400, "bad_request", BAD_JSON)
        self.assertNothingWritten()

    def test_regress_bom_and_nul_byte_400(self):
        # nlohmann skips a leading UTF-8 BOM and stops at a NUL byte; CouchDB refuses both bodies.
        # Every JSON body goes through one parser (http/server/json_body.cpp): documents, _local,
        # _bulk_docs, _security, _replicate and _session included.
        bodies = [b'\xef\xbb\xbf{"a":1}', b'{"a":1}\x00garbage', b'{"a":1}\x00',
                  b'\xef\xbb\xbf{"admins":{},"members":{"names":["x"]}}',
                  b'{"admins":{},"members":{"names":["x"]}}\x00',
                  b'\xef\xbb\xbf{"docs":[{"_id":"d1"}]}', b'{"docs":[{"_id":"d1"}]}\x00x',
                  b'\xef\xbb\xbf{"source":"sentinel","target":"bad"}',
                  b'{"source":"sentinel","target":"bad"}\x00']
        security = self.get("/bad/_security").body
        before = self.db_info("bad")  # other tests of this class write to /bad: compare, not zero
        targets = [(m, p) for m, p, _ in self.endpoints()] + [("PUT", "/bad/_security"),
                                                               ("POST", "/_replicate"),
                                                               ("POST", "/_session")]
        for method, path in targets:
            for body in bodies:
                with self.subTest(endpoint=f"{method} {path}", body=body):
                    r = self.req(method, path, body, content_type="application/json")
                    self.assertError(r, 400, "bad_request", BAD_JSON)
        self.assertEqual(self.get("/bad/_security").body, security)
        self.assertError(self.get("/bad/d1"), 404, "not_found", "missing")
        self.assertError(self.get("/bad/_local/l1"), 404, "not_found", "missing")
        after = self.db_info("bad")
        self.assertEqual((after["doc_count"], after["update_seq"]),
                         (before["doc_count"], before["update_seq"]))

    def test_1_1_non_object_body_400(self):
        for method, path, reason in self.endpoints():
            for body in (b"[]", b'"s"', b"1", b"null", b"true", b"[{}]"):
                with self.subTest(endpoint=f"{method} {path}", body=body):
                    r = self.req(method, path, body, content_type="application/json")
                    self.assertError(r, 400, "bad_request", reason)
        self.assertNothingWritten()

    def test_1_1_empty_body_400(self):
        for method, path, _ in self.endpoints():
            with self.subTest(endpoint=f"{method} {path}"):
                r = self.req(method, path, b"", content_type="application/json")
                self.assertError(r, 400, "bad_request")
                self.assertIn(r.body["reason"], ("Missing request body", BAD_JSON))
        self.assertNothingWritten()

    def test_rt_1_invalid_rev_strings_400(self):
        r = self.put("/bad/rd", {"v": 1})
        self.assertStatus(r, 201)
        good = r.body["rev"]
        bad_revs = ["abc", "1", "x-abc", "1-", "-1-a", "1-" + "z" * 32, "0-abc", " 1-a", "1.5-a"]
        for bad in bad_revs:
            with self.subTest(rev=bad):
                q = "rev=" + bad.replace(" ", "%20")
                for r in (self.get("/bad/rd?" + q),
                          self.delete("/bad/rd?" + q),
                          self.put("/bad/rd?" + q, {}),
                          self.put("/bad/rd", {"_rev": bad}),
                          self.put("/bad/rd", {}, headers={"If-Match": f'"{bad}"'}),
                          self.get("/bad/rd?open_revs=" + qjson([bad]),
                                   headers={"Accept": "application/json"}),
                          self.post("/bad/_revs_diff", {"rd": [bad]}),
                          self.put("/bad/rn?new_edits=false", {"_rev": bad}),
                          self.post("/bad/_bulk_docs", {"new_edits": False,
                                                        "docs": [{"_id": "rn", "_rev": bad}]})):
                    self.assertError(r, 400, "bad_request", "Invalid rev format")
        for bad in (5, None, [], {"a": 1}, True):
            with self.subTest(rev=bad):
                self.assertError(self.put("/bad/rd", {"_rev": bad}), 400, "bad_request",
                                 "Invalid rev format")
        self.assertEqual(self.get("/bad/rd").body["_rev"], good)
        self.assertError(self.get("/bad/rn"), 404, "not_found", "missing")
        self.assertStatus(self.delete("/bad/rd?rev=" + good), 200)

    def test_1_1_bad_query_values_400(self):
        self.assertStatus(self.put("/bad/q", {}), 201)
        for path in ("/bad/q?open_revs=%5Bnope", "/bad/q?open_revs=%7B%7D",
                     "/bad/_all_docs?limit=abc", "/bad/_all_docs?startkey=%7B",
                     "/bad/_all_docs?keys=5", "/_uuids?count=ten", "/_all_dbs?limit=x"):
            with self.subTest(path=path):
                r = self.get(path, headers={"Accept": "application/json"})
                self.assertStatus(r, 400)
                self.assertError(r, 400, None)
        self.assertStatus(self.delete("/bad/q?rev=" + self.get("/bad/q").body["_rev"]), 200)

    def test_deeply_nested_body_does_not_crash(self):
        depth = 100_000
        body = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
        try:
            r = self.put("/bad/deep", body, content_type="application/json")
        except (OSError, http.client.HTTPException):
            self.check_alive_or_restart()  # fails the test with the log if the node died
            raise
        # Refused by the one JSON parser (json_body.cpp) before anything recursive sees it.
        self.assertError(r, 400, "bad_request", "JSON nested too deeply")
        self.assertError(self.get("/bad/deep"), 404, "not_found", "missing")

    def test_5_4_document_too_large_413(self):
        r = self.put("/bad/bigdoc", {"pad": "b" * 8_500_000})
        self.assertError(r, 413, "document_too_large", "bigdoc")
        self.assertError(self.get("/bad/bigdoc"), 404, "not_found", "missing")
        r = self.put("/bad/bigdoc", {"pad": "b" * 7_500_000})
        self.assertStatus(r, 201, "a 7.5 MB doc is under max_document_size")
        self.assertStatus(self.delete("/bad/bigdoc?rev=" + r.body["rev"]), 200)

    def test_nfc_and_nfd_ids_are_distinct(self):
        nfc, nfd = "\u00e9", "e\u0301"
        self.assertStatus(self.put("/bad/" + quote(nfc), {"form": "nfc"}), 201)
        self.assertStatus(self.put("/bad/" + quote(nfd), {"form": "nfd"}), 201)
        self.assertEqual(self.get("/bad/" + quote(nfc)).body["form"], "nfc")
        self.assertEqual(self.get("/bad/" + quote(nfd)).body["form"], "nfd")
        for d in (nfc, nfd):
            rev = self.get("/bad/" + quote(d)).body["_rev"]
            self.assertStatus(self.delete(f"/bad/{quote(d)}?rev={rev}"), 200)

    def test_long_doc_id(self):
        # No max_document_id_length by default (§5.1): a 100 KB id is a valid id.
        long_id = "L" * 100_000
        r = self.post("/bad", {"_id": long_id, "v": 1})
        self.assertStatus(r, 201)
        r = self.post("/bad/_all_docs", {"keys": [long_id]})
        self.assertEqual(r.body["rows"][0]["id"], long_id)
        r = self.post("/bad/_bulk_get", {"docs": [{"id": long_id}]})
        self.assertEqual(r.body["results"][0]["docs"][0]["ok"]["v"], 1)
        rev = r.body["results"][0]["docs"][0]["ok"]["_rev"]
        r = self.post("/bad/_bulk_docs", {"docs": [{"_id": long_id, "_rev": rev, "_deleted": True}]})
        self.assertIs(r.body[0].get("ok"), True, r)

    def test_long_db_name_clean_reply(self):
        # Escaping can triple a name's length on disk ('$' → %24) and SQLite adds "-journal" /
        # "-wal": a legal name must work or get a clean 4xx, never a 500 or a half-made db.
        for k in (60, 75, 80, 85, 100, 150):
            name = "a" + "$" * k
            with self.subTest(length=len(name)):
                r = self.put("/" + quote(name))
                if r.status == 201:
                    self.assertStatus(self.put(f"/{quote(name)}/d", {}), 201)
                    self.assertEqual(self.get("/" + quote(name)).body["doc_count"], 1)
                    self.assertStatus(self.delete("/" + quote(name)), 200)
                else:
                    self.assertTrue(400 <= r.status < 500, r)
                    self.assertError(r, r.status, None)
                    self.assertNotIn(name, self.get("/_all_dbs").body)
                    self.assertError(self.get("/" + quote(name)), 404, "not_found",
                                     "Database does not exist.")

    def test_numeric_overflow_in_params_and_revs(self):
        huge = "99999999999999999999"
        self.assertStatus(self.put("/bad/ov", {}), 201)
        for path in (f"/bad/_all_docs?limit={huge}", f"/bad/_all_docs?skip={huge}",
                     "/bad/_all_docs?skip=-1", f"/_uuids?count={huge}"):
            with self.subTest(path=path):
                r = self.get(path)
                if r.status != 200:
                    self.assertError(r, 400, None)
        self.assertError(self.get(f"/_uuids?count={huge}"), 400, "bad_request")
        self.assertError(self.put("/bad/_revs_limit", huge.encode(), content_type="application/json"),
                         400, "bad_request")
        self.assertError(self.get(f"/bad/ov?rev={huge}-a"), 400, "bad_request", "Invalid rev format")
        self.assertError(self.put("/bad/ov2?new_edits=false", {"_rev": f"{huge}-a"}), 400,
                         "bad_request", "Invalid rev format")
        r = self.put("/bad/ov2?new_edits=false", {"_revisions": {"start": int(huge), "ids": ["a"]}})
        self.assertStatus(r, 400)
        self.assertError(r, 400, None)
        self.assertError(self.get("/bad/ov2"), 404, "not_found", "missing")

    def test_odd_revisions_shapes(self):
        cases = [({"start": 2, "ids": ["c", "b", "a"]}, (201, 400)),   # deeper than start
                 ({"start": 0, "ids": ["a"]}, (400,)),
                 ({"start": -3, "ids": ["a"]}, (400,)),
                 ({"start": 3, "ids": []}, (400,)),
                 ({"start": 3, "ids": ["c", 7]}, (400,)),
                 ({"start": 3, "ids": ["c", ""]}, (400,)),
                 ({"start": 2, "ids": ["b", "b"]}, (201, 400))]
        for i, (revs, allowed) in enumerate(cases):
            with self.subTest(revisions=revs):
                r = self.put(f"/bad/odd{i}?new_edits=false", {"_revisions": revs})
                self.assertIn(r.status, allowed, r)
                if r.status == 400:
                    self.assertError(r, 400, None)
                    self.assertError(self.get(f"/bad/odd{i}"), 404, "not_found", "missing")
                else:
                    self.assertStatus(self.get(f"/bad/odd{i}?revs=true"), 200)

    def test_nul_in_doc_id_round_trips(self):
        r = self.put("/bad/a%00b", {"v": 1})
        self.assertStatus(r, 201)
        self.assertEqual(r.body["id"], "a\u0000b")
        self.assertEqual(self.get("/bad/a%00b").body["_id"], "a\u0000b")
        self.assertStatus(self.delete("/bad/a%00b?rev=" + r.body["rev"]), 200)

    def test_bad_percent_encoding_in_path(self):
        for path in ("/bad/%ZZ", "/bad/%4", "/%zz"):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertIn(r.status, (400, 404), r)
                self.assertError(r, r.status, None)


class HostileConnectionsTest(HealthCheckedCase):

    def assert_4xx_or_closed(self, data, what):
        """The server may answer a broken request with a 4xx (or 505) or just close."""
        if not data:
            return
        parsed = parse_raw_response(data)
        self.assertIsNotNone(parsed, f"{what}: unparseable reply {data[:200]!r}")
        status = parsed[0]
        self.assertTrue(400 <= status < 500 or status in (501, 505),
                        f"{what}: got {status}: {data[:300]!r}")

    def test_garbage_bytes(self):
        rng = random.Random(test_seed())
        payloads = [
            bytes(rng.getrandbits(8) for _ in range(4096)),
            b"\x00\x01\x02\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET\r\n\r\n",
            b"\r\n\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColonHeader\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"PUT /bad/g1 HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
            b"PUT /bad/g2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}",
            b"PUT /bad/g3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),
            b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-\xff\xfe: \x00\x01\r\n\r\n",
            b"G\x00T / HTTP/1.1\r\n\r\n",
        ]
        for i, p in enumerate(payloads):
            with self.subTest(payload=i):
                data = self.node.raw_exchange(p, timeout=5, half_close=True)
                self.assert_4xx_or_closed(data, f"payload {i} {p[:40]!r}")
                self.node.assert_alive()
        for d in ("g1", "g2", "g3"):
            self.assertError(self.get(f"/bad/{d}"), 404, "not_found", "missing")

    def test_unknown_transfer_coding_rejected(self):
        # RFC 9112 §6.1: a transfer coding the server does not implement → 501 (or another 4xx);
        # the body must not be taken as if it were only chunked.
        data = self.node.raw_exchange(
            b"PUT /bad/g4 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", timeout=5,
            half_close=True)
        self.assert_4xx_or_closed(data, "Transfer-Encoding: gzip, chunked")
        self.assertError(self.get("/bad/g4"), 404, "not_found", "missing")

    def test_half_request_then_close(self):
        for partial in (b"PUT /bad/half HTTP/1.1\r\nHost: x\r\nContent-Le",
                        b"PUT /bad/half HTTP/1.1\r\n",
                        b"PUT /bad/ha",
                        b"POST /bad/_bulk_docs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                        b"\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"docs\":[{\"_id\""):
            s = self.node.raw_socket()
            s.sendall(partial)
            s.close()
        time.sleep(0.2)
        self.assertError(self.get("/bad/half"), 404, "not_found", "missing")

    def test_big_content_length_then_close(self):
        for path in (b"/bad/claimed", b"/bad/_bulk_docs"):
            s = self.node.raw_socket()
            s.sendall(b"PUT " if path.endswith(b"claimed") else b"POST ")
            s.sendall(path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000000\r\n\r\n" + b'{"docs":[{"_id":"claimed"}],"x":"')
            s.close()
        time.sleep(0.2)
        self.assertError(self.get("/bad/claimed"), 404, "not_found", "missing")

    def test_many_abandoned_connections(self):
        socks = []
        try:
            for i in range(240):
                s = self.node.raw_socket()
                kind = i % 4
                if kind == 1:
                    s.sendall(b"GET /_up HTTP/1.1\r\nHost: x\r\n")
                elif kind == 2:
                    s.sendall(b"PUT /bad/ab HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":")
                elif kind == 3:
                    s.sendall(b"GET /_up HTTP/1.1\r\nHost: x\r\n\r\n")  # answered, never read
                socks.append(s)
            # The node must keep serving others while these hang.
            t0 = time.monotonic()
            for i in range(20):
                self.assertStatus(self.put(f"/bad/alive{i}", {"i": i}), 201)
            self.assertLess(time.monotonic() - t0, 10, "writes stalled behind idle connections")
        finally:
            for i, s in enumerate(socks):
                if i % 2:
                    # Abort with RST instead of FIN.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
        time.sleep(0.2)
        self.assertError(self.get("/bad/ab"), 404, "not_found", "missing")
        rows = self.get("/bad/_all_docs?startkey=%22alive%22&endkey=%22alive~%22").body["rows"]
        self.assertEqual(len(rows), 20)

    def test_absurd_headers(self):
        cases = [
            b"GET /_up HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n",
            b"GET /_up HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))
            + b"\r\n",
            b"GET /_up HTTP/1.1\r\nHost: x\r\n" + b"X" * 70_000 + b": v\r\n\r\n",
        ]
        for i, c in enumerate(cases):
            with self.subTest(case=i):
                data = self.node.raw_exchange(c, timeout=5, half_close=True)
                if data:
                    status = parse_raw_response(data)[0]
                    # Accepting is allowed too, but a 5xx is not.
                    self.assertTrue(status == 200 or 400 <= status < 500, data[:200])
                self.node.assert_alive()

    def test_slow_client_byte_by_byte(self):
        body = b'{"slow":true}'
        req = (b"PUT /bad/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body
        s = self.node.raw_socket(timeout=10)
        try:
            for i in range(len(req)):
                s.send(req[i:i + 1])
                time.sleep(0.003)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        self.assertEqual(parse_raw_response(data)[0], 201, data)
        self.assertIs(self.get("/bad/slow").body["slow"], True)

    def test_chunked_request_body(self):
        body = b'{"chunked":1,"pad":"' + b"p" * 5000 + b'"}'
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 777]), body[i:i + 777])
                          for i in range(0, len(body), 777))
        req = (b"PUT /bad/chunky HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
        data = self.node.raw_exchange(req, timeout=5)
        self.assertEqual(parse_raw_response(data)[0], 201, data[:300])
        self.assertEqual(self.get("/bad/chunky").body["chunked"], 1)

    def test_1_1_error_replies_leave_keep_alive_connection_usable(self):
        # Requests answered with an error before their body is used must not desync the stream.
        big = b'{"docs":[' + b",".join(b'{"_id":"k%d","pad":"%s"}' % (i, b"q" * 500)
                                       for i in range(200)) + b"]}"
        conn = self.node.new_connection()
        try:
            for method, path, ctype, want in (
                    ("POST", "/no_such_db/_bulk_docs", "application/json", 404),
                    ("POST", "/bad/_bulk_docs", "text/plain", 415),
                    ("POST", "/_all_dbs", "application/json", 405),
                    ("PUT", "/bad/_foo", "application/json", 400),
                    ("PUT", "/Bad_Name", "application/json", 400),
                    ("POST", "/bad/_bulk_docs", "application/json", 201)):
                conn.request(method, path, body=big,
                             headers={"Content-Type": ctype, "Content-Length": str(len(big))})
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, want, f"{method} {path}")
                conn.request("GET", "/_up")
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200, f"connection desynced after {method} {path}")
        finally:
            conn.close()

    def test_expect_100_continue(self):
        body = b'{"expect":"continue"}'
        s = self.node.raw_socket(timeout=5)
        try:
            s.sendall(b"PUT /bad/expect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Expect: 100-continue\r\nConnection: close\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body))
            s.settimeout(1.0)
            early = b""
            try:
                early = s.recv(65536)  # "100 Continue" is optional; curl waits 1 s without it
            except socket.timeout:
                pass
            self.assertFalse(early and not early.startswith(b"HTTP/1.1 100"),
                             f"final reply before the body was sent: {early[:200]!r}")
            s.settimeout(5)
            s.sendall(body)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        full = early + data
        if full.startswith(b"HTTP/1.1 100"):
            full = full.split(b"\r\n\r\n", 1)[1]
        self.assertEqual(parse_raw_response(full)[0], 201, full[:300])
        self.assertEqual(self.get("/bad/expect").body["expect"], "continue")

    def test_unknown_method(self):
        data = self.node.raw_exchange(b"BREW /bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                      timeout=5)
        self.assert_4xx_or_closed(data, "BREW")
        if data:
            self.assertIn(parse_raw_response(data)[0], (400, 405, 501))


class OversizeTest(HealthCheckedCase):
    """--max-request-body 1048576: bigger bodies → 413 (§1.3 too_large / document_too_large)."""

    node_args = ("--max-request-body", "1048576")

    def send_big(self, head, body_len, chunked=False):
        """Sends `head` then body bytes while a reader thread collects the reply. Returns bytes."""
        s = self.node.raw_socket(timeout=10)
        got = []

        def reader():
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    got.append(chunk)
            except OSError:
                return

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            s.sendall(head)
            prefix = b'{"docs":[{"_id":"huge","pad":"' if b"_bulk_docs" in head else b'{"pad":"'
            blob = prefix + b"x" * (body_len - len(prefix) - 2) + b'"}'
            step = 64 * 1024
            for i in range(0, len(blob), step):
                piece = blob[i:i + step]
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        t.join(10)
        s.close()
        return b"".join(got)

    def check_413(self, data):
        parsed = parse_raw_response(data)
        self.assertIsNotNone(parsed, f"no HTTP reply to an oversized body: {data[:200]!r}")
        status, headers, rest = parsed
        self.assertEqual(status, 413, data[:300])
        body = raw_response_json(data)
        self.assertIsInstance(body, dict, f"413 reply is not a JSON error body: {data[:300]!r}")
        self.assertIn(body.get("error"), ("too_large", "document_too_large"), body)
        self.assertIsInstance(body.get("reason"), str, body)

    def test_1_3_oversized_put_413(self):
        n = 2 * 1024 * 1024
        head = (b"PUT /bad/huge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % n)
        self.check_413(self.send_big(head, n))
        self.assertError(self.get("/bad/huge"), 404, "not_found", "missing")

    def test_1_3_oversized_bulk_docs_413(self):
        n = 2 * 1024 * 1024
        head = (b"POST /bad/_bulk_docs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % n)
        self.check_413(self.send_big(head, n))
        self.assertError(self.get("/bad/huge"), 404, "not_found", "missing")

    def test_1_3_oversized_chunked_413(self):
        head = (b"PUT /bad/huge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        self.check_413(self.send_big(head, 2 * 1024 * 1024, chunked=True))
        self.assertError(self.get("/bad/huge"), 404, "not_found", "missing")

    def test_under_limit_accepted(self):
        r = self.put("/bad/fits", {"pad": "z" * (900 * 1024)})
        self.assertStatus(r, 201)
        self.assertEqual(len(self.get("/bad/fits").body["pad"]), 900 * 1024)


if __name__ == "__main__":
    unittest.main()
