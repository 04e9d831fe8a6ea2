"""Documents: http-api.md §5 (ids, special fields, output), §6 (GET/PUT/DELETE), §8 (_local),
and the interactive/replicated rules of revision-trees.md §6 with its worked examples §13."""

import json
import unittest

from divan_harness import (NodeTestCase, db_path, doc_path, qjson, quote, rev_id, rev_pos,
                           seq_num)

CONFLICT = "Document update conflict."
JSON_ACCEPT = {"Accept": "application/json"}


class DocumentTest(NodeTestCase):

    def setUp(self):
        self.db = self.new_db()

    def path(self, docid, query=""):
        return doc_path(self.db, docid) + (("?" + query) if query else "")

    def getdoc(self, docid, query="", **kw):
        return self.get(self.path(docid, query), **kw)

    def open_revs(self, docid, query):
        r = self.getdoc(docid, query, headers=JSON_ACCEPT)
        return r

    # ---- §13.14: the interactive sequence, status by status ------------------------------------

    def test_rt_13_14_interactive_sequence(self):
        r = self.put(self.path("x"), {})
        self.assertStatus(r, 201)
        h1 = r.body["rev"]
        self.assertRev(h1, 1)
        self.assertEqual(r.body, {"ok": True, "id": "x", "rev": h1})
        self.assertETag(r, h1)
        self.assertRegex(r.header("Location") or "", rf"^http://[^/]+/{self.db}/x$")

        r = self.put(self.path("x"), {"_rev": h1, "v": 1})
        self.assertStatus(r, 201)
        h2 = r.body["rev"]
        self.assertRev(h2, 2)

        self.assertError(self.put(self.path("x"), {"_rev": h1, "v": 2}), 409, "conflict", CONFLICT)
        self.assertError(self.put(self.path("x"), {"v": 3}), 409, "conflict", CONFLICT)

        r = self.delete(self.path("x", "rev=" + h2))
        self.assertStatus(r, 200)
        h3 = r.body["rev"]
        self.assertRev(h3, 3)
        self.assertEqual(r.body, {"ok": True, "id": "x", "rev": h3})
        self.assertETag(r, h3)

        self.assertError(self.getdoc("x"), 404, "not_found", "deleted")
        r = self.getdoc("x", "rev=" + h3)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"_id": "x", "_rev": h3, "_deleted": True})

        self.assertError(self.put(self.path("x"), {"_rev": h3, "v": 4}), 409, "conflict", CONFLICT)

        r = self.put(self.path("x"), {"v": 5})
        self.assertStatus(r, 201)
        h4 = r.body["rev"]
        self.assertRev(h4, 4)
        r = self.getdoc("x", "revs=true")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["_revisions"],
                         {"start": 4, "ids": [rev_id(h) for h in (h4, h3, h2, h1)]})
        self.assertEqual(r.body["v"], 5)

        r = self.delete(self.path("x", "rev=" + h4))
        self.assertStatus(r, 200)
        h5 = r.body["rev"]
        self.assertRev(h5, 5)
        self.assertError(self.delete(self.path("x", "rev=" + h5)), 404, "not_found", "deleted")

    # ---- §13.15: extend the losing leaf, then resolve ------------------------------------------

    def test_rt_13_15_extend_losing_leaf_then_resolve(self):
        self.replicate_in(self.db, [self.path_doc("d", 2, ["b", "a"], v="b"),
                                    self.path_doc("d", 2, ["c", "a"], v="c")])
        self.assertEqual(self.getdoc("d").body["_rev"], "2-c")
        r = self.put(self.path("d"), {"_rev": "2-b", "v": 1})
        self.assertStatus(r, 201)
        e = r.body["rev"]
        self.assertRev(e, 3)
        r = self.getdoc("d", "conflicts=true")
        self.assertEqual(r.body["_rev"], e, "the longer branch wins")
        self.assertEqual(r.body["_conflicts"], ["2-c"])
        r = self.delete(self.path("d", "rev=2-c"))
        self.assertStatus(r, 200)
        f = r.body["rev"]
        self.assertEqual(rev_pos(f), 3)
        r = self.getdoc("d", "conflicts=true&deleted_conflicts=true")
        self.assertEqual(r.body["_rev"], e)
        self.assertNotIn("_conflicts", r.body)
        self.assertEqual(r.body["_deleted_conflicts"], [f])

    # ---- §6.1 interactive table rows -----------------------------------------------------------

    def test_rt_6_1_unknown_doc_with_rev_409(self):
        self.assertError(self.put(self.path("nope"), {"_rev": "1-" + "a" * 32}), 409, "conflict",
                         CONFLICT)
        self.assertError(self.put(self.path("nope", "rev=1-" + "a" * 32), {}), 409, "conflict")
        self.assertError(self.getdoc("nope"), 404, "not_found", "missing")

    def test_rt_6_1_internal_or_unknown_parent_409(self):
        r1 = self.create_doc(self.db, "d")
        self.update_doc(self.db, "d", r1, {"v": 2})
        self.assertError(self.put(self.path("d"), {"_rev": r1}), 409, "conflict", CONFLICT)
        self.assertError(self.put(self.path("d"), {"_rev": "2-" + "f" * 32}), 409, "conflict")
        self.assertError(self.put(self.path("d"), {"_rev": "7-zz"}), 409, "conflict")

    def test_rt_6_1_create_deleted_doc(self):
        r = self.put(self.path("born-dead"), {"_deleted": True, "note": 1})
        self.assertStatus(r, 200)
        self.assertRev(r.body["rev"], 1)
        self.assertError(self.getdoc("born-dead"), 404, "not_found", "deleted")
        info = self.db_info(self.db)
        self.assertEqual((info["doc_count"], info["doc_del_count"]), (0, 1))
        r2 = self.getdoc("born-dead", "rev=" + r.body["rev"])
        self.assertEqual(r2.body, {"_id": "born-dead", "_rev": r.body["rev"], "note": 1,
                                   "_deleted": True})

    def test_rt_6_1_deleted_doc_delete_again_without_rev_409(self):
        r1 = self.create_doc(self.db, "d")
        self.assertStatus(self.delete(self.path("d", "rev=" + r1)), 200)
        self.assertError(self.put(self.path("d"), {"_deleted": True}), 409, "conflict", CONFLICT)

    def test_rt_6_1_revive_deleted_leaf_of_live_doc(self):
        # §13.9 forest, then extend the deleted leaf 3-d: it competes again and wins (pos 4).
        self.replicate_in(self.db, [self.path_doc("d", 2, ["b", "a"]), self.path_doc("d", 2, ["c", "a"]),
                                    self.path_doc("d", 3, ["d", "b", "a"], deleted=True)])
        r = self.put(self.path("d"), {"_rev": "3-d", "back": True})
        self.assertStatus(r, 201)
        new = r.body["rev"]
        self.assertRev(new, 4)
        r = self.getdoc("d", "conflicts=true&deleted_conflicts=true")
        self.assertEqual(r.body["_rev"], new)
        self.assertEqual(r.body["_conflicts"], ["2-c"])
        self.assertNotIn("_deleted_conflicts", r.body)

    def test_rt_6_1_recreate_deleted_sets_parent_to_tombstone(self):
        r1 = self.create_doc(self.db, "d", {"v": 1})
        r2 = self.delete(self.path("d", "rev=" + r1)).body["rev"]
        r = self.put(self.path("d"), {"v": 2})
        self.assertStatus(r, 201)
        r3 = r.body["rev"]
        self.assertRev(r3, 3)
        revs = self.getdoc("d", "revs=true").body["_revisions"]
        self.assertEqual(revs, {"start": 3, "ids": [rev_id(r3), rev_id(r2), rev_id(r1)]})

    # ---- Where the parent rev comes from (§6.2, §1.4) ------------------------------------------

    def test_6_2_rev_via_query_and_if_match(self):
        r1 = self.create_doc(self.db, "d")
        r = self.put(self.path("d", "rev=" + r1), {"v": 2})
        self.assertStatus(r, 201)
        r2 = r.body["rev"]
        r = self.put(self.path("d"), {"v": 3}, headers={"If-Match": f'"{r2}"'})
        self.assertStatus(r, 201)
        r3 = r.body["rev"]
        r = self.put(self.path("d"), {"v": 4}, headers={"If-Match": r3})
        self.assertStatus(r, 201, "If-Match without quotes")
        r4 = r.body["rev"]
        r = self.put(self.path("d", "rev=" + r4), {"_rev": r4, "v": 5})
        self.assertStatus(r, 201, "body and query agree")
        self.assertEqual(self.getdoc("d").body["v"], 5)

    def test_6_2_body_and_query_rev_mismatch_400(self):
        r1 = self.create_doc(self.db, "d")
        r2 = self.update_doc(self.db, "d", r1)
        self.assertError(self.put(self.path("d", "rev=" + r1), {"_rev": r2}), 400, "bad_request",
                         "Document rev from request body and query string have different values")

    def test_1_4_query_and_if_match_mismatch_400(self):
        r1 = self.create_doc(self.db, "d")
        r2 = self.update_doc(self.db, "d", r1)
        self.assertError(self.put(self.path("d", "rev=" + r2), {}, headers={"If-Match": f'"{r1}"'}),
                         400, "bad_request", "Document rev and etag have different values")
        self.assertError(self.delete(self.path("d", "rev=" + r2), headers={"If-Match": f'"{r1}"'}),
                         400, "bad_request", "Document rev and etag have different values")
        self.assertEqual(self.getdoc("d").body["_rev"], r2)

    def test_6_2_url_id_wins_over_body_id(self):
        r = self.put(self.path("url-id"), {"_id": "body-id", "v": 1})
        self.assertStatus(r, 201)
        self.assertEqual(r.body["id"], "url-id")
        self.assertStatus(self.getdoc("url-id"), 200)
        self.assertError(self.getdoc("body-id"), 404, "not_found", "missing")

    def test_1_1_put_doc_checks_no_content_type(self):
        r = self.put(self.path("plain"), b'{"v":1}', content_type="text/plain")
        self.assertStatus(r, 201)
        self.assertEqual(self.getdoc("plain").body["v"], 1)

    def test_6_2_full_commit_header_accepted(self):
        r = self.put(self.path("fc"), {}, headers={"X-Couch-Full-Commit": "true"})
        self.assertStatus(r, 201)

    # ---- DELETE (§6.3) -------------------------------------------------------------------------

    def test_6_3_delete_cases(self):
        self.assertError(self.delete(self.path("never", "rev=1-" + "a" * 32)), 404, "not_found",
                         "missing")
        r1 = self.create_doc(self.db, "d")
        self.assertError(self.delete(self.path("d")), 409, "conflict", CONFLICT)
        r2 = self.update_doc(self.db, "d", r1)
        self.assertError(self.delete(self.path("d", "rev=" + r1)), 409, "conflict", CONFLICT)
        r = self.delete(self.path("d"), headers={"If-Match": f'"{r2}"'})
        self.assertStatus(r, 200)
        self.assertRev(r.body["rev"], 3)
        self.assertError(self.delete(self.path("d", "rev=" + r.body["rev"])), 404, "not_found",
                         "deleted")

    def test_6_2_deleted_true_in_body_keeps_body_and_is_200(self):
        r1 = self.create_doc(self.db, "d", {"a": 1})
        r = self.put(self.path("d"), {"_rev": r1, "_deleted": True, "keep": "me"})
        self.assertStatus(r, 200)
        r2 = r.body["rev"]
        got = self.getdoc("d", "rev=" + r2).body
        self.assertEqual(got, {"_id": "d", "_rev": r2, "keep": "me", "_deleted": True})
        self.assertEqual(list(got), ["_id", "_rev", "keep", "_deleted"], "§5.3 field order")

    # ---- Deterministic revision ids (revision-trees.md §2.2, "What matters most" 8) ------------

    def test_rt_2_2_same_edit_same_rev_on_two_databases(self):
        other = self.new_db()
        a = self.create_doc(self.db, "same", {"a": 1, "b": [1, 2], "c": {"x": "y"}})
        b = self.create_doc(other, "same", {"c": {"x": "y"}, "b": [1, 2], "a": 1})
        self.assertEqual(a, b, "identical edits (key order aside) must produce the same rev")
        c = self.create_doc(other, "same2", {"a": 2, "b": [1, 2], "c": {"x": "y"}})
        self.assertNotEqual(rev_id(a), rev_id(c), "a different body must give a different rev")
        a2 = self.update_doc(self.db, "same", a, {"v": 1})
        b2 = self.update_doc(other, "same", b, {"v": 1})
        self.assertEqual(a2, b2)
        da = self.delete(doc_path(self.db, "same") + "?rev=" + a2).body["rev"]
        self.assertNotEqual(da, a2)
        db_ = self.delete(doc_path(other, "same") + "?rev=" + b2).body["rev"]
        self.assertEqual(da, db_)

    # ---- Output: field order, values (§1.1, §5.3) ----------------------------------------------

    def test_5_3_id_rev_first_and_user_key_order_preserved(self):
        body = {"z": 1, "a": {"y": 1, "b": [1, {"q": 0, "c": 1}]}, "m": "s", "_id": "ignored"}
        self.put(self.path("ord"), body)
        r = self.getdoc("ord")
        self.assertStatus(r, 200)
        self.assertEqual(list(r.body), ["_id", "_rev", "z", "a", "m"])
        self.assertEqual(list(r.body["a"]), ["y", "b"])
        self.assertEqual(list(r.body["a"]["b"][1]), ["q", "c"])

    def test_5_3_special_fields_order_with_meta(self):
        self.replicate_in(self.db, [self.path_doc("m", 2, ["mmm", "a"], u1=1, u2=2),
                                    self.path_doc("m", 2, ["aaa", "a"]),
                                    self.path_doc("m", 2, ["zzz", "a"], deleted=True)])
        r = self.getdoc("m", "meta=true&revs=true&local_seq=true")
        self.assertStatus(r, 200)
        self.assertEqual(list(r.body), ["_id", "_rev", "u1", "u2", "_revisions", "_revs_info",
                                        "_local_seq", "_conflicts", "_deleted_conflicts"])

    def test_1_1_numbers_and_strings_round_trip(self):
        body = {"i53": 9007199254740993, "imin": -9223372036854775808, "imax": 9223372036854775807,
                "f": 0.1, "big": 1e300, "tiny": 5e-324, "neg": -2.5, "zero": 0,
                "s": "é☃😀", "ctl": "\u0000\n\t\u001f", "q": "\"\\/", "t": True, "n": None,
                "empty": {}, "list": []}
        self.put(self.path("nums"), body)
        r = self.getdoc("nums")
        got = {k: v for k, v in r.body.items() if not k.startswith("_")}
        self.assertEqual(got, body)
        self.assertIn(b"9007199254740993", r.raw)
        self.assertIn(b"-9223372036854775808", r.raw)
        self.assertIsInstance(got["i53"], int)
        self.assertIsInstance(got["f"], float)
        self.assertEqual(json.loads(r.raw)["tiny"], 5e-324)

    # ---- Special fields (§5.2) -----------------------------------------------------------------

    def test_5_2_unknown_underscore_field_400(self):
        self.assertError(self.put(self.path("u"), {"_foo": 1}), 400, "doc_validation",
                         "Bad special document member: _foo")
        self.assertError(self.getdoc("u"), 404, "not_found", "missing")
        self.assertError(self.post(db_path(self.db), {"_id": "u", "_bar": 1}), 400,
                         "doc_validation", "Bad special document member: _bar")

    def test_5_2_deleted_must_be_boolean(self):
        for bad in ("yes", 1, None, "true"):
            with self.subTest(value=bad):
                self.assertError(self.put(self.path("u"), {"_deleted": bad}), 400,
                                 "doc_validation", "Bad special document member: _deleted")
        self.assertError(self.getdoc("u"), 404, "not_found", "missing")

    def test_5_2_read_only_specials_ignored(self):
        body = {"_conflicts": ["2-x"], "_revs_info": [], "_deleted_conflicts": ["3-y"],
                "_local_seq": 4, "v": 1}
        r = self.put(self.path("ign"), body)
        self.assertStatus(r, 201)
        self.assertEqual(self.getdoc("ign").body, {"_id": "ign", "_rev": r.body["rev"], "v": 1})

    def test_5_2_access_and_replication_fields_kept(self):
        body = {"_access": ["u"], "_replication_state": "completed",
                "_replication_state_time": "t", "_replication_id": "rid"}
        r = self.put(self.path("keep"), body)
        self.assertStatus(r, 201)
        got = self.getdoc("keep").body
        for k, v in body.items():
            self.assertEqual(got.get(k), v, k)

    # ---- Ids (§5.1) ----------------------------------------------------------------------------

    def test_5_1_id_table(self):
        cases = [
            ({"_id": ""}, "Document id must not be empty"),
            ({"_id": "_design/"}, "Illegal document id `_design/`"),
            ({"_id": "_local/"}, "Illegal document id `_local/`"),
            ({"_id": "_foo"}, "Only reserved document ids may start with underscore."),
            ({"_id": "_"}, "Only reserved document ids may start with underscore."),
            ({"_id": 123}, "Document id must be a string"),
            ({"_id": ["a"]}, "Document id must be a string"),
        ]
        for body, reason in cases:
            with self.subTest(body=body):
                self.assertError(self.post(db_path(self.db), body), 400, "illegal_docid", reason)
        self.assertError(self.put(f"{db_path(self.db)}/_foo", {}), 400, "illegal_docid",
                         "Only reserved document ids may start with underscore.")
        self.assertError(self.put(f"{db_path(self.db)}/%FF%FE", {}), 400, "illegal_docid",
                         "Document id must be valid UTF-8")
        self.assertEqual(self.db_info(self.db)["doc_count"], 0)

    def test_5_1_design_docs(self):
        r = self.put(f"{db_path(self.db)}/_design/x", {"views": {}})
        self.assertStatus(r, 201)
        self.assertEqual(r.body["id"], "_design/x")
        r = self.get(f"{db_path(self.db)}/_design/x")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["_id"], "_design/x")
        self.assertEqual(self.db_info(self.db)["doc_count"], 1)
        rows = self.get(f"{db_path(self.db)}/_all_docs").body["rows"]
        self.assertEqual([row["id"] for row in rows], ["_design/x"])
        r = self.delete(f"{db_path(self.db)}/_design/x?rev=" + r.body["_rev"])
        self.assertStatus(r, 200)

    def test_1_1_ids_with_slash_and_unicode_round_trip(self):
        for docid in ("a/b", "a/b/c", "été", "with space", "plus+sign", "q?x#y&z=1", "%41", "-dash"):
            with self.subTest(docid=docid):
                r = self.put(self.path(docid), {"id": docid})
                self.assertStatus(r, 201)
                self.assertEqual(r.body["id"], docid)
                r = self.getdoc(docid)
                self.assertStatus(r, 200)
                self.assertEqual(r.body["_id"], docid)
        ids = [row["id"] for row in self.get(f"{db_path(self.db)}/_all_docs").body["rows"]]
        self.assertIn("a/b", ids)
        self.assertIn("été", ids)
        self.assertIn("%41", ids)
        self.assertNotIn("A", ids)

    def test_regress_repeated_slashes_route_as_one(self):
        # CouchDB splits the path with string:tokens: PUT //db//doc is PUT /db/doc.
        db = self.db
        r = self.put(f"//{db}//twice", {"v": 1})
        self.assertStatus(r, 201)
        self.assertEqual(r.body["id"], "twice")
        self.assertEqual(self.getdoc("twice").body["v"], 1)
        self.assertEqual(self.get(f"//{db}///twice//").body["_rev"], r.body["rev"])
        r = self.put(f"/{db}//twice//att.txt?rev={r.body['rev']}", b"bytes",
                     content_type="text/plain")
        self.assertStatus(r, 201)
        self.assertEqual(self.get(f"{db_path(db)}/twice/att.txt").raw, b"bytes")
        self.assertStatus(self.get(f"//{db}"), 200)
        self.assertEqual(self.get(f"//{db}//_all_docs").body["total_rows"], 1)

    # ---- GET and its options (§6.1) ------------------------------------------------------------

    def test_6_1_get_missing_and_bad_rev(self):
        self.assertError(self.getdoc("absent"), 404, "not_found", "missing")
        r1 = self.create_doc(self.db, "d")
        self.assertError(self.getdoc("d", "rev=1-" + "b" * 32), 404, "not_found", "missing")
        self.assertError(self.getdoc("d", "rev=abc"), 400, "bad_request", "Invalid rev format")
        r = self.getdoc("d", "rev=" + r1)
        self.assertStatus(r, 200)
        self.assertETag(r, r1)

    def test_1_4_etag_and_if_none_match(self):
        r1 = self.create_doc(self.db, "e", {"v": 1})
        r = self.getdoc("e")
        self.assertStatus(r, 200)
        self.assertETag(r, r1)
        for inm in (f'"{r1}"', f'W/"{r1}"', f'"1-{"0" * 32}", "{r1}"'):
            with self.subTest(if_none_match=inm):
                r = self.getdoc("e", headers={"If-None-Match": inm})
                self.assertStatus(r, 304)
                self.assertEqual(r.raw, b"")
                self.assertETag(r, r1)
        r = self.getdoc("e", headers={"If-None-Match": '"1-other"'})
        self.assertStatus(r, 200)
        r2 = self.update_doc(self.db, "e", r1)
        r = self.getdoc("e", headers={"If-None-Match": f'"{r1}"'})
        self.assertStatus(r, 200, "a stale ETag must not give 304")
        self.assertETag(r, r2)

    def test_6_1_head_doc(self):
        r1 = self.create_doc(self.db, "h", {"v": 1})
        r = self.head(self.path("h"))
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, b"")
        self.assertETag(r, r1)
        r = self.head(self.path("h"), headers={"If-None-Match": f'"{r1}"'})
        self.assertStatus(r, 304)
        self.assertETag(r, r1)
        r = self.head(self.path("nope"))
        self.assertStatus(r, 404)
        self.assertEqual(r.raw, b"")

    def test_6_1_revs(self):
        r1 = self.create_doc(self.db, "r")
        self.assertEqual(self.getdoc("r", "revs=true").body["_revisions"],
                         {"start": 1, "ids": [rev_id(r1)]})
        r2 = self.update_doc(self.db, "r", r1)
        self.assertEqual(self.getdoc("r", "revs=true").body["_revisions"],
                         {"start": 2, "ids": [rev_id(r2), rev_id(r1)]})
        self.assertNotIn("_revisions", self.getdoc("r", "revs=false").body)
        self.assertNotIn("_revisions", self.getdoc("r").body)

    def test_6_1_revs_info_statuses(self):
        self.replicate_in(self.db, [self.path_doc("ri", 3, ["c", "b", "a"], v=1)])
        r = self.getdoc("ri", "revs_info=true")
        self.assertEqual(r.body["_revs_info"], [{"rev": "3-c", "status": "available"},
                                                {"rev": "2-b", "status": "missing"},
                                                {"rev": "1-a", "status": "missing"}])
        # A deleted internal revision: "deleted" if its body is still held, else "missing".
        self.replicate_in(self.db, [self.path_doc("rd", 2, ["b", "a"], deleted=True)])
        self.replicate_in(self.db, [self.path_doc("rd", 3, ["c", "b", "a"], v=1)])
        info = self.getdoc("rd", "revs_info=true").body["_revs_info"]
        self.assertEqual([i["rev"] for i in info], ["3-c", "2-b", "1-a"])
        self.assertEqual(info[0]["status"], "available")
        self.assertIn(info[1]["status"], ("deleted", "missing"))
        self.assertEqual(info[2]["status"], "missing")

    def test_rt_13_4_conflicts_and_deleted_conflicts(self):
        self.replicate_in(self.db, [self.path_doc("t", 2, ["aaa", "a"]),
                                    self.path_doc("t", 2, ["mmm", "a"]),
                                    self.path_doc("t", 2, ["zzz", "a"], deleted=True)])
        r = self.getdoc("t")
        self.assertEqual(r.body["_rev"], "2-mmm")
        self.assertNotIn("_conflicts", r.body)
        r = self.getdoc("t", "conflicts=true")
        self.assertEqual(r.body["_conflicts"], ["2-aaa"])
        self.assertNotIn("_deleted_conflicts", r.body)
        r = self.getdoc("t", "deleted_conflicts=true")
        self.assertEqual(r.body["_deleted_conflicts"], ["2-zzz"])
        self.assertNotIn("_conflicts", r.body)
        r = self.getdoc("t", "meta=true")
        self.assertEqual(r.body["_conflicts"], ["2-aaa"])
        self.assertEqual(r.body["_deleted_conflicts"], ["2-zzz"])
        self.assertEqual(r.body["_revs_info"], [{"rev": "2-mmm", "status": "available"},
                                                {"rev": "1-a", "status": "missing"}])

    def test_rt_13_4_leaf_order_three_way(self):
        # 3-x(D), 2-y, 2-z → order 2-z, 2-y, 3-x(D).
        self.replicate_in(self.db, [self.path_doc("o", 3, ["x", "w", "a"], deleted=True),
                                    self.path_doc("o", 2, ["y", "a"]),
                                    self.path_doc("o", 2, ["z", "a"])])
        r = self.getdoc("o", "conflicts=true&deleted_conflicts=true")
        self.assertEqual(r.body["_rev"], "2-z")
        self.assertEqual(r.body["_conflicts"], ["2-y"])
        self.assertEqual(r.body["_deleted_conflicts"], ["3-x"])

    def test_rt_13_3_deleted_leaf_loses_to_shorter_live_leaf(self):
        self.replicate_in(self.db, [self.path_doc("dl", 3, ["x", "b", "a"], deleted=True),
                                    self.path_doc("dl", 2, ["y", "a"], v="y")])
        r = self.getdoc("dl", "conflicts=true&deleted_conflicts=true")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["_rev"], "2-y")
        self.assertNotIn("_conflicts", r.body)
        self.assertEqual(r.body["_deleted_conflicts"], ["3-x"])
        self.assertEqual(self.db_info(self.db)["doc_count"], 1)

    def test_rt_13_9_replicated_tombstone_onto_conflict(self):
        self.replicate_in(self.db, [self.path_doc("tc", 2, ["b", "a"]), self.path_doc("tc", 2, ["c", "a"])])
        self.replicate_in(self.db, [self.path_doc("tc", 3, ["d", "b", "a"], deleted=True)])
        r = self.getdoc("tc", "conflicts=true&deleted_conflicts=true")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["_rev"], "2-c")
        self.assertNotIn("_conflicts", r.body)
        self.assertEqual(r.body["_deleted_conflicts"], ["3-d"])

    def test_rt_13_10_unknown_parent(self):
        self.replicate_in(self.db, [self.path_doc("up", 2, ["b", "a"])])
        self.replicate_in(self.db, [self.path_doc("up", 3, ["c", "q"], v="c")])
        r = self.getdoc("up", "revs=true&conflicts=true")
        self.assertEqual(r.body["_rev"], "3-c")
        self.assertEqual(r.body["_revisions"], {"start": 3, "ids": ["c", "q"]})
        self.assertEqual(r.body["_conflicts"], ["2-b"])
        self.assertError(self.getdoc("up", "rev=2-q"), 404, "not_found", "missing")

    def test_rt_13_16_stemming_on_write_small_limit(self):
        self.assertStatus(self.put(db_path(self.db) + "/_revs_limit", 2), 200)
        r = self.put(self.path("st", "new_edits=false"),
                     {"_rev": "5-e", "_revisions": {"start": 5, "ids": ["e", "d", "c", "b", "a"]}})
        self.assertStatus(r, 201)
        self.assertEqual(self.getdoc("st", "revs=true").body["_revisions"],
                         {"start": 5, "ids": ["e", "d"]})
        r = self.post(db_path(self.db) + "/_revs_diff", {"st": ["3-c"]})
        self.assertEqual(r.body, {"st": {"missing": ["3-c"]}})

    def test_6_1_local_seq(self):
        self.create_doc(self.db, "a")
        self.create_doc(self.db, "b")
        r = self.getdoc("a", "local_seq=true")
        self.assertIn("_local_seq", r.body)
        seq_a = seq_num(r.body["_local_seq"])
        seq_b = seq_num(self.getdoc("b", "local_seq=true").body["_local_seq"])
        self.assertLess(seq_a, seq_b)
        self.assertEqual(seq_b, self.update_seq(self.db))
        self.assertNotIn("_local_seq", self.getdoc("a").body)

    def test_6_1_rev_with_revs_returns_that_revision_path(self):
        self.replicate_in(self.db, [self.path_doc("p", 3, ["c", "b", "a"], v=3),
                                    self.path_doc("p", 2, ["x", "a"], v=2)])
        r = self.getdoc("p", "rev=2-x&revs=true")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["_rev"], "2-x")
        self.assertEqual(r.body["v"], 2)
        self.assertEqual(r.body["_revisions"], {"start": 2, "ids": ["x", "a"]})

    # ---- open_revs (§6.1, revision-trees.md §8, §13.12) ----------------------------------------

    def _forest_13_11(self, docid="f"):
        # 1: a → {b → c, d(D)}
        self.replicate_in(self.db, [self.path_doc(docid, 3, ["c", "b", "a"], v="c"),
                                    self.path_doc(docid, 2, ["d", "a"], deleted=True)])

    def test_6_1_open_revs_all_includes_deleted_leaves(self):
        self._forest_13_11()
        r = self.open_revs("f", "open_revs=all")
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertIsInstance(r.body, list)
        self.assertEqual(len(r.body), 2)
        by_rev = {}
        for item in r.body:
            self.assertEqual(list(item), ["ok"])
            by_rev[item["ok"]["_rev"]] = item["ok"]
        self.assertEqual(by_rev["3-c"], {"_id": "f", "_rev": "3-c", "v": "c"})
        self.assertEqual(by_rev["2-d"], {"_id": "f", "_rev": "2-d", "_deleted": True})

    def test_6_1_open_revs_list_with_missing(self):
        self._forest_13_11()
        r = self.open_revs("f", "open_revs=" + qjson(["9-x", "3-c"]))
        self.assertStatus(r, 200)
        self.assertEqual(r.body, [{"ok": {"_id": "f", "_rev": "3-c", "v": "c"}}, {"missing": "9-x"}])
        # 2-b is a known but body-less ancestor: missing without latest.
        r = self.open_revs("f", "open_revs=" + qjson(["2-b"]))
        self.assertEqual(r.body, [{"missing": "2-b"}])

    def test_6_1_open_revs_revs_true(self):
        self._forest_13_11()
        r = self.open_revs("f", "revs=true&open_revs=" + qjson(["3-c", "2-d"]))
        self.assertStatus(r, 200)
        got = {i["ok"]["_rev"]: i["ok"]["_revisions"] for i in r.body}
        self.assertEqual(got, {"3-c": {"start": 3, "ids": ["c", "b", "a"]},
                               "2-d": {"start": 2, "ids": ["d", "a"]}})

    def test_rt_13_12_latest(self):
        self._forest_13_11()
        r = self.open_revs("f", "latest=true&open_revs=" + qjson(["1-a"]))
        self.assertStatus(r, 200)
        self.assertEqual(sorted(i["ok"]["_rev"] for i in r.body), ["2-d", "3-c"])
        deleted = [i["ok"] for i in r.body if i["ok"]["_rev"] == "2-d"][0]
        self.assertIs(deleted.get("_deleted"), True)
        r = self.open_revs("f", "latest=true&open_revs=" + qjson(["2-b", "9-x"]))
        self.assertEqual(r.body, [{"ok": {"_id": "f", "_rev": "3-c", "v": "c"}}, {"missing": "9-x"}])
        # A leaf reachable from several requested revs is returned once.
        r = self.open_revs("f", "latest=true&open_revs=" + qjson(["2-b", "3-c"]))
        self.assertEqual([i["ok"]["_rev"] for i in r.body], ["3-c"])

    def test_6_1_open_revs_unknown_doc(self):
        self.assertError(self.open_revs("ghost", "open_revs=all"), 404, "not_found", "missing")
        r = self.open_revs("ghost", "open_revs=" + qjson(["1-a", "2-b"]))
        self.assertStatus(r, 200)
        self.assertEqual(r.body, [{"missing": "1-a"}, {"missing": "2-b"}])

    def test_6_1_open_revs_bad_values(self):
        self.create_doc(self.db, "d")
        self.assertError(self.open_revs("d", "open_revs=" + qjson(["abc"])), 400, "bad_request",
                         "Invalid rev format")
        self.assertError(self.open_revs("d", "open_revs=%5Bnot-json"), 400, "bad_request")

    # ---- _local documents (§8, revision-trees.md §11) ------------------------------------------

    def test_8_local_put_get_update_no_mvcc(self):
        p = self.path("_local/x")
        s0 = self.update_seq(self.db)
        r = self.put(p, {"a": 1})
        self.assertStatus(r, 201)
        self.assertEqual(r.body, {"ok": True, "id": "_local/x", "rev": "0-1"})
        self.assertEqual(self.get(p).body, {"_id": "_local/x", "_rev": "0-1", "a": 1})
        r = self.put(p, {"_rev": "0-1", "a": 2})
        self.assertEqual((r.status, r.body["rev"]), (201, "0-2"))
        # Stale rev: no conflict check; new rev computed from the supplied one.
        r = self.put(p, {"_rev": "0-1", "a": 3})
        self.assertEqual((r.status, r.body["rev"]), (201, "0-2"))
        r = self.put(p, {"_rev": "0-7", "a": 4})
        self.assertEqual((r.status, r.body["rev"]), (201, "0-8"))
        r = self.put(p, {"a": 5})
        self.assertEqual((r.status, r.body["rev"]), (201, "0-1"))
        self.assertEqual(self.get(p).body, {"_id": "_local/x", "_rev": "0-1", "a": 5})
        info = self.db_info(self.db)
        self.assertEqual(info["doc_count"], 0)
        self.assertEqual(seq_num(info["update_seq"]), s0, "_local writes take no seq")
        self.assertEqual(self.get(f"{db_path(self.db)}/_all_docs").body["rows"], [])

    def test_8_local_get_with_rev_404(self):
        p = self.path("_local/x")
        self.put(p, {})
        self.put(p, {"_rev": "0-1"})
        self.assertError(self.get(p + "?rev=0-1"), 404, "not_found", "missing")

    def test_8_local_delete(self):
        p = self.path("_local/x")
        self.put(p, {"a": 1})
        self.put(p, {"_rev": "0-1", "a": 2})
        r = self.delete(p + "?rev=0-2")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"ok": True, "id": "_local/x", "rev": "0-0"})
        self.assertError(self.get(p), 404, "not_found", "missing")
        self.assertError(self.delete(p), 404, "not_found", "missing")
        self.put(p, {"b": 1})
        r = self.delete(p)
        self.assertStatus(r, 200, "rev is optional on a _local DELETE")
        self.assertEqual(r.body["rev"], "0-0")
        self.assertError(self.get(self.path("_local/never")), 404, "not_found", "missing")

    def test_8_local_bad_rev_400(self):
        p = self.path("_local/x")
        for bad in ("1-abc", "0-x", "abc", "0-"):
            with self.subTest(rev=bad):
                self.assertError(self.put(p, {"_rev": bad}), 400, "bad_request", "Invalid rev format")

    def test_8_local_pouchdb_style_ids(self):
        for lid in ("_local/AbC_d.e==", "_local/x.y_z=", "_local/a/b", "_local/é ü"):
            with self.subTest(id=lid):
                r = self.put(self.path(lid), {"last_seq": 3})
                self.assertStatus(r, 201)
                self.assertEqual(r.body["id"], lid)
                r = self.get(self.path(lid))
                self.assertStatus(r, 200)
                self.assertEqual(r.body["_id"], lid)
        r = self.get(db_path(self.db) + "/_local/AbC_d.e%3D%3D")
        self.assertEqual(r.body["_id"], "_local/AbC_d.e==")

    def test_8_local_without_name_400(self):
        for path in (f"{db_path(self.db)}/_local", f"{db_path(self.db)}/_local/"):
            with self.subTest(path=path):
                self.assertError(self.get(path), 400, "bad_request", "Invalid _local document id.")
                self.assertError(self.put(path, {}), 400, "bad_request",
                                 "Invalid _local document id.")

    # ---- new_edits=false PUT (§6.2, revision-trees.md §6.2) ------------------------------------

    def test_6_2_new_edits_false_put(self):
        s0 = self.update_seq(self.db)
        doc = {"_rev": "3-c", "_revisions": {"start": 3, "ids": ["c", "b", "a"]}, "v": 1}
        r = self.put(self.path("ne", "new_edits=false"), doc)
        self.assertStatus(r, 201)
        self.assertEqual(r.body, {"ok": True, "id": "ne", "rev": "3-c"})
        s1 = self.update_seq(self.db)
        self.assertGreater(s1, s0)
        r = self.put(self.path("ne", "new_edits=false"), doc)
        self.assertStatus(r, 201)
        self.assertEqual(self.update_seq(self.db), s1, "re-sending a known rev takes no seq")
        r = self.put(self.path("ne", "new_edits=false"),
                     {"_rev": "2-b", "_revisions": {"start": 2, "ids": ["b", "a"]}, "v": 0})
        self.assertStatus(r, 201)
        self.assertEqual(self.update_seq(self.db), s1, "an internal node arriving is a no-op")
        self.assertEqual(self.getdoc("ne").body, {"_id": "ne", "_rev": "3-c", "v": 1})
        r = self.put(self.path("ne", "new_edits=false"),
                     {"_rev": "4-d", "_revisions": {"start": 4, "ids": ["d", "c"]}, "_deleted": True})
        self.assertStatus(r, 200)
        self.assertEqual(r.body["rev"], "4-d")
        self.assertError(self.getdoc("ne"), 404, "not_found", "deleted")

    def test_6_2_new_edits_false_revisions_or_rev_alone(self):
        r = self.put(self.path("only-revs", "new_edits=false"),
                     {"_revisions": {"start": 2, "ids": ["b", "a"]}})
        self.assertStatus(r, 201)
        self.assertEqual(r.body["rev"], "2-b")
        r = self.put(self.path("only-rev", "new_edits=false"), {"_rev": "5-x", "v": 1})
        self.assertStatus(r, 201)
        self.assertEqual(self.getdoc("only-rev", "revs=true").body["_revisions"],
                         {"start": 5, "ids": ["x"]})

    def test_6_2_new_edits_false_requires_rev(self):
        r = self.put(self.path("norev", "new_edits=false"), {"v": 1})
        self.assertError(r, 400, "bad_request",
                         "When `new_edits: false`, the document needs `_rev` or `_revisions` specified")
        self.assertError(self.getdoc("norev"), 404, "not_found", "missing")

    def test_rt_1_bad_revisions_400_doc_validation(self):
        cases = [({"start": "3", "ids": ["c", "b", "a"]}, "_revisions.start isn't an integer."),
                 ({"start": 3, "ids": "c"}, "_revisions.ids isn't a array."),
                 ({"start": 1, "ids": ["z" * 32]}, "RevId isn't a valid hexadecimal")]
        for revs, reason in cases:
            with self.subTest(revisions=revs):
                r = self.put(self.path("br", "new_edits=false"), {"_revisions": revs})
                self.assertError(r, 400, "doc_validation", reason)
        self.assertError(self.getdoc("br"), 404, "not_found", "missing")

    def test_rt_1_uppercase_hex_rev_canonicalised(self):
        upper = "ABCDEF0123456789ABCDEF0123456789"
        r = self.put(self.path("hex", "new_edits=false"), {"_rev": "1-" + upper, "v": 1})
        self.assertStatus(r, 201)
        self.assertEqual(self.getdoc("hex").body["_rev"], "1-" + upper.lower())
        r = self.getdoc("hex", "rev=1-" + upper)
        self.assertStatus(r, 200)
        self.assertEqual(r.body["_rev"], "1-" + upper.lower())
        self.assertError(self.getdoc("hex", "rev=1-" + "g" * 32), 400, "bad_request",
                         "Invalid rev format")

    def test_rt_1_rev_ids_may_contain_dashes(self):
        r = self.put(self.path("dash", "new_edits=false"), {"_rev": "2-x-y-z",
                                                             "_revisions": {"start": 2, "ids": ["x-y-z", "a"]}})
        self.assertStatus(r, 201)
        self.assertEqual(self.getdoc("dash").body["_rev"], "2-x-y-z")
        r = self.put(self.path("dash"), {"_rev": "2-x-y-z", "v": 1})
        self.assertStatus(r, 201)
        self.assertRev(r.body["rev"], 3)


if __name__ == "__main__":
    unittest.main()
