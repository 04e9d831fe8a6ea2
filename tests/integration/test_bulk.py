"""_bulk_docs (http-api.md §10), _bulk_get (§11), _revs_diff (§12, revision-trees.md §10, §13)."""

import unittest

from divan_harness import HEX32, NodeTestCase, db_path, doc_path, rev_pos

CONFLICT = "Document update conflict."


class BulkDocsTest(NodeTestCase):

    def setUp(self):
        self.db = self.new_db()
        self.url = db_path(self.db) + "/_bulk_docs"

    def bulk(self, body, **kw):
        return self.post(self.url, body, **kw)

    def test_10_results_in_order(self):
        existing = self.create_doc(self.db, "c")
        self.update_doc(self.db, "c", existing)
        r = self.bulk({"docs": [{"_id": "a", "v": 1}, {"_id": "b"},
                                {"_id": "c", "_rev": existing}, {"v": "no id"},
                                {"_id": "_local/l", "x": 1}]})
        self.assertStatus(r, 201)
        self.assertJsonReply(r)
        res = r.body
        self.assertEqual(len(res), 5)
        self.assertEqual(set(res[0]), {"ok", "id", "rev"})
        self.assertEqual((res[0]["ok"], res[0]["id"]), (True, "a"))
        self.assertRev(res[0]["rev"], 1)
        self.assertEqual(res[1]["id"], "b")
        self.assertEqual(res[2], {"id": "c", "error": "conflict", "reason": CONFLICT})
        self.assertRegex(res[3]["id"], HEX32, "a doc without _id gets a generated uuid")
        self.assertIs(res[3]["ok"], True)
        self.assertEqual(res[4], {"ok": True, "id": "_local/l", "rev": "0-1"})
        self.assertEqual(self.get(doc_path(self.db, "a")).body["_rev"], res[0]["rev"])
        self.assertEqual(self.get(doc_path(self.db, res[3]["id"])).body["v"], "no id")
        self.assertEqual(self.get(doc_path(self.db, "_local/l")).body,
                         {"_id": "_local/l", "_rev": "0-1", "x": 1})

    def test_10_all_failed_still_201(self):
        r1 = self.create_doc(self.db, "a")
        self.create_doc(self.db, "b")
        r = self.bulk({"docs": [{"_id": "a"}, {"_id": "b", "_rev": "1-" + "0" * 32}]})
        self.assertStatus(r, 201)
        self.assertEqual(r.body, [{"id": "a", "error": "conflict", "reason": CONFLICT},
                                  {"id": "b", "error": "conflict", "reason": CONFLICT}])
        self.assertEqual(self.get(doc_path(self.db, "a")).body["_rev"], r1)

    def test_10_same_id_twice_second_conflicts(self):
        r = self.bulk({"docs": [{"_id": "dup", "v": 1}, {"_id": "dup", "v": 2}]})
        self.assertStatus(r, 201)
        self.assertIs(r.body[0].get("ok"), True)
        self.assertEqual(r.body[1], {"id": "dup", "error": "conflict", "reason": CONFLICT})
        self.assertEqual(self.get(doc_path(self.db, "dup")).body["v"], 1)

    def test_10_same_id_applied_in_request_order(self):
        r1 = self.create_doc(self.db, "seq")
        r = self.bulk({"docs": [{"_id": "seq", "_rev": r1, "v": 2},
                                {"_id": "seq", "_rev": r1, "v": 3}]})
        self.assertStatus(r, 201)
        self.assertIs(r.body[0].get("ok"), True)
        self.assertRev(r.body[0]["rev"], 2)
        self.assertEqual(r.body[1]["error"], "conflict")

    def test_10_update_and_delete(self):
        ra = self.create_doc(self.db, "a")
        rb = self.create_doc(self.db, "b")
        r = self.bulk({"docs": [{"_id": "a", "_rev": ra, "v": 2},
                                {"_id": "b", "_rev": rb, "_deleted": True}]})
        self.assertStatus(r, 201)
        self.assertTrue(all(x.get("ok") for x in r.body), r)
        self.assertEqual(self.get(doc_path(self.db, "a")).body["v"], 2)
        self.assertError(self.get(doc_path(self.db, "b")), 404, "not_found", "deleted")
        info = self.db_info(self.db)
        self.assertEqual((info["doc_count"], info["doc_del_count"]), (1, 1))

    def test_10_new_edits_false_returns_empty_and_resend_is_noop(self):
        docs = [self.path_doc("r1", 3, ["c", "b", "a"], v=1), self.path_doc("r2", 1, ["x"], v=2),
                self.path_doc("r3", 2, ["y", "x"], deleted=True)]
        self.replicate_in(self.db, docs)
        s1 = self.update_seq(self.db)
        info = self.db_info(self.db)
        self.assertEqual((info["doc_count"], info["doc_del_count"]), (2, 1))
        self.replicate_in(self.db, docs)
        self.assertEqual(self.update_seq(self.db), s1, "a re-sent batch must take no seq")
        self.replicate_in(self.db, [self.path_doc("r1", 2, ["b", "a"], v=0)])
        self.assertEqual(self.update_seq(self.db), s1, "an internal node is a silent no-op")
        self.assertEqual(self.get(doc_path(self.db, "r1")).body, {"_id": "r1", "_rev": "3-c", "v": 1})

    def test_10_new_edits_false_bodies_read_back_as_sent(self):
        # A replicator's request is read by a separate fast path (engine/doc_scan.h): every kind
        # of value must come back as sent, and what that path declines must still be written.
        bodies = [{"s": "q\"uo\\te\n\u00e9\U0001F600", "o": {"z": 1, "a": [None, True, False]}},
                  {"f": 1.5, "e": 1e300, "neg": -0.25, "big": 18446744073709551615, "": 0},
                  {"_access": ["u"], "x": 1},
                  {"nested": [[[[{"k": [1, {"k": 2}]}]]]]}, {}]
        docs = [dict(body, _id="nb%d" % i, _rev="1-a%d" % i) for i, body in enumerate(bodies)]
        r = self.bulk({"new_edits": False, "docs": docs})
        self.assertStatus(r, 201)
        self.assertEqual(r.body, [])
        for i, body in enumerate(bodies):
            got = self.get(doc_path(self.db, "nb%d" % i)).body
            self.assertEqual(got, dict(body, _id="nb%d" % i, _rev="1-a%d" % i))
        # A member named twice: the last one, as every other write takes it.
        raw = b'{"new_edits":false,"docs":[{"_id":"dup","_rev":"1-a","x":1,"x":2}]}'
        self.assertStatus(self.post(self.url, raw, content_type="application/json"), 201)
        self.assertEqual(self.get(doc_path(self.db, "dup")).body, {"_id": "dup", "_rev": "1-a", "x": 2})

    def test_10_new_edits_false_hostile_json_400(self):
        s0 = self.update_seq(self.db)
        doc = b'{"new_edits":false,"docs":[{"_id":"h","_rev":"1-a","s":"%s"}]}'
        for raw in [b"\xef\xbb\xbf" + doc % b"x", doc % b"x" + b"\x00garbage",
                    doc % b"\\udc00", doc % b"\xff", doc % b"x" + b"]"]:
            with self.subTest(raw=raw):
                r = self.post(self.url, raw, content_type="application/json")
                self.assertError(r, 400, "bad_request", "invalid UTF-8 JSON")
        deep = b"[" * 600 + b"]" * 600
        r = self.post(self.url, doc.replace(b'"%s"', deep), content_type="application/json")
        self.assertError(r, 400, "bad_request", "JSON nested too deeply")
        self.assertEqual(self.update_seq(self.db), s0, "nothing may be written")

    def test_rt_13_13_duplicates_in_one_batch_one_seq(self):
        s0 = self.update_seq(self.db)
        d = self.path_doc("d", 2, ["b", "a"])
        self.replicate_in(self.db, [d, dict(d), {"_id": "d", "_rev": "1-a"}])
        self.assertEqual(self.update_seq(self.db), s0 + 1)
        r = self.get(doc_path(self.db, "d") + "?revs=true&conflicts=true")
        self.assertEqual(r.body, {"_id": "d", "_rev": "2-b",
                                  "_revisions": {"start": 2, "ids": ["b", "a"]}})

    def test_rt_13_2_branches_create_conflicts(self):
        self.replicate_in(self.db, [self.path_doc("m", 2, ["b", "a"])])
        self.replicate_in(self.db, [self.path_doc("m", 2, ["c", "a"])])
        r = self.get(doc_path(self.db, "m") + "?conflicts=true")
        self.assertEqual(r.body["_rev"], "2-c")
        self.assertEqual(r.body["_conflicts"], ["2-b"])
        # Extending a leaf: new_leaf.
        self.replicate_in(self.db, [self.path_doc("m", 3, ["d", "b", "a"])])
        r = self.get(doc_path(self.db, "m") + "?conflicts=true")
        self.assertEqual(r.body["_rev"], "3-d")
        self.assertEqual(r.body["_conflicts"], ["2-c"])

    def test_rt_13_3_deleted_leaves_via_bulk(self):
        self.replicate_in(self.db, [self.path_doc("z", 3, ["x", "b", "a"], deleted=True),
                                    self.path_doc("z", 2, ["y", "a"])])
        r = self.get(doc_path(self.db, "z") + "?deleted_conflicts=true&conflicts=true")
        self.assertEqual(r.body["_rev"], "2-y")
        self.assertEqual(r.body["_deleted_conflicts"], ["3-x"])
        self.assertNotIn("_conflicts", r.body)
        # All leaves deleted → doc deleted; winner is the deleted leaf with the highest (pos, id).
        self.replicate_in(self.db, [self.path_doc("z", 3, ["w", "y", "a"], deleted=True)])
        self.assertError(self.get(doc_path(self.db, "z")), 404, "not_found", "deleted")
        rows = self.post(db_path(self.db) + "/_all_docs", {"keys": ["z"]}).body["rows"]
        self.assertEqual(rows, [{"id": "z", "key": "z", "value": {"rev": "3-x", "deleted": True}}])

    def test_rt_13_6_longer_incoming_path_into_stemmed_tree(self):
        self.assertStatus(self.put(db_path(self.db) + "/_revs_limit", 3), 200)
        self.replicate_in(self.db, [self.path_doc("s", 5, ["e", "d", "c", "b", "a"])])
        self.assertEqual(self.get(doc_path(self.db, "s") + "?revs=true").body["_revisions"],
                         {"start": 5, "ids": ["e", "d", "c"]})
        self.replicate_in(self.db, [self.path_doc("s", 6, ["f", "e", "d", "c", "b", "a"])])
        r = self.get(doc_path(self.db, "s") + "?revs=true&conflicts=true")
        self.assertEqual(r.body["_rev"], "6-f")
        self.assertEqual(r.body["_revisions"], {"start": 6, "ids": ["f", "e", "d"]})
        self.assertNotIn("_conflicts", r.body)

    def test_rt_13_7_stemmed_branch_resurrects_as_conflict(self):
        self.assertStatus(self.put(db_path(self.db) + "/_revs_limit", 3), 200)
        self.replicate_in(self.db, [self.path_doc("s", 5, ["e", "d", "c", "b", "a"])])
        r = self.post(db_path(self.db) + "/_revs_diff", {"s": ["1-a", "3-c", "5-e"]})
        self.assertEqual(r.body, {"s": {"missing": ["1-a"]}})
        self.replicate_in(self.db, [self.path_doc("s", 2, ["b", "a"])])
        r = self.get(doc_path(self.db, "s") + "?conflicts=true")
        self.assertEqual(r.body["_rev"], "5-e")
        self.assertEqual(r.body["_conflicts"], ["2-b"])

    def test_10_missing_or_bad_docs_param_400(self):
        self.assertError(self.bulk({}), 400, "bad_request", "POST body must include `docs` parameter.")
        self.assertError(self.bulk({"docs": {"_id": "a"}}), 400, "bad_request",
                         "`docs` parameter must be an array.")
        self.assertError(self.bulk({"docs": [], "new_edits": "false"}), 400, "bad_request",
                         "`new_edits` parameter must be a boolean.")

    def test_10_bad_id_anywhere_fails_whole_request(self):
        s0 = self.update_seq(self.db)
        for bad, reason in [("_bad", "Only reserved document ids may start with underscore."),
                            ("", "Document id must not be empty"),
                            ("_design/", "Illegal document id `_design/`"),
                            (7, "Document id must be a string")]:
            with self.subTest(id=bad):
                r = self.bulk({"docs": [{"_id": "ok1"}, {"_id": "ok2"}, {"_id": bad}, {"_id": "ok3"}]})
                self.assertError(r, 400, "illegal_docid", reason)
                r = self.bulk({"new_edits": False,
                               "docs": [{"_id": "ok1", "_rev": "1-a"}, {"_id": bad, "_rev": "1-a"}]})
                self.assertError(r, 400, "illegal_docid", reason)
        self.assertEqual(self.update_seq(self.db), s0, "nothing may be written")
        self.assertEqual(self.get(db_path(self.db) + "/_all_docs").body["rows"], [])

    def test_10_bad_special_field_anywhere_fails_whole_request(self):
        r = self.bulk({"docs": [{"_id": "ok1"}, {"_id": "x", "_foo": 1}]})
        self.assertError(r, 400, "doc_validation", "Bad special document member: _foo")
        r = self.bulk({"docs": [{"_id": "ok1"}, {"_id": "x", "_deleted": "yes"}]})
        self.assertError(r, 400, "doc_validation", "Bad special document member: _deleted")
        r = self.bulk({"docs": [{"_id": "ok1"}, {"_id": "x", "_rev": "garbage"}]})
        self.assertError(r, 400, "bad_request", "Invalid rev format")
        self.assertError(self.get(doc_path(self.db, "ok1")), 404, "not_found", "missing")

    def test_10_new_edits_false_requires_rev(self):
        r = self.bulk({"new_edits": False, "docs": [{"_id": "ok", "_rev": "1-a"}, {"_id": "x"}]})
        self.assertError(r, 400, "bad_request",
                         "When `new_edits: false`, the document needs `_rev` or `_revisions` specified")
        self.assertError(self.get(doc_path(self.db, "ok")), 404, "not_found", "missing")

    def test_10_non_object_doc_400(self):
        r = self.bulk({"docs": [{"_id": "ok"}, 5]})
        self.assertError(r, 400, "bad_request", "Document must be a JSON object")
        self.assertError(self.get(doc_path(self.db, "ok")), 404, "not_found", "missing")

    def test_1_1_wrong_content_type_415(self):
        r = self.post(self.url, b'{"docs":[{"_id":"a"}]}', content_type="text/plain")
        self.assertError(r, 415, "bad_content_type", "Content-Type must be application/json")
        self.assertError(self.get(doc_path(self.db, "a")), 404, "not_found", "missing")

    def test_1_1_charset_content_type_accepted(self):
        r = self.post(self.url, b'{"docs":[{"_id":"a"}]}',
                      content_type="application/json; charset=utf-8")
        self.assertStatus(r, 201)

    def test_10_full_commit_header_and_empty_docs(self):
        r = self.post(self.url, {"docs": []}, headers={"X-Couch-Full-Commit": "false"})
        self.assertStatus(r, 201)
        self.assertEqual(r.body, [])

    def test_10_get_is_405(self):
        self.assertMethodNotAllowed(self.get(self.url), "POST")


class BulkGetTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = "bulkget"
        n = cls.node
        assert n.put("/bulkget").status == 201
        r = n.post("/bulkget/_bulk_docs", {"new_edits": False, "docs": [
            # a: linear 1-a → 2-x ; b: conflict {2-p, 2-q} over 1-o ; del: deleted leaf 2-t
            {"_id": "a", "_rev": "2-x", "_revisions": {"start": 2, "ids": ["x", "y"]}, "v": "a"},
            {"_id": "b", "_rev": "2-p", "_revisions": {"start": 2, "ids": ["p", "o"]}, "v": "p"},
            {"_id": "b", "_rev": "2-q", "_revisions": {"start": 2, "ids": ["q", "o"]}, "v": "q"},
            {"_id": "del", "_rev": "2-t", "_revisions": {"start": 2, "ids": ["t", "s"]},
             "_deleted": True},
        ]})
        assert r.status == 201 and r.body == [], r

    def bulk_get(self, docs, query="", **kw):
        return self.post("/bulkget/_bulk_get" + (("?" + query) if query else ""), {"docs": docs}, **kw)

    def test_11_shape_and_order(self):
        r = self.bulk_get([{"id": "b", "rev": "2-q"}, {"id": "a", "rev": "2-x"},
                           {"id": "a", "rev": "2-x"}])
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(list(r.body), ["results"], "the only key must be results (§11)")
        self.assertEqual(r.body["results"], [
            {"id": "b", "docs": [{"ok": {"_id": "b", "_rev": "2-q", "v": "q"}}]},
            {"id": "a", "docs": [{"ok": {"_id": "a", "_rev": "2-x", "v": "a"}}]},
            {"id": "a", "docs": [{"ok": {"_id": "a", "_rev": "2-x", "v": "a"}}]},
        ])

    def test_11_rev_omitted_all_leaves(self):
        r = self.bulk_get([{"id": "b"}, {"id": "del"}])
        self.assertStatus(r, 200)
        res = r.body["results"]
        self.assertEqual(res[0]["id"], "b")
        self.assertEqual(sorted(d["ok"]["_rev"] for d in res[0]["docs"]), ["2-p", "2-q"])
        self.assertEqual(res[1], {"id": "del", "docs": [{"ok": {"_id": "del", "_rev": "2-t",
                                                                 "_deleted": True}}]})

    def test_11_missing(self):
        r = self.bulk_get([{"id": "nope"}, {"id": "a", "rev": "1-z"}, {"id": "nope", "rev": "3-k"}])
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"results": [
            {"id": "nope", "docs": [{"error": {"id": "nope", "rev": "undefined",
                                               "error": "not_found", "reason": "missing"}}]},
            {"id": "a", "docs": [{"error": {"id": "a", "rev": "1-z", "error": "not_found",
                                            "reason": "missing"}}]},
            {"id": "nope", "docs": [{"error": {"id": "nope", "rev": "3-k", "error": "not_found",
                                               "reason": "missing"}}]},
        ]})

    def test_11_bad_entries_are_error_items(self):
        r = self.bulk_get([5, {"rev": "1-a"}, {"id": "_bad"}, {"id": "a", "rev": "abc"},
                           {"id": "a", "rev": "2-x"}])
        self.assertStatus(r, 200)
        res = r.body["results"]
        self.assertEqual(len(res), 5)
        self.assertEqual(res[0], {"id": None, "docs": [{"error": {
            "id": None, "rev": None, "error": "bad_request",
            "reason": "document must be a JSON object"}}]})
        self.assertIsNone(res[1]["id"])
        e1 = res[1]["docs"][0]["error"]
        self.assertEqual((e1["id"], e1["error"], e1["reason"]),
                         (None, "bad_request", "document id missed"))
        e2 = res[2]["docs"][0]["error"]
        self.assertEqual(e2["error"], "illegal_docid")
        self.assertEqual(e2["id"], "_bad")
        e3 = res[3]["docs"][0]["error"]
        self.assertEqual((e3["error"], e3["rev"], e3["id"]), ("bad_request", "abc", "a"))
        self.assertEqual(res[4]["docs"], [{"ok": {"_id": "a", "_rev": "2-x", "v": "a"}}])

    def test_11_revs_true(self):
        r = self.bulk_get([{"id": "a", "rev": "2-x"}], "revs=true")
        self.assertEqual(r.body["results"][0]["docs"][0]["ok"],
                         {"_id": "a", "_rev": "2-x", "v": "a",
                          "_revisions": {"start": 2, "ids": ["x", "y"]}})

    def test_11_latest(self):
        r = self.bulk_get([{"id": "b", "rev": "1-o"}, {"id": "a", "rev": "1-y"}], "latest=true&revs=true")
        self.assertStatus(r, 200)
        res = r.body["results"]
        self.assertEqual(sorted(d["ok"]["_rev"] for d in res[0]["docs"]), ["2-p", "2-q"])
        self.assertEqual([d["ok"]["_rev"] for d in res[1]["docs"]], ["2-x"])

    def test_11_replicator_body_options_ignored(self):
        r = self.post("/bulkget/_bulk_get?revs=true&latest=true",
                      {"docs": [{"id": "a", "rev": "2-x"}], "revs": True, "latest": True,
                       "attachments": False})
        self.assertStatus(r, 200)
        self.assertEqual(list(r.body), ["results"])

    def test_11_forbidden_query_params_400(self):
        for p, val in (("rev", "1-a"), ("open_revs", "all"), ("atts_since", "%5B%5D"),
                       ("new_edits", "false"), ("w", "1")):
            with self.subTest(param=p):
                r = self.bulk_get([{"id": "a"}], f"{p}={val}")
                self.assertError(r, 400, "bad_request", f'"{p}" query parameter is not acceptable')

    def test_11_missing_docs_400(self):
        self.assertError(self.post("/bulkget/_bulk_get", {}), 400, "bad_request",
                         "Missing JSON list of 'docs'.")

    def test_11_get_405_and_content_type_415(self):
        self.assertMethodNotAllowed(self.get("/bulkget/_bulk_get"), "POST")
        r = self.post("/bulkget/_bulk_get", b'{"docs":[]}', content_type="text/plain")
        self.assertError(r, 415, "bad_content_type", "Content-Type must be application/json")


