"""Databases: http-api.md §4 (names, PUT/DELETE/GET/HEAD, POST, _ensure_full_commit, _revs_limit)."""

import os
import re
import time
import unittest

from divan_harness import (HEX32, NodeTestCase, db_path, doc_path, escaped_db_filename, quote,
                           seq_num)

ILLEGAL_REASON = ("Name: '{}'. Only lowercase characters (a-z), digits (0-9), and any of the "
                  "characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.")
NO_DB = "Database does not exist."


class DatabaseTest(NodeTestCase):

    def unique(self, stem):
        DatabaseTest._n = getattr(DatabaseTest, "_n", 0) + 1
        return f"{stem}{DatabaseTest._n}"

    # ---- PUT /{db} (§4.2) ----------------------------------------------------------------------

    def test_4_2_create_201_ok_location(self):
        name = self.unique("create")
        r = self.put(db_path(name))
        self.assertStatus(r, 201)
        self.assertJsonReply(r)
        self.assertEqual(r.body, {"ok": True})
        self.assertRegex(r.header("Location") or "", rf"^http://[^/]+/{re.escape(name)}$")
        self.assertTrue(os.path.exists(os.path.join(self.node.data_dir, escaped_db_filename(name))),
                        f"no {escaped_db_filename(name)} in {os.listdir(self.node.data_dir)}")

    def test_4_2_create_twice_412_file_exists(self):
        name = self.unique("twice")
        self.assertStatus(self.put(db_path(name)), 201)
        self.assertError(self.put(db_path(name)), 412, "file_exists",
                         "The database could not be created, the file already exists.")
        self.assertError(self.put(db_path(name) + "/"), 412, "file_exists")

    def test_4_1_illegal_names_400_exact_reason(self):
        for name, path in [("_bad", "/_bad"), ("Db", "/Db"), ("1abc", "/1abc"),
                           ("a b", "/a%20b"), ("a.b", "/a.b"), ("aé", "/a%C3%A9"),
                           ("-x", "/-x"), ("$x", "/%24x")]:
            with self.subTest(name=name):
                r = self.put(path)
                self.assertError(r, 400, "illegal_database_name", ILLEGAL_REASON.format(name))
        listed = self.get("/_all_dbs").body
        for bad in ("Db", "1abc", "a b", "a.b", "-x", "$x"):
            self.assertNotIn(bad, listed)
        files = os.listdir(self.node.data_dir)
        self.assertNotIn(escaped_db_filename("1abc"), files)

    def test_4_1_special_characters_in_names(self):
        stems = ["a$b", "a(b)", "a+b", "a-b", "a_b", "a/b", "a9", "a/_replicator"]
        names = [self.unique("sp") + s for s in stems]
        for n in names:
            with self.subTest(name=n):
                r = self.put(db_path(n))
                self.assertStatus(r, 201)
                info = self.db_info(n)
                self.assertEqual(info["db_name"], n)
                self.assertTrue(
                    os.path.exists(os.path.join(self.node.data_dir, escaped_db_filename(n))),
                    f"expected file {escaped_db_filename(n)}")
        listed = self.get("/_all_dbs").body
        for n in names:
            self.assertIn(n, listed)

    def test_4_1_literal_plus_dollar_parens_in_path(self):
        # '+' in a path is a plus, never a space; '$', '(' and ')' may arrive unencoded.
        n = self.unique("lit")
        self.assertStatus(self.put(f"/{n}+($)"), 201)
        self.assertEqual(self.db_info(f"{n}+($)")["db_name"], f"{n}+($)")
        self.assertStatus(self.get(f"/{n}%2B%28%24%29"), 200)

    def test_4_1_slash_name_doc_round_trip(self):
        n = self.unique("slash") + "/inner"
        self.assertStatus(self.put(db_path(n)), 201)
        r = self.put(doc_path(n, "d"), {"x": 1})
        self.assertStatus(r, 201)
        self.assertEqual(self.get(doc_path(n, "d")).body["x"], 1)
        self.assertEqual(self.db_info(n)["doc_count"], 1)
        outer = n.split("/")[0]
        self.assertError(self.get(db_path(outer)), 404, "not_found", NO_DB)

    # ---- trailing slash (§ "What matters most" 4) ----------------------------------------------

    def test_4_trailing_slash_put_get_head_delete(self):
        n = self.unique("trail")
        r = self.put(db_path(n) + "/")
        self.assertStatus(r, 201)
        self.assertEqual(r.body, {"ok": True})
        for path in (db_path(n), db_path(n) + "/"):
            r = self.get(path)
            self.assertStatus(r, 200)
            self.assertEqual(r.body["db_name"], n)
            r = self.head(path)
            self.assertStatus(r, 200)
            self.assertEqual(r.raw, b"")
        r = self.delete(db_path(n) + "/")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"ok": True})
        self.assertError(self.get(db_path(n) + "/"), 404, "not_found", NO_DB)
        self.assertStatus(self.put(db_path(n)), 201)
        self.assertStatus(self.delete(db_path(n)), 200)

    # ---- GET /{db} (§4.4) ----------------------------------------------------------------------

    def test_4_4_info_fields(self):
        n = self.new_db()
        info = self.db_info(n)
        self.assertEqual(info["db_name"], n)
        seq_num(info["update_seq"])
        self.assertIsInstance(info["purge_seq"], (int, str))
        self.assertEqual(info["doc_count"], 0)
        self.assertEqual(info["doc_del_count"], 0)
        self.assertIsInstance(info["sizes"], dict)
        for k in ("file", "external", "active"):
            self.assertIsInstance(info["sizes"][k], int, k)
            self.assertGreaterEqual(info["sizes"][k], 0, k)
        self.assertIs(info["compact_running"], False)
        self.assertIsInstance(info["props"], dict)
        self.assertIsInstance(info["disk_format_version"], int)
        self.assertEqual(info["instance_start_time"], "0")
        self.assertIsInstance(info["cluster"], dict)
        for k in ("q", "n", "w", "r"):
            self.assertIsInstance(info["cluster"][k], int, k)

    def test_4_4_counts_and_update_seq(self):
        n = self.new_db()
        s0 = self.update_seq(n)
        revs = {d: self.create_doc(n, d, {"v": d}) for d in ("a", "b", "c")}
        s1 = self.update_seq(n)
        self.assertGreaterEqual(s1, s0 + 3)
        self.assertStatus(self.delete(doc_path(n, "c") + "?rev=" + revs["c"]), 200)
        self.create_doc(n, "_design/dd", {"views": {}})
        self.assertStatus(self.put(doc_path(n, "_local/l"), {"x": 1}), 201)
        info = self.db_info(n)
        self.assertEqual(info["doc_count"], 3, "a, b and the design doc; _local excluded")
        self.assertEqual(info["doc_del_count"], 1)
        s2 = seq_num(info["update_seq"])
        self.assertGreaterEqual(s2, s1 + 2)
        # _local writes take no seq (revision-trees.md §11).
        self.assertStatus(self.put(doc_path(n, "_local/l2"), {}), 201)
        self.assertEqual(self.update_seq(n), s2)

    def test_4_4_missing_db_404(self):
        self.assertError(self.get("/no_such_db_x"), 404, "not_found", NO_DB)
        self.assertError(self.get("/no_such_db_x/"), 404, "not_found", NO_DB)
        r = self.head("/no_such_db_x")
        self.assertStatus(r, 404)
        self.assertEqual(r.raw, b"")
        self.assertError(self.delete("/no_such_db_x"), 404, "not_found", NO_DB)
        # Illegal but nonexistent names: GET/DELETE are 404, not 400 (§4.1).
        self.assertError(self.get("/No_Such"), 404, "not_found", NO_DB)
        self.assertError(self.delete("/No_Such"), 404, "not_found", NO_DB)

    def test_4_missing_db_for_doc_and_bulk_endpoints(self):
        self.assertError(self.get("/no_such_db_y/doc"), 404, "not_found", NO_DB)
        self.assertError(self.put("/no_such_db_y/doc", {}), 404, "not_found", NO_DB)
        self.assertError(self.post("/no_such_db_y", {}), 404, "not_found", NO_DB)
        self.assertError(self.post("/no_such_db_y/_bulk_docs", {"docs": []}), 404, "not_found", NO_DB)
        self.assertError(self.get("/no_such_db_y/_all_docs"), 404, "not_found", NO_DB)
        self.assertError(self.post("/no_such_db_y/_ensure_full_commit", b"",
                                   content_type="application/json"), 404, "not_found", NO_DB)
        self.assertError(self.get("/no_such_db_y/_revs_limit"), 404, "not_found", NO_DB)

    def test_4_2_q_and_n_params(self):
        n = self.unique("qn")
        self.assertStatus(self.put(db_path(n) + "?q=1&n=1"), 201)
        for bad in ("0", "abc", "-2"):
            with self.subTest(q=bad):
                self.assertError(self.put(db_path(self.unique("qbad")) + "?q=" + bad), 400,
                                 "bad_request", "The `q` value should be a positive integer.")
                self.assertError(self.put(db_path(self.unique("nbad")) + "?n=" + bad), 400,
                                 "bad_request", "The `n` value should be a positive integer.")
        listed = self.get("/_all_dbs").body
        self.assertFalse([d for d in listed if d.startswith(("qbad", "nbad"))], listed)

    # ---- _security (§4.8) ----------------------------------------------------------------------

    def test_4_8_security_default_put_get(self):
        n = self.new_db()
        r = self.get(db_path(n) + "/_security")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}})
        sec = {"admins": {"names": ["boss"], "roles": []}, "members": {"names": [], "roles": ["r"]}}
        r = self.put(db_path(n) + "/_security", sec)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"ok": True})
        self.assertEqual(self.get(db_path(n) + "/_security").body, sec)
        s0 = self.update_seq(n)
        self.assertStatus(self.put(db_path(n) + "/_security", {"admins": {}, "members": {}}), 200)
        self.assertEqual(self.update_seq(n), s0, "_security is not versioned: no seq")

    def test_4_8_security_bad_values_rejected(self):
        n = self.new_db()
        # CouchDB answers 500 unknown_error with the same reason; a 400 is the honest status
        # (http-api.md §4.8 allows it), so only that is right here.
        for bad, field in (({"members": {"names": "bob"}}, "names"),
                           ({"admins": {"roles": [1]}}, "roles")):
            with self.subTest(body=bad):
                r = self.put(db_path(n) + "/_security", bad)
                self.assertError(r, 400, "bad_request", f"{field} must be a JSON list of strings")
        self.assertEqual(self.get(db_path(n) + "/_security").body,
                         {"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}})

    def test_4_8_security_other_methods_405(self):
        n = self.new_db()
        self.assertMethodNotAllowed(self.post(db_path(n) + "/_security", {}), "PUT,GET")

    # ---- POST /{db}/_compact, _view_cleanup (§14) ----------------------------------------------

    def test_14_compact_and_view_cleanup_202(self):
        n = self.new_db()
        self.create_doc(n, "a")
        for ep in ("_compact", "_view_cleanup"):
            with self.subTest(endpoint=ep):
                r = self.post(f"{db_path(n)}/{ep}", b"", content_type="application/json")
                self.assertStatus(r, 202)
                self.assertEqual(r.body, {"ok": True})
        # Compaction runs in the background; PouchDB polls the db info until it reports false.
        deadline = time.monotonic() + 10
        while self.db_info(n)["compact_running"] and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertIs(self.db_info(n)["compact_running"], False)
        self.assertStatus(self.get(doc_path(n, "a")), 200)

    # ---- DELETE /{db} (§4.3) -------------------------------------------------------------------

    def test_4_3_delete(self):
        n = self.new_db()
        self.create_doc(n, "x")
        fname = os.path.join(self.node.data_dir, escaped_db_filename(n))
        self.assertTrue(os.path.exists(fname))
        r = self.delete(db_path(n))
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"ok": True})
        self.assertError(self.get(db_path(n)), 404, "not_found", NO_DB)
        self.assertError(self.get(doc_path(n, "x")), 404, "not_found", NO_DB)
        self.assertNotIn(n, self.get("/_all_dbs").body)
        self.assertFalse(os.path.exists(fname), "database file still present after DELETE")
        # Re-creating gives an empty database.
        self.assertStatus(self.put(db_path(n)), 201)
        self.assertEqual(self.db_info(n)["doc_count"], 0)
        self.assertError(self.get(doc_path(n, "x")), 404, "not_found", "missing")

    def test_4_3_delete_with_rev_is_400(self):
        n = self.new_db()
        self.assertError(
            self.delete(db_path(n) + "?rev=1-a"), 400, "bad_request",
            "You tried to DELETE a database with a ?=rev parameter. "
            "Did you mean to DELETE a document instead?")
        self.assertStatus(self.get(db_path(n)), 200)

    def test_1_3_patch_db_is_405(self):
        n = self.new_db()
        self.assertMethodNotAllowed(self.req("PATCH", db_path(n), {}), "DELETE,GET,HEAD,POST")

    # ---- POST /{db} (§4.5) ---------------------------------------------------------------------

    def test_4_5_post_generates_id(self):
        n = self.new_db()
        r = self.post(db_path(n), {"v": 1})
        self.assertStatus(r, 201)
        self.assertEqual(set(r.body), {"ok", "id", "rev"})
        self.assertIs(r.body["ok"], True)
        docid, rev = r.body["id"], r.body["rev"]
        self.assertRegex(docid, HEX32)
        self.assertRev(rev, 1)
        self.assertETag(r, rev)
        self.assertRegex(r.header("Location") or "", rf"^http://[^/]+/{re.escape(n)}/{docid}$")
        self.assertEqual(self.get(doc_path(n, docid)).body, {"_id": docid, "_rev": rev, "v": 1})
        r2 = self.post(db_path(n) + "/", {"v": 2})
        self.assertStatus(r2, 201)
        self.assertNotEqual(r2.body["id"], docid)

    def test_4_5_post_with_id_and_conflict(self):
        n = self.new_db()
        r = self.post(db_path(n), {"_id": "given", "v": 1})
        self.assertStatus(r, 201)
        self.assertEqual(r.body["id"], "given")
        self.assertError(self.post(db_path(n), {"_id": "given", "v": 2}), 409, "conflict",
                         "Document update conflict.")

    def test_1_1_post_db_wrong_content_type_415(self):
        n = self.new_db()
        r = self.post(db_path(n), b'{"v":1}', content_type="text/plain")
        self.assertError(r, 415, "bad_content_type", "Content-Type must be application/json")
        self.assertEqual(self.db_info(n)["doc_count"], 0)

    def test_1_1_content_type_with_charset_accepted(self):
        n = self.new_db()
        r = self.post(db_path(n), b'{"v":1}', content_type="application/json; charset=utf-8")
        self.assertStatus(r, 201)

    def test_4_5_batch_ok_202(self):
        n = self.new_db()
        r = self.post(db_path(n) + "?batch=ok", {"_id": "b1", "v": 1})
        self.assertStatus(r, 202)
        self.assertEqual(r.body, {"ok": True, "id": "b1"})
        r = self.put(doc_path(n, "b2") + "?batch=ok", {"v": 2})
        self.assertStatus(r, 202)
        self.assertEqual(r.body, {"ok": True, "id": "b2"})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if all(self.get(doc_path(n, d)).status == 200 for d in ("b1", "b2")):
                break
            time.sleep(0.05)
        self.assertEqual(self.get(doc_path(n, "b1")).body["v"], 1)
        self.assertEqual(self.get(doc_path(n, "b2")).body["v"], 2)

    # ---- _ensure_full_commit (§4.6) ------------------------------------------------------------

    def test_4_6_ensure_full_commit(self):
        n = self.new_db()
        self.create_doc(n, "a")
        r = self.post(db_path(n) + "/_ensure_full_commit", b"", content_type="application/json")
        self.assertStatus(r, 201)
        self.assertJsonReply(r)
        self.assertEqual(r.body, {"ok": True, "instance_start_time": "0"})
        self.assertEqual(r.body["instance_start_time"], self.db_info(n)["instance_start_time"])

    def test_4_6_ensure_full_commit_get_405(self):
        n = self.new_db()
        self.assertMethodNotAllowed(self.get(db_path(n) + "/_ensure_full_commit"), "POST")

    # ---- _revs_limit (§4.7, revision-trees.md §7) ----------------------------------------------

    def test_4_7_revs_limit_default_and_set(self):
        n = self.new_db()
        r = self.get(db_path(n) + "/_revs_limit")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, 1000)
        r = self.put(db_path(n) + "/_revs_limit", 5)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"ok": True})
        self.assertEqual(self.get(db_path(n) + "/_revs_limit").body, 5)

    def test_4_7_revs_limit_bad_values_400(self):
        n = self.new_db()
        for bad in (b"0", b"-1", b'"5"', b"1.5", b"{}", b"[]", b"null", b"true", b"abc", b""):
            with self.subTest(body=bad):
                r = self.put(db_path(n) + "/_revs_limit", bad, content_type="application/json")
                self.assertError(r, 400, "bad_request")
        self.assertEqual(self.get(db_path(n) + "/_revs_limit").body, 1000)

    def test_4_7_revs_limit_stems_replicated_history(self):
        n = self.new_db()
        self.assertStatus(self.put(db_path(n) + "/_revs_limit", 5), 200)
        ids = [f"r{i}" for i in range(10, 0, -1)]  # 10-r10 … 1-r1, newest first
        doc = {"_id": "deep", "_rev": "10-r10", "_revisions": {"start": 10, "ids": ids}, "v": 1}
        r = self.put(doc_path(n, "deep") + "?new_edits=false", doc)
        self.assertStatus(r, 201)
        r = self.get(doc_path(n, "deep") + "?revs=true")
        self.assertStatus(r, 200)
        revs = r.body["_revisions"]
        self.assertEqual(revs["start"], 10)
        self.assertLessEqual(len(revs["ids"]), 5)
        self.assertEqual(revs["ids"], ids[:len(revs["ids"])])
        # The stemmed-away revisions are forgotten (revision-trees.md §7).
        r = self.post(db_path(n) + "/_revs_diff", {"deep": ["1-r1", "10-r10"]})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"deep": {"missing": ["1-r1"]}})

    def test_rt_7_lower_limit_truncates_output_then_stems_on_next_write(self):
        n = self.new_db()
        ids = [f"r{i}" for i in range(10, 0, -1)]
        r = self.put(doc_path(n, "deep") + "?new_edits=false",
                     {"_rev": "10-r10", "_revisions": {"start": 10, "ids": ids}})
        self.assertStatus(r, 201)
        self.assertStatus(self.put(db_path(n) + "/_revs_limit", 3), 200)
        # Output is truncated at once (revision-trees.md §7) …
        self.assertEqual(self.get(doc_path(n, "deep") + "?revs=true").body["_revisions"],
                         {"start": 10, "ids": ids[:3]})
        # … but the tree is only stemmed by the doc's next write.
        self.assertEqual(self.post(db_path(n) + "/_revs_diff", {"deep": ["1-r1"]}).body, {})
        new = self.update_doc(n, "deep", "10-r10", {"v": 11})
        self.assertEqual(self.post(db_path(n) + "/_revs_diff", {"deep": ["1-r1", "9-r9"]}).body,
                         {"deep": {"missing": ["1-r1"]}})
        revs = self.get(doc_path(n, "deep") + "?revs=true").body["_revisions"]
        self.assertEqual(revs, {"start": 11, "ids": [new.split("-", 1)[1], "r10", "r9"]})

    def test_4_7_revs_limit_post_is_405(self):
        n = self.new_db()
        r = self.post(db_path(n) + "/_revs_limit", 5)
        self.assertError(r, 405, "method_not_allowed")


if __name__ == "__main__":
    unittest.main()
