"""_all_docs (http-api.md §9) and _local_docs (§8)."""

import unittest

from divan_harness import NodeTestCase, db_path, doc_path, qjson, seq_num

# Byte order (memcmp), not ICU collation: "A" < "B" < "_design/d" < "a" < "a/b" < "aa" < … < "é".
LIVE_IDS = ["b", "a", "A", "B", "_design/d", "a/b", "aa", "ab", "c", "~", "é", "zz", "conf"]
SORTED = sorted(LIVE_IDS, key=lambda s: s.encode("utf-8"))


class AllDocsTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        n = cls.node
        cls.db = "alldocs"
        assert n.put("/alldocs").status == 201
        cls.revs = {}
        for docid in LIVE_IDS:
            if docid == "conf":
                continue
            r = n.put(doc_path(cls.db, docid), {"id": docid, "n": len(docid)})
            assert r.status == 201, r
            cls.revs[docid] = r.body["rev"]
        # A conflicted doc (winner 2-c, conflict 2-b), a deleted doc and _local docs.
        r = n.post("/alldocs/_bulk_docs", {"new_edits": False, "docs": [
            {"_id": "conf", "_rev": "2-b", "_revisions": {"start": 2, "ids": ["b", "a"]}, "v": "b"},
            {"_id": "conf", "_rev": "2-c", "_revisions": {"start": 2, "ids": ["c", "a"]}, "v": "c"}]})
        assert r.status == 201 and r.body == [], r
        cls.revs["conf"] = "2-c"
        r = n.put(doc_path(cls.db, "del"), {"x": 1})
        r = n.delete(doc_path(cls.db, "del") + "?rev=" + r.body["rev"])
        assert r.status == 200, r
        cls.del_rev = r.body["rev"]
        for lid in ("_local/one", "_local/two"):
            assert n.put(doc_path(cls.db, lid), {"l": lid}).status == 201

    def all_docs(self, query="", method="GET", body=None):
        url = "/alldocs/_all_docs" + (("?" + query) if query else "")
        r = self.req(method, url, body)
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        return r.body

    def ids(self, body):
        return [row["id"] for row in body["rows"]]

    def row(self, docid):
        return {"id": docid, "key": docid, "value": {"rev": self.revs[docid]}}

    def test_9_full_listing(self):
        body = self.all_docs()
        self.assertEqual(set(body), {"total_rows", "offset", "rows"})
        self.assertEqual(body["total_rows"], len(LIVE_IDS))
        self.assertEqual(body["total_rows"], self.db_info(self.db)["doc_count"])
        self.assertEqual(body["offset"], 0)
        self.assertEqual(body["rows"], [self.row(d) for d in SORTED])

    def test_9_startkey_endkey_inclusive_end(self):
        self.assertEqual(self.ids(self.all_docs(f"startkey={qjson('a')}&endkey={qjson('ab')}")),
                         ["a", "a/b", "aa", "ab"])
        self.assertEqual(self.ids(self.all_docs(f"start_key={qjson('a')}&end_key={qjson('ab')}")),
                         ["a", "a/b", "aa", "ab"])
        self.assertEqual(self.ids(self.all_docs(
            f"startkey={qjson('a')}&endkey={qjson('ab')}&inclusive_end=false")), ["a", "a/b", "aa"])
        body = self.all_docs(f"startkey={qjson('a0')}")
        self.assertEqual(self.ids(body), [d for d in SORTED if d.encode() >= b"a0"])
        self.assertEqual(body["offset"], len([d for d in SORTED if d.encode() < b"a0"]))
        self.assertEqual(body["total_rows"], len(LIVE_IDS))
        self.assertEqual(self.ids(self.all_docs(f"endkey={qjson('B')}")), ["A", "B"])

    def test_9_descending(self):
        body = self.all_docs("descending=true")
        self.assertEqual(self.ids(body), SORTED[::-1])
        self.assertEqual(body["offset"], 0)
        body = self.all_docs(f"descending=true&startkey={qjson('ab')}&endkey={qjson('a')}")
        self.assertEqual(self.ids(body), ["ab", "aa", "a/b", "a"])
        self.assertEqual(body["offset"], len([d for d in SORTED if d.encode() > b"ab"]))
        body = self.all_docs(
            f"descending=true&startkey={qjson('ab')}&endkey={qjson('a')}&inclusive_end=false")
        self.assertEqual(self.ids(body), ["ab", "aa", "a/b"])

    def test_9_skip_limit_offset(self):
        body = self.all_docs("skip=2&limit=3")
        self.assertEqual(self.ids(body), SORTED[2:5])
        self.assertEqual(body["offset"], 2)
        body = self.all_docs(f"startkey={qjson('a')}&skip=1&limit=2")
        start = SORTED.index("a")
        self.assertEqual(self.ids(body), SORTED[start + 1:start + 3])
        self.assertEqual(body["offset"], start + 1)
        self.assertEqual(self.all_docs("limit=0")["rows"], [])
        body = self.all_docs("skip=100")
        self.assertEqual(body["rows"], [])
        self.assertEqual(body["total_rows"], len(LIVE_IDS))

    def test_9_key(self):
        body = self.all_docs(f"key={qjson('aa')}")
        self.assertEqual(body["rows"], [self.row("aa")])
        self.assertEqual(self.all_docs(f"key={qjson('zzz')}")["rows"], [])

    def test_9_include_docs_and_conflicts(self):
        body = self.all_docs(f"include_docs=true&startkey={qjson('c')}&endkey={qjson('conf')}")
        self.assertEqual(self.ids(body), ["c", "conf"])
        self.assertEqual(body["rows"][0]["doc"],
                         {"_id": "c", "_rev": self.revs["c"], "id": "c", "n": 1})
        self.assertEqual(body["rows"][1]["doc"], {"_id": "conf", "_rev": "2-c", "v": "c"})
        body = self.all_docs(f"include_docs=true&conflicts=true&key={qjson('conf')}")
        self.assertEqual(body["rows"][0]["doc"]["_conflicts"], ["2-b"])
        body = self.all_docs(f"include_docs=true&conflicts=true&key={qjson('c')}")
        self.assertNotIn("_conflicts", body["rows"][0]["doc"])

    def test_9_update_seq(self):
        body = self.all_docs("update_seq=true&limit=1")
        self.assertIn("update_seq", body)
        self.assertEqual(seq_num(body["update_seq"]), self.update_seq(self.db))
        self.assertNotIn("update_seq", self.all_docs("limit=1"))

    def test_9_keys_get(self):
        keys = ["b", "zz", "nope", "a", "b", "del"]
        body = self.all_docs("keys=" + qjson(keys))
        self.assertEqual(body["total_rows"], len(LIVE_IDS))
        self.assertIsNone(body["offset"])
        self.assertEqual(body["rows"], [
            self.row("b"), self.row("zz"), {"key": "nope", "error": "not_found"}, self.row("a"),
            self.row("b"), {"id": "del", "key": "del", "value": {"rev": self.del_rev, "deleted": True}},
        ])

    def test_9_keys_post_include_docs(self):
        body = self.all_docs("include_docs=true", "POST", {"keys": ["del", "a", "nope"]})
        self.assertIsNone(body["offset"])
        rows = body["rows"]
        self.assertEqual(rows[0], {"id": "del", "key": "del",
                                   "value": {"rev": self.del_rev, "deleted": True}, "doc": None})
        self.assertEqual(rows[1]["doc"], {"_id": "a", "_rev": self.revs["a"], "id": "a", "n": 1})
        self.assertEqual(rows[2], {"key": "nope", "error": "not_found"})

    def test_9_keys_skip_limit(self):
        body = self.all_docs("skip=1&limit=2", "POST", {"keys": ["c", "b", "a", "aa"]})
        self.assertEqual(self.ids(body), ["b", "a"])

    def test_9_keys_post_excludes_local(self):
        body = self.all_docs("", "POST", {"keys": ["_local/one"]})
        self.assertEqual(body["rows"], [{"key": "_local/one", "error": "not_found"}])

    def test_9_keys_not_array_400(self):
        r = self.post("/alldocs/_all_docs", {"keys": "a"})
        self.assertError(r, 400, "bad_request", "`keys` body member must be an array.")

    def test_9_invalid_params_query_parse_error(self):
        for q, reason in [("limit=abc", 'Invalid value for integer: "abc"'),
                          ("skip=x1", 'Invalid value for integer: "x1"'),
                          ("descending=maybe", 'Invalid boolean parameter: "maybe"'),
                          ("include_docs=yes", 'Invalid boolean parameter: "yes"'),
                          ("inclusive_end=1", 'Invalid boolean parameter: "1"'),
                          ("limit=-1", None)]:
            with self.subTest(query=q):
                self.assertError(self.get("/alldocs/_all_docs?" + q), 400, "query_parse_error",
                                 reason)

    def test_9_invalid_json_key_400(self):
        for q in ("startkey=notjson", "key=%7B", "keys=%5B1"):
            with self.subTest(query=q):
                r = self.get("/alldocs/_all_docs?" + q)
                self.assertStatus(r, 400)
                self.assertError(r, 400, None)

    def test_1_1_post_wrong_content_type_415(self):
        r = self.post("/alldocs/_all_docs", b'{"keys":["a"]}', content_type="text/plain")
        self.assertError(r, 415, "bad_content_type", "Content-Type must be application/json")

    def test_9_empty_db(self):
        db = self.new_db()
        r = self.get(db_path(db) + "/_all_docs")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"total_rows": 0, "offset": 0, "rows": []})

    def test_9_paging_with_startkey_and_skip(self):
        # PouchDB-style paging: limit=N, then startkey=<last id>&skip=1 until a short page.
        db = self.new_db()
        ids = [f"p{i:04d}" for i in range(0, 330, 1)]
        r = self.post(db_path(db) + "/_bulk_docs", {"docs": [{"_id": i} for i in ids[::-1]]})
        self.assertStatus(r, 201)
        got, query = [], "limit=50"
        for _ in range(20):
            body = self.get(f"{db_path(db)}/_all_docs?{query}").body
            got += [row["id"] for row in body["rows"]]
            self.assertEqual(body["offset"], len(got) - len(body["rows"]))
            if len(body["rows"]) < 50:
                break
            query = f"limit=50&skip=1&startkey={qjson(got[-1])}"
        self.assertEqual(got, ids)

    def test_9_design_docs(self):
        r = self.get("/alldocs/_design_docs")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["rows"], [self.row("_design/d")])

    def test_1_1_head_all_docs(self):
        r = self.head("/alldocs/_all_docs")
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, b"")

    # ---- _local_docs (§8) ----------------------------------------------------------------------

    def test_8_local_docs_listing(self):
        r = self.get("/alldocs/_local_docs")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"total_rows": None, "offset": None, "rows": [
            {"id": "_local/one", "key": "_local/one", "value": {"rev": "0-1"}},
            {"id": "_local/two", "key": "_local/two", "value": {"rev": "0-1"}}]})

    def test_8_local_docs_include_docs_and_encoded_ids(self):
        db = self.new_db()
        ids = ["_local/b.c_d==", "_local/A+/=", "_local/a"]
        for lid in ids:
            self.assertStatus(self.put(doc_path(db, lid), {"k": lid}), 201)
        r = self.get(db_path(db) + "/_local_docs?include_docs=true")
        self.assertStatus(r, 200)
        self.assertEqual([row["id"] for row in r.body["rows"]],
                         sorted(ids, key=lambda s: s.encode()))
        for row in r.body["rows"]:
            self.assertEqual(row["doc"], {"_id": row["id"], "_rev": "0-1", "k": row["id"]})
        r = self.get(db_path(db) + "/_local_docs?descending=true&limit=1")
        self.assertEqual([row["id"] for row in r.body["rows"]], ["_local/b.c_d=="])
        # _local docs stay out of _all_docs and doc_count.
        self.assertEqual(self.get(db_path(db) + "/_all_docs").body["rows"], [])
        self.assertEqual(self.db_info(db)["doc_count"], 0)


if __name__ == "__main__":
    unittest.main()