class RevsDiffTest(NodeTestCase):

    def setUp(self):
        self.db = self.new_db()

    def revs_diff(self, body):
        r = self.post(db_path(self.db) + "/_revs_diff", body)
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        return r.body

    def forest_13_11(self):
        # 1: a → {b → c, d(D)}
        self.replicate_in(self.db, [self.path_doc("doc", 3, ["c", "b", "a"]),
                                    self.path_doc("doc", 2, ["d", "a"], deleted=True)])

    def test_rt_13_11_possible_ancestors(self):
        self.forest_13_11()
        body = self.revs_diff({"doc": ["1-a", "2-b", "2-d", "3-c", "3-z", "4-q", "1-zz"]})
        self.assertEqual(list(body), ["doc"])
        self.assertEqual(sorted(body["doc"]["missing"]), ["1-zz", "3-z", "4-q"])
        self.assertEqual(body["doc"]["possible_ancestors"], ["3-c", "2-d"])

    def test_rt_13_11_no_ancestor_key_when_empty(self):
        self.forest_13_11()
        self.assertEqual(self.revs_diff({"doc": ["2-z"]}), {"doc": {"missing": ["2-z"]}})
        self.assertEqual(self.revs_diff({"doc": ["4-q"]}),
                         {"doc": {"missing": ["4-q"], "possible_ancestors": ["3-c", "2-d"]}})

    def test_rt_13_11_complete_docs_omitted(self):
        self.forest_13_11()
        self.assertEqual(self.revs_diff({"doc": ["2-b", "3-c"]}), {})
        self.assertEqual(self.revs_diff({}), {})
        body = self.revs_diff({"doc": ["1-a"], "other": ["1-a"]})
        self.assertEqual(body, {"other": {"missing": ["1-a"]}})

    def test_12_unknown_doc_all_missing_no_ancestors(self):
        body = self.revs_diff({"ghost": ["1-a", "2-b"]})
        self.assertEqual(list(body), ["ghost"])
        self.assertEqual(sorted(body["ghost"]["missing"]), ["1-a", "2-b"])
        self.assertNotIn("possible_ancestors", body["ghost"])

    def test_rt_13_10_bodyless_ancestor_counts_as_present(self):
        self.replicate_in(self.db, [self.path_doc("u", 2, ["b", "a"])])
        self.replicate_in(self.db, [self.path_doc("u", 3, ["c", "q"])])
        self.assertEqual(self.revs_diff({"u": ["2-q", "3-c", "1-a", "4-n"]}),
                         {"u": {"missing": ["4-n"], "possible_ancestors": ["3-c", "2-b"]}})

    def test_12_interactive_history(self):
        r1 = self.create_doc(self.db, "i")
        r2 = self.update_doc(self.db, "i", r1)
        self.assertEqual(self.revs_diff({"i": [r1, r2]}), {})
        body = self.revs_diff({"i": [r1, "3-" + "a" * 32]})
        self.assertEqual(body, {"i": {"missing": ["3-" + "a" * 32], "possible_ancestors": [r2]}})

    def test_rt_1_uppercase_hex_is_same_revision(self):
        low = "abcdef0123456789abcdef0123456789"
        self.replicate_in(self.db, [{"_id": "h", "_rev": "1-" + low}])
        self.assertEqual(self.revs_diff({"h": ["1-" + low.upper()]}), {})

    def test_12_invalid_input_400(self):
        self.assertError(self.post(db_path(self.db) + "/_revs_diff", {"d": ["abc"]}), 400,
                         "bad_request", "Invalid rev format")
        self.assertError(self.post(db_path(self.db) + "/_revs_diff", {"d": "1-a"}), 400,
                         "bad_request", "Invalid list of revisions")
        self.assertError(self.post(db_path(self.db) + "/_revs_diff", [1]), 400, "bad_request",
                         "Request body must be a JSON object")

    def test_12_get_405_and_content_type_415(self):
        url = db_path(self.db) + "/_revs_diff"
        self.assertMethodNotAllowed(self.get(url), "POST")
        self.assertError(self.post(url, b'{}', content_type="text/plain"), 415, "bad_content_type",
                         "Content-Type must be application/json")


if __name__ == "__main__":
    unittest.main()
