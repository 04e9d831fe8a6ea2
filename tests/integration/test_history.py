"""Revision history until compaction, POST /{db}/_compact, database sizes, POST /{db}/_purge and
/{db}/_purged_infos_limit, as CouchDB 3 behaves:

- every revision body written to a node stays readable (GET ?rev=, revs_info, open_revs, _bulk_get,
  attachments of older revisions, atts_since) until the database is compacted; afterwards only the
  leaves (conflicts and deleted leaves included) have bodies and the rest answer `missing`;
- _compact runs in the background (compact_running, /_active_tasks database_compaction) and keeps
  every document, seq and count; sizes.external stays the leaves' bytes, sizes.file shrinks;
- _purge removes leaves (201, purge_seq null), a doc with no leaf left is gone from GET, _all_docs,
  _changes and doc_count; purge_seq counts purged docs and survives restarts; a purged revision
  does not come back by replication (Divan records purges and _revs_diff does not list them).

Every node here runs with --auto-compact 0 (except the auto-compaction tests) so that nothing but
the test compacts; every request carries the server admin's credentials unless a test says
otherwise. Every wait is bounded."""

import json
import os
import random
import threading
import time
import unittest

from divan_harness import (Node, NodeTestCase, db_path, doc_path, qjson, rev_id, seq_num,
                           test_seed)
from replication_harness import AdminNode, NodesTestCase, basic_auth, wait_until
from test_attachments import inline, inline_entry, stub_entry

JSON_ACCEPT = {"Accept": "application/json"}
COMPACT_WAIT = 10.0      # seconds a compaction of any database in this module may take
MISSING = {"error": "not_found", "reason": "missing"}
NOT_SERVER_OR_DB_ADMIN = "You are not a server or db admin."   # chttpd_auth_request (401)
NOT_DB_ADMIN = "You are not a db or server admin."             # couch_db:check_is_admin
NOT_AUTHORIZED = "You are not authorized to access this db."
BAD_LIMIT = "`purged_infos_limit` must be positive integer"
NO_DB = "Database does not exist."
NO_AUTO_COMPACT = ("--auto-compact", "0")


class HistoryTestCase(NodeTestCase):
    """NodeTestCase on a node with a server admin (every request carries its credentials, as
    production runs) and no automatic compaction."""

    node_args = NO_AUTO_COMPACT

    @classmethod
    def setUpClass(cls):
        super(NodeTestCase, cls).setUpClass()
        cls.node = AdminNode(extra_args=cls.node_args).start()
        cls.addClassCleanup(cls.node.cleanup)

    # -- requests without the admin's credentials --

    def as_user(self, method, path, body=None, auth=None):
        """A request carrying `auth` (basic_auth(...)) or no credentials at all (auth=None)."""
        return Node.request(self.node, method, path, body=body, headers=auth)

    def make_member_db(self, member="bob", db_admin="dba"):
        """A database whose members are `member` and whose db admin is `db_admin`; both users
        exist in _users with password "<name>-pw"."""
        for name in (member, db_admin):
            path = doc_path("_users", f"org.couchdb.user:{name}")
            if self.get(path).status == 404:
                r = self.put(path, {"name": name, "password": f"{name}-pw", "roles": [],
                                    "type": "user"})
                self.assertStatus(r, 201)
        db = self.new_db()
        r = self.put(db_path(db) + "/_security", {"admins": {"names": [db_admin], "roles": []},
                                                  "members": {"names": [member], "roles": []}})
        self.assertStatus(r, 200)
        return db

    # -- compaction --

    def start_compaction(self, db):
        r = self.post(db_path(db) + "/_compact", {})
        self.assertStatus(r, 202)
        self.assertJsonReply(r)
        self.assertEqual(r.body, {"ok": True})

    def wait_compacted(self, db, timeout=COMPACT_WAIT):
        """Polls GET /{db} until compact_running is false; returns that db info."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.db_info(db)
            self.assertIsInstance(info.get("compact_running"), bool, info)
            if not info["compact_running"]:
                return info
            if time.monotonic() >= deadline:
                self.fail(f"compaction of {db} still running after {timeout}s: {info}")
            time.sleep(0.02)

    def compact(self, db):
        self.start_compaction(db)
        return self.wait_compacted(db)

    # -- reads --

    def doc_get(self, db, docid, query=""):
        """GET a document as JSON (with attachments=true and no Accept header the answer would
        be multipart/related)."""
        return self.get(doc_path(db, docid) + (("?" + query) if query else ""),
                        headers=JSON_ACCEPT)

    def open_revs(self, db, docid, revs, extra=""):
        """open_revs=<list> (or "all") answered as a JSON array."""
        value = "all" if revs == "all" else qjson(revs)
        r = self.get(doc_path(db, docid) + "?open_revs=" + value + extra, headers=JSON_ACCEPT)
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertIsInstance(r.body, list, r)
        return r.body

    def bulk_get(self, db, items, query=""):
        r = self.post(db_path(db) + "/_bulk_get" + (("?" + query) if query else ""),
                      {"docs": items})
        self.assertStatus(r, 200)
        self.assertEqual(list(r.body), ["results"], r)
        return r.body["results"]

    def revs_info(self, db, docid):
        r = self.doc_get(db, docid, "revs_info=true")
        self.assertStatus(r, 200)
        return [(i["rev"], i["status"]) for i in r.body["_revs_info"]]

    def purge(self, db, body):
        r = self.post(db_path(db) + "/_purge", body)
        self.assertStatus(r, 201)
        self.assertJsonReply(r)
        self.assertEqual(set(r.body), {"purge_seq", "purged"}, r)
        self.assertIsNone(r.body["purge_seq"], "purge_seq is null in a _purge reply (CouchDB 3)")
        return r.body["purged"]

    def changes(self, db, query=""):
        r = self.get(db_path(db) + "/_changes" + (("?" + query) if query else ""))
        self.assertStatus(r, 200)
        return r.body

    def all_docs(self, db):
        r = self.get(db_path(db) + "/_all_docs")
        self.assertStatus(r, 200)
        return {row["id"]: row["value"]["rev"] for row in r.body["rows"]}

    def assertMissing(self, resp):
        self.assertError(resp, 404, "not_found", "missing")


# ---- history until compaction ------------------------------------------------------------------

class HistoryTest(HistoryTestCase):

    def test_five_revisions_with_attachments_readable_until_compaction(self):
        """The issue's test: 5 revisions, each changing an attachment (a second one written at
        rev 1 and kept as a stub); every revision is read back every way; after compaction only
        the leaf answers and the rest are missing."""
        db = self.new_db()
        fixed = bytes(range(256)) * 4
        datas = [(f"generation {k} of the changing attachment\n" * (k * 7)).encode()
                 for k in range(1, 6)]
        revs = []
        for k, data in enumerate(datas, 1):
            body = {"gen": k, "tag": "x" * (100 * k), "_attachments": {
                "changing.txt": inline(data, "text/plain"),
                "fixed.bin": (inline(fixed, "application/octet-stream") if k == 1
                              else {"stub": True})}}
            if revs:
                body["_rev"] = revs[-1]
            r = self.put(doc_path(db, "h"), body)
            self.assertStatus(r, 201)
            revs.append(r.body["rev"])
        for k, rev in enumerate(revs, 1):
            self.assertRev(rev, k)

        def expected(k, inline_changing=False, inline_fixed=False):
            data = datas[k - 1]
            return {"_id": "h", "_rev": revs[k - 1], "gen": k, "tag": "x" * (100 * k),
                    "_attachments": {
                        "changing.txt": (inline_entry if inline_changing else stub_entry)(
                            data, "text/plain", k),
                        "fixed.bin": (inline_entry if inline_fixed else stub_entry)(
                            fixed, "application/octet-stream", 1)}}

        # ---- before compaction: every revision answers ----
        for k, rev in enumerate(revs, 1):
            with self.subTest(rev=k, phase="before compaction"):
                r = self.doc_get(db, "h", "rev=" + rev)
                self.assertStatus(r, 200)
                self.assertEqual(r.body, expected(k))
                r = self.doc_get(db, "h", f"rev={rev}&attachments=true")
                self.assertStatus(r, 200)
                self.assertEqual(r.body, expected(k, True, True))
                r = self.doc_get(db, "h", f"rev={rev}&revs=true")
                self.assertEqual(r.body["_revisions"],
                                 {"start": k, "ids": [rev_id(x) for x in reversed(revs[:k])]})
                self.assertEqual(self.open_revs(db, "h", [rev]), [{"ok": expected(k)}])
                self.assertEqual(self.open_revs(db, "h", [rev], "&attachments=true"),
                                 [{"ok": expected(k, True, True)}])
                r = self.get(doc_path(db, "h") + "/changing.txt?rev=" + rev)
                self.assertStatus(r, 200)
                self.assertEqual(r.raw, datas[k - 1])
                self.assertTrue(r.content_type().startswith("text/plain"), r)
                r = self.get(doc_path(db, "h") + "/fixed.bin?rev=" + rev)
                self.assertStatus(r, 200)
                self.assertEqual(r.raw, fixed)
        self.assertEqual(self.open_revs(db, "h", revs), [{"ok": expected(k)} for k in range(1, 6)])
        results = self.bulk_get(db, [{"id": "h", "rev": rev} for rev in revs])
        self.assertEqual(results, [{"id": "h", "docs": [{"ok": expected(k)}]}
                                   for k in range(1, 6)])
        results = self.bulk_get(db, [{"id": "h", "rev": revs[1]}], "attachments=true")
        self.assertEqual(results, [{"id": "h", "docs": [{"ok": expected(2, True, True)}]}])
        self.assertEqual(self.revs_info(db, "h"),
                         [(rev, "available") for rev in reversed(revs)])
        # atts_since on an older revision: attachments changed after the named ancestor inline.
        r = self.doc_get(db, "h", f"rev={revs[3]}&atts_since=" + qjson([revs[1]]))
        self.assertStatus(r, 200)
        self.assertEqual(r.body, expected(4, inline_changing=True))
        r = self.doc_get(db, "h", f"rev={revs[3]}&atts_since=" + qjson([revs[3]]))
        self.assertEqual(r.body, expected(4))
        r = self.doc_get(db, "h", f"rev={revs[2]}&atts_since=" + qjson(["1-" + "0" * 32]))
        self.assertEqual(r.body, expected(3, True, True), "an unknown ancestor sends everything")

        info_before = self.db_info(db)
        info = self.compact(db)
        self.assertEqual(seq_num(info["update_seq"]), seq_num(info_before["update_seq"]))
        self.assertEqual(info["doc_count"], 1)

        # ---- after compaction: only the leaf answers ----
        leaf = revs[-1]
        for k, rev in enumerate(revs[:-1], 1):
            with self.subTest(rev=k, phase="after compaction"):
                self.assertMissing(self.doc_get(db, "h", "rev=" + rev))
                self.assertMissing(self.doc_get(db, "h", f"rev={rev}&attachments=true"))
                self.assertEqual(self.open_revs(db, "h", [rev]), [{"missing": rev}])
                self.assertMissing(self.get(doc_path(db, "h") + "/changing.txt?rev=" + rev))
                self.assertMissing(self.get(doc_path(db, "h") + "/fixed.bin?rev=" + rev))
        r = self.doc_get(db, "h", "rev=" + leaf)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, expected(5))
        self.assertEqual(self.doc_get(db, "h").body, expected(5))
        self.assertEqual(self.doc_get(db, "h", "attachments=true").body, expected(5, True, True))
        r = self.doc_get(db, "h", "revs=true")
        self.assertEqual(r.body["_revisions"],
                         {"start": 5, "ids": [rev_id(x) for x in reversed(revs)]},
                         "compaction drops bodies, never the revision ids of the path")
        # Found revisions first, then the missing ones, each in the order asked (couch_db).
        self.assertEqual(self.open_revs(db, "h", revs),
                         [{"ok": expected(5)}] + [{"missing": rev} for rev in revs[:-1]])
        self.assertEqual(self.open_revs(db, "h", "all"), [{"ok": expected(5)}])
        results = self.bulk_get(db, [{"id": "h", "rev": rev} for rev in revs])
        self.assertEqual(results, [{"id": "h", "docs": [{"error": {
            "id": "h", "rev": rev, "error": "not_found", "reason": "missing"}}]}
            for rev in revs[:-1]] + [{"id": "h", "docs": [{"ok": expected(5)}]}])
        self.assertEqual(self.revs_info(db, "h"),
                         [(leaf, "available")] + [(rev, "missing") for rev in reversed(revs[:-1])])
        r = self.get(doc_path(db, "h") + "/changing.txt")
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, datas[-1])
        r = self.get(doc_path(db, "h") + "/fixed.bin?rev=" + leaf)
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, fixed, "an attachment shared with compacted revisions survives")
        # atts_since still knows the compacted ancestors by id.
        r = self.doc_get(db, "h", "atts_since=" + qjson([revs[1]]))
        self.assertEqual(r.body, expected(5, inline_changing=True))
        # latest=true from a compacted ancestor still reaches the leaf.
        self.assertEqual(self.open_revs(db, "h", [revs[0]], "&latest=true"),
                         [{"ok": expected(5)}])

        # History starts again after compaction: the new revision's parent stays readable.
        r = self.put(doc_path(db, "h"), {"_rev": leaf, "gen": 6,
                                         "_attachments": {"fixed.bin": {"stub": True}}})
        self.assertStatus(r, 201)
        r6 = r.body["rev"]
        r = self.doc_get(db, "h", "rev=" + leaf)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, expected(5))
        self.assertEqual(self.revs_info(db, "h")[:3],
                         [(r6, "available"), (leaf, "available"), (revs[3], "missing")])

    def test_conflict_and_deleted_leaves_survive_compaction(self):
        db = self.new_db()
        r1 = self.create_doc(db, "c", {"v": 1})
        r2 = self.update_doc(db, "c", r1, {"v": 2})
        other = "2-" + "1" * 32
        gone = "2-" + "2" * 32
        self.replicate_in(db, [
            self.path_doc("c", 2, ["1" * 32, rev_id(r1)], v="conflict"),
            self.path_doc("c", 2, ["2" * 32, rev_id(r1)], deleted=True)])
        live = sorted([r2, other], key=lambda rv: rev_id(rv))
        winner, loser = live[1], live[0]
        bodies = {r2: {"_id": "c", "_rev": r2, "v": 2},
                  other: {"_id": "c", "_rev": other, "v": "conflict"},
                  gone: {"_id": "c", "_rev": gone, "_deleted": True}}
        # A deleted document: its tombstone is a leaf, its first revision is not.
        t1 = self.create_doc(db, "t", {"v": "t"})
        r = self.delete(doc_path(db, "t") + "?rev=" + t1)
        self.assertStatus(r, 200)
        t2 = r.body["rev"]

        full = self.doc_get(db, "c", "conflicts=true&deleted_conflicts=true").body
        self.assertEqual(full["_rev"], winner)
        self.assertEqual(full["_conflicts"], [loser])
        self.assertEqual(full["_deleted_conflicts"], [gone])
        self.assertEqual(self.doc_get(db, "c", "rev=" + r1).body, {"_id": "c", "_rev": r1, "v": 1})
        self.assertEqual(self.doc_get(db, "t", "rev=" + t1).body,
                         {"_id": "t", "_rev": t1, "v": "t"})

        self.compact(db)

        self.assertMissing(self.doc_get(db, "c", "rev=" + r1))
        self.assertMissing(self.doc_get(db, "t", "rev=" + t1))
        for rev, body in bodies.items():
            with self.subTest(leaf=rev):
                r = self.doc_get(db, "c", "rev=" + rev)
                self.assertStatus(r, 200)
                self.assertEqual(r.body, body)
        self.assertEqual(self.doc_get(db, "c", "conflicts=true&deleted_conflicts=true").body, full)
        got = {item["ok"]["_rev"]: item["ok"] for item in self.open_revs(db, "c", "all")}
        self.assertEqual(got, bodies)
        self.assertEqual(self.open_revs(db, "c", [r1, other]),
                         [{"ok": bodies[other]}, {"missing": r1}])
        results = self.bulk_get(db, [{"id": "c", "rev": r1}, {"id": "c", "rev": loser},
                                     {"id": "c", "rev": gone}])
        self.assertEqual(results, [
            {"id": "c", "docs": [{"error": {"id": "c", "rev": r1, "error": "not_found",
                                            "reason": "missing"}}]},
            {"id": "c", "docs": [{"ok": bodies[loser]}]},
            {"id": "c", "docs": [{"ok": bodies[gone]}]}])
        self.assertEqual(self.revs_info(db, "c"), [(winner, "available"), (r1, "missing")])
        self.assertError(self.doc_get(db, "t"), 404, "not_found", "deleted")
        r = self.doc_get(db, "t", "rev=" + t2)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"_id": "t", "_rev": t2, "_deleted": True})
        info = self.db_info(db)
        self.assertEqual((info["doc_count"], info["doc_del_count"]), (1, 1))

    def test_deleted_internal_revision_is_deleted_in_revs_info_until_compaction(self):
        db = self.new_db()
        r1 = self.create_doc(db, "z", {"v": 1})
        r = self.delete(doc_path(db, "z") + "?rev=" + r1)
        self.assertStatus(r, 200)
        r2 = r.body["rev"]
        r3 = self.create_doc(db, "z", {"v": 3})  # recreated on top of the tombstone
        self.assertRev(r3, 3)
        self.assertEqual(self.revs_info(db, "z"),
                         [(r3, "available"), (r2, "deleted"), (r1, "available")])
        self.assertEqual(self.doc_get(db, "z", "rev=" + r2).body,
                         {"_id": "z", "_rev": r2, "_deleted": True})
        self.assertEqual(self.open_revs(db, "z", [r1, r2]),
                         [{"ok": {"_id": "z", "_rev": r1, "v": 1}},
                          {"ok": {"_id": "z", "_rev": r2, "_deleted": True}}])
        self.compact(db)
        self.assertEqual(self.revs_info(db, "z"),
                         [(r3, "available"), (r2, "missing"), (r1, "missing")])
        self.assertMissing(self.doc_get(db, "z", "rev=" + r2))
        self.assertEqual(self.doc_get(db, "z").body, {"_id": "z", "_rev": r3, "v": 3})

    def test_replicated_ancestors_without_body_stay_missing(self):
        db = self.new_db()
        self.replicate_in(db, [self.path_doc("p", 3, ["c" * 32, "b" * 32, "a" * 32], v="c")])
        c3, b2, a1 = "3-" + "c" * 32, "2-" + "b" * 32, "1-" + "a" * 32
        self.assertEqual(self.revs_info(db, "p"),
                         [(c3, "available"), (b2, "missing"), (a1, "missing")])
        self.assertMissing(self.doc_get(db, "p", "rev=" + b2))
        r4 = self.update_doc(db, "p", c3, {"v": 4})
        self.assertEqual(self.revs_info(db, "p"),
                         [(r4, "available"), (c3, "available"), (b2, "missing"),
                          (a1, "missing")])
        self.assertEqual(self.doc_get(db, "p", "rev=" + c3).body,
                         {"_id": "p", "_rev": c3, "v": "c"})
        self.assertEqual(self.open_revs(db, "p", [b2, c3]),
                         [{"ok": {"_id": "p", "_rev": c3, "v": "c"}}, {"missing": b2}])
        # A replicated write that adds to the path keeps the bodies the node already holds.
        self.replicate_in(db, [self.path_doc("p", 5, ["e" * 32, rev_id(r4), "c" * 32],
                                             v="e")])
        self.assertEqual(self.revs_info(db, "p")[:3],
                         [("5-" + "e" * 32, "available"), (r4, "available"), (c3, "available")])
        self.compact(db)
        self.assertEqual(self.revs_info(db, "p"),
                         [("5-" + "e" * 32, "available"), (r4, "missing"), (c3, "missing"),
                          (b2, "missing"), (a1, "missing")])

    def test_compaction_keeps_documents_seqs_counts_and_local_docs(self):
        db = self.new_db()
        revs = {}
        for i in range(40):
            revs[f"d{i:02}"] = self.create_doc(db, f"d{i:02}", {"i": i, "pad": "p" * 300})
        for i in range(0, 40, 2):
            revs[f"d{i:02}"] = self.update_doc(db, f"d{i:02}", revs[f"d{i:02}"],
                                               {"i": i, "second": True})
        for i in range(0, 40, 5):
            r = self.delete(doc_path(db, f"d{i:02}") + "?rev=" + revs[f"d{i:02}"])
            self.assertStatus(r, 200)
        self.assertStatus(self.put(doc_path(db, "_local/keep"), {"x": 1}), 201)
        self.assertEqual(self.purge(db, {"d01": [revs["d01"]]}), {"d01": [revs["d01"]]})
        before = self.db_info(db)
        docs_before = self.get(db_path(db) + "/_all_docs?include_docs=true").body
        changes_before = self.changes(db, "style=all_docs")
        self.assertEqual(before["purge_seq"], 1)

        after = self.compact(db)

        for key in ("update_seq", "purge_seq", "doc_count", "doc_del_count", "db_name"):
            self.assertEqual(after[key], before[key], key)
        self.assertEqual(after["sizes"]["external"], before["sizes"]["external"])
        self.assertEqual(self.get(db_path(db) + "/_all_docs?include_docs=true").body, docs_before)
        self.assertEqual(self.changes(db, "style=all_docs"), changes_before)
        self.assertEqual(self.get(doc_path(db, "_local/keep")).body,
                         {"_id": "_local/keep", "_rev": "0-1", "x": 1})
        self.assertMissing(self.doc_get(db, "d01"))
        # A second compaction of an already compact database changes nothing either.
        again = self.compact(db)
        for key in ("update_seq", "purge_seq", "doc_count", "doc_del_count"):
            self.assertEqual(again[key], before[key], key)
        self.assertEqual(self.get(db_path(db) + "/_all_docs?include_docs=true").body, docs_before)

    def test_writes_during_compaction_are_kept(self):
        db = self.new_db()
        rng = random.Random(test_seed())
        n = 400
        revs, first = {}, {}
        for gen in range(4):  # 400 docs × 4 revisions × 3 KB: a compaction of some 100 ms
            docs = []
            for i in range(n):
                d = {"_id": f"w{i:03}", "gen": gen, "pad": "w" * 3000}
                if gen:
                    d["_rev"] = revs[d["_id"]]
                docs.append(d)
            r = self.post(db_path(db) + "/_bulk_docs", {"docs": docs})
            self.assertStatus(r, 201)
            for res in r.body:
                self.assertTrue(res.get("ok"), res)
                revs[res["id"]] = res["rev"]
                first.setdefault(res["id"], res["rev"])
        bodies = {docid: 3 for docid in revs}
        self.start_compaction(db)
        touched = set()
        writes_while_running = 0
        deadline = time.monotonic() + COMPACT_WAIT
        for step in range(1000):  # bounded in count and in time
            if time.monotonic() >= deadline:
                break
            running = self.db_info(db)["compact_running"]
            if not running and step >= 20:
                break
            docid = f"w{rng.randrange(n):03}"
            gen = bodies[docid] + 1
            r = self.put(doc_path(db, docid), {"_rev": revs[docid], "gen": gen, "pad": "u"})
            self.assertStatus(r, 201)
            revs[docid], bodies[docid] = r.body["rev"], gen
            touched.add(docid)
            writes_while_running += bool(running)
        self.wait_compacted(db)
        print(f"[divan-it] {writes_while_running} writes sent while compact_running",
              flush=True)
        self.assertGreater(writes_while_running, 0, "no write was sent while compacting")
        info = self.db_info(db)
        self.assertEqual(info["doc_count"], n)
        rows = self.get(db_path(db) + "/_all_docs?include_docs=true").body["rows"]
        self.assertEqual({row["id"]: row["value"]["rev"] for row in rows}, revs)
        for row in rows:
            self.assertEqual(row["doc"]["gen"], bodies[row["id"]], row["id"])
        untouched = sorted(set(revs) - touched)
        self.assertTrue(untouched)
        for docid in untouched[:20]:
            self.assertMissing(self.doc_get(db, docid, "rev=" + first[docid]))
        # A second compaction leaves no older body behind, whatever the first one raced with.
        self.compact(db)
        for docid in sorted(touched)[:20]:
            self.assertMissing(self.doc_get(db, docid, "rev=" + first[docid]))
            info = dict(self.revs_info(db, docid))
            self.assertEqual([rv for rv, st in info.items() if st == "available"], [revs[docid]])


# ---- POST /{db}/_compact ---------------------------------------------------------------------

class CompactEndpointTest(HistoryTestCase):

    def test_compact_202_ok_and_again_while_running(self):
        db = self.new_db()
        revs = {}
        for gen in range(4):  # 300 docs × 4 revisions × 4 KB: a compaction of some 100 ms
            docs = [dict({"_id": f"d{i:03}", "pad": "z" * 4096},
                         **({"_rev": revs[f"d{i:03}"]} if gen else {})) for i in range(300)]
            r = self.post(db_path(db) + "/_bulk_docs", {"docs": docs})
            self.assertStatus(r, 201)
            revs.update((res["id"], res["rev"]) for res in r.body)
        r1 = self.post(db_path(db) + "/_compact", {})
        running = self.db_info(db)["compact_running"]
        r2 = self.post(db_path(db) + "/_compact", {})
        for r in (r1, r2):
            self.assertStatus(r, 202)
            self.assertJsonReply(r)
            self.assertEqual(r.body, {"ok": True})
        self.assertIs(running, True, "compact_running right after the 202")
        info = self.wait_compacted(db)
        self.assertIs(info["compact_running"], False)
        self.assertEqual(info["doc_count"], 300)
        self.assertEqual(self.all_docs(db), revs)

    def test_compact_running_false_on_a_fresh_database(self):
        info = self.db_info(self.new_db())
        self.assertIs(info["compact_running"], False)

    def test_compact_wrong_content_type_415(self):
        db = self.new_db()
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            with self.subTest(content_type=ctype):
                r = self.post(db_path(db) + "/_compact", b"{}", content_type=ctype)
                self.assertError(r, 415, "bad_content_type",
                                 "Content-Type must be application/json")
        r = self.post(db_path(db) + "/_compact", b"{}",
                      content_type="application/json; charset=utf-8")
        self.assertStatus(r, 202)
        self.wait_compacted(db)

    def test_compact_wrong_method_405(self):
        db = self.new_db()
        for method in ("GET", "PUT", "DELETE"):
            with self.subTest(method=method):
                r = self.req(method, db_path(db) + "/_compact",
                             {} if method == "PUT" else None)
                self.assertMethodNotAllowed(r, "POST")
        self.assertIs(self.db_info(db)["compact_running"], False)

    def test_compact_design_doc_and_view_cleanup_202(self):
        db = self.new_db()
        self.assertStatus(self.put(doc_path(db, "_design/dd"), {"views": {}}), 201)
        for path in ("/_compact/dd", "/_compact/anyddoc", "/_view_cleanup"):
            with self.subTest(path=path):
                r = self.post(db_path(db) + path, {})
                self.assertStatus(r, 202)
                self.assertJsonReply(r)
                self.assertEqual(r.body, {"ok": True})
        self.assertStatus(self.doc_get(db, "_design/dd"), 200)

    def test_compact_unknown_database_404(self):
        self.assertError(self.post("/no_such_db_compact/_compact", {}), 404, "not_found", NO_DB)

    def test_compact_needs_server_or_db_admin(self):
        db = self.make_member_db()
        bob, dba = basic_auth("bob", "bob-pw"), basic_auth("dba", "dba-pw")
        self.assertStatus(self.as_user("GET", db_path(db), auth=bob), 200)
        for path in ("/_compact", "/_view_cleanup"):
            with self.subTest(path=path):
                self.assertError(self.as_user("POST", db_path(db) + path, {}, auth=bob),
                                 401, "unauthorized", NOT_SERVER_OR_DB_ADMIN)
                r = self.as_user("POST", db_path(db) + path, {})
                self.assertError(r, 401, "unauthorized")
                r = self.as_user("POST", db_path(db) + path, {}, auth=dba)
                self.assertStatus(r, 202)
                self.assertEqual(r.body, {"ok": True})
        self.wait_compacted(db)

    def test_active_tasks_lists_nothing_for_idle_databases(self):
        r = self.get("/_active_tasks")
        self.assertStatus(r, 200)
        self.assertIsInstance(r.body, list)
        db = self.new_db()
        self.compact(db)
        r = self.get("/_active_tasks")
        self.assertFalse([t for t in r.body if t.get("type") == "database_compaction"
                          and t.get("database") == db], r.body)


# ---- database sizes ------------------------------------------------------------------------------

class SizesTest(HistoryTestCase):

    def sizes(self, db):
        s = self.db_info(db)["sizes"]
        self.assertEqual(set(s), {"file", "external", "active"}, s)
        for k, v in s.items():
            self.assertIsInstance(v, int, k)
            self.assertNotIsInstance(v, bool, k)
            self.assertGreaterEqual(v, 0, k)
        return s

    def test_sizes_with_history_and_after_compaction(self):
        """300 docs × 6 revisions × ~4 KB: before compaction `active` leaves the old revisions'
        bodies out; compaction keeps `external`, and `file` shrinks."""
        db = self.new_db()
        ndocs, nrevs, pad = 300, 6, 4096
        empty = self.sizes(db)
        revs = {}
        for gen in range(nrevs):
            docs = []
            for i in range(ndocs):
                d = {"_id": f"s{i:03}", "pad": os.urandom(pad // 2).hex()}
                if gen:
                    d["_rev"] = revs[d["_id"]]
                docs.append(d)
            r = self.post(db_path(db) + "/_bulk_docs", {"docs": docs})
            self.assertStatus(r, 201)
            for res in r.body:
                revs[res["id"]] = res["rev"]
            if gen == 0:
                one_rev = self.sizes(db)
        before = self.sizes(db)
        print(f"[divan-it] sizes empty={empty} one_rev={one_rev} before={before}", flush=True)
        leaf_bytes = ndocs * pad
        self.assertGreater(one_rev["external"], empty["external"])
        # external: the leaves' bodies (~4 KB each), never the history.
        self.assertGreaterEqual(before["external"], leaf_bytes)
        self.assertLess(before["external"], leaf_bytes * 1.5)
        self.assertLess(abs(before["external"] - one_rev["external"]), ndocs * 64,
                        "updating every doc with a same-size body keeps external")
        # The file holds all six generations; active leaves the five old ones out.
        self.assertGreater(before["file"], nrevs * leaf_bytes * 0.9)
        self.assertLess(before["active"], before["file"])
        self.assertGreaterEqual(before["active"], before["external"])
        self.assertLess(before["active"], before["file"] - (nrevs - 1) * leaf_bytes * 0.8,
                        "active must not count the old revisions' bodies")

        # Compaction, watching /_active_tasks while it runs.
        seen, stop = [], threading.Event()

        def watch():
            deadline = time.monotonic() + COMPACT_WAIT + 5
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    r = self.node.request("GET", "/_active_tasks", timeout=5)
                except Exception as e:  # reported through `seen`, never raised in the thread
                    seen.append(("error", repr(e)))
                    return
                if r.status == 200 and isinstance(r.body, list):
                    seen.extend(t for t in r.body if isinstance(t, dict)
                                and t.get("type") == "database_compaction"
                                and t.get("database") == db)
                time.sleep(0.003)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        started = time.time()
        try:
            self.start_compaction(db)
            self.wait_compacted(db)
        finally:
            stop.set()
            watcher.join(10)
        errors = [s for s in seen if isinstance(s, tuple)]
        self.assertFalse(errors, errors)
        print(f"[divan-it] {len(seen)} database_compaction task snapshots seen", flush=True)
        self.assertTrue(seen, "a compaction of a 7 MB database ran without ever being listed "
                              "in /_active_tasks (polled every few ms)")
        for task in seen:
            for key in ("phase", "progress", "changes_done", "total_changes", "started_on",
                        "updated_on"):
                self.assertIn(key, task, task)
            self.assertIsInstance(task["progress"], int, task)
            self.assertTrue(0 <= task["progress"] <= 100, task)
            self.assertIsInstance(task["changes_done"], int, task)
            self.assertIsInstance(task["total_changes"], int, task)
            self.assertLessEqual(task["changes_done"], task["total_changes"], task)
            self.assertLessEqual(abs(task["started_on"] - started), 60, task)
            self.assertGreaterEqual(task["updated_on"], task["started_on"], task)
        self.assertTrue(all(seen[i]["changes_done"] <= seen[i + 1]["changes_done"]
                            for i in range(len(seen) - 1)
                            if seen[i]["phase"] == seen[i + 1]["phase"]),
                        "changes_done never goes backwards within a phase")
        self.assertFalse([t for t in self.get("/_active_tasks").body
                          if t.get("type") == "database_compaction" and t.get("database") == db],
                         "the task is gone once compact_running is false")

        after = self.sizes(db)
        self.assertEqual(after["external"], before["external"], "compaction keeps external")
        self.assertGreaterEqual(after["active"], after["external"])
        # active before compaction is an estimate (old revisions' share of the pages in use), so
        # allow it a few percent.
        self.assertLessEqual(after["active"], before["active"] * 1.05 + 65536,
                             "compaction does not add live data")
        # The file shrinks: poll a little, the WAL checkpoint may lag behind the compaction.
        deadline = time.monotonic() + 5
        while after["file"] >= before["file"] and time.monotonic() < deadline:
            time.sleep(0.1)
            after = self.sizes(db)
        print(f"[divan-it] sizes after compaction={after}", flush=True)
        self.assertLess(after["file"], before["file"],
                        f"file did not shrink: before {before}, after {after}")
        self.assertLess(after["file"], before["file"] - (nrevs - 1) * leaf_bytes * 0.25,
                        f"file shrank by less than a quarter of the old revisions' bytes: "
                        f"before {before}, after {after}")
        # Everything is still there.
        self.assertEqual(self.all_docs(db), revs)

    def test_external_counts_each_leaf_and_its_attachments_once(self):
        db = self.new_db()
        att = os.urandom(50000)
        r1 = self.create_doc(db, "a", {"v": 1, "_attachments": {
            "f.bin": inline(att, "application/octet-stream")}})
        s1 = self.sizes(db)
        self.assertGreaterEqual(s1["external"], len(att))
        self.assertLess(s1["external"], len(att) + 200)
        r2 = self.update_doc(db, "a", r1, {"v": 2, "_attachments": {"f.bin": {"stub": True}}})
        s2 = self.sizes(db)
        self.assertLess(abs(s2["external"] - s1["external"]), 50,
                        "an attachment kept as a stub is counted once, for the leaf")
        self.update_doc(db, "a", r2, {"v": 3})
        s3 = self.sizes(db)
        self.assertLess(s3["external"], 200, "the leaf no longer has the attachment")
        self.replicate_in(db, [self.path_doc("c", 1, ["a" * 32], pad="p" * 5000),
                               self.path_doc("c", 1, ["b" * 32], pad="q" * 5000)])
        s4 = self.sizes(db)
        self.assertGreaterEqual(s4["external"] - s3["external"], 10000,
                                "both conflict leaves count")
        self.purge(db, {"c": ["1-" + "a" * 32]})
        s5 = self.sizes(db)
        self.assertLess(abs((s4["external"] - s5["external"]) - 5000), 50)

    def test_active_counts_attachments_shared_with_the_leaf(self):
        """Revisions updated with the attachment kept as a stub: the attachment is the leaf's,
        live data, not an old revision's body; active must keep counting it."""
        db = self.new_db()
        att = os.urandom(1 << 20)
        rev = self.create_doc(db, "a", {"v": 0, "_attachments": {
            "f.bin": inline(att, "application/octet-stream")}})
        s0 = self.sizes(db)
        self.assertGreaterEqual(s0["active"], len(att))
        for k in range(1, 6):
            rev = self.update_doc(db, "a", rev, {"v": k,
                                                 "_attachments": {"f.bin": {"stub": True}}})
            s = self.sizes(db)
            self.assertGreaterEqual(s["external"], len(att))
            self.assertGreaterEqual(
                s["active"], len(att),
                f"after {k} stub update(s) active={s['active']} counts the leaf's 1 MiB "
                f"attachment as garbage: {s}")
        after = self.compact(db)["sizes"]
        self.assertGreaterEqual(after["active"], len(att))
        r = self.get(doc_path(db, "a") + "/f.bin")
        self.assertEqual(r.raw, att)

    def test_file_shrinks_after_compacting_replaced_attachments(self):
        """Six generations of a 1 MiB attachment, each replacing the last: 5 MiB of old
        revisions' attachments that compaction frees; sizes.file must show it."""
        db = self.new_db()
        rev = None
        for k in range(6):
            att = os.urandom(1 << 20)
            body = {"v": k, "_attachments": {"f.bin": inline(att, "application/octet-stream")}}
            if rev:
                body["_rev"] = rev
            r = self.put(doc_path(db, "a"), body)
            self.assertStatus(r, 201)
            rev = r.body["rev"]
        before = self.sizes(db)
        self.assertGreaterEqual(before["file"], 6 << 20)
        after = self.compact(db)["sizes"]
        deadline = time.monotonic() + 5
        while after["file"] > before["file"] - (3 << 20) and time.monotonic() < deadline:
            time.sleep(0.1)
            after = self.sizes(db)
        files = {f: os.path.getsize(os.path.join(self.node.data_dir, f))
                 for f in os.listdir(self.node.data_dir) if f.startswith(db + ".sqlite3")}
        self.assertEqual(after["external"], before["external"])
        self.assertEqual(self.get(doc_path(db, "a") + "/f.bin").raw, att)
        self.assertLessEqual(after["file"], before["file"] - (3 << 20),
                             f"compaction freed 5 MiB of old attachments but sizes.file went "
                             f"{before['file']} → {after['file']} (files on disk: {files})")

    def test_purge_and_delete_lower_external(self):
        db = self.new_db()
        revs = {}
        for i in range(20):
            revs[f"e{i:02}"] = self.create_doc(db, f"e{i:02}", {"pad": "e" * 4000})
        s0 = self.sizes(db)
        self.assertGreaterEqual(s0["external"], 20 * 4000)
        purged = self.purge(db, {f"e{i:02}": [revs[f"e{i:02}"]] for i in range(5)})
        self.assertEqual(sorted(purged), [f"e{i:02}" for i in range(5)])
        s1 = self.sizes(db)
        self.assertLessEqual(s1["external"], s0["external"] - 5 * 4000)
        self.assertGreater(s1["external"], s0["external"] - 5 * 4200)
        for i in range(5, 10):
            r = self.delete(doc_path(db, f"e{i:02}") + "?rev=" + revs[f"e{i:02}"])
            self.assertStatus(r, 200)
        s2 = self.sizes(db)
        self.assertLessEqual(s2["external"], s1["external"] - 5 * 4000,
                             "a tombstone's body is not the deleted revision's")
        self.assertGreaterEqual(s2["active"], s2["external"])


# ---- POST /{db}/_purge -------------------------------------------------------------------------

class PurgeTest(HistoryTestCase):

    def test_purge_single_leaf_doc_disappears(self):
        db = self.new_db()
        keep = self.create_doc(db, "keep", {"k": 1})
        r1 = self.create_doc(db, "doc", {"v": 1})
        r2 = self.update_doc(db, "doc", r1, {"v": 2})
        before = self.db_info(db)
        self.assertEqual(before["purge_seq"], 0)
        self.assertEqual(before["doc_count"], 2)
        self.assertIn("doc", self.all_docs(db))

        r = self.post(db_path(db) + "/_purge", {"doc": [r2]})
        self.assertStatus(r, 201)
        self.assertJsonReply(r)
        self.assertEqual(r.body, {"purge_seq": None, "purged": {"doc": [r2]}})

        self.assertMissing(self.doc_get(db, "doc"))
        self.assertMissing(self.doc_get(db, "doc", "rev=" + r2))
        self.assertMissing(self.doc_get(db, "doc", "rev=" + r1))
        self.assertMissing(self.get(doc_path(db, "doc") + "?open_revs=all", headers=JSON_ACCEPT))
        self.assertEqual(self.open_revs(db, "doc", [r1, r2]), [{"missing": r1}, {"missing": r2}])
        self.assertEqual(self.all_docs(db), {"keep": keep})
        ch = self.changes(db)
        self.assertEqual([c["id"] for c in ch["results"]], ["keep"])
        after = self.db_info(db)
        self.assertEqual(after["doc_count"], 1)
        self.assertEqual(after["doc_del_count"], 0)
        self.assertIsInstance(after["purge_seq"], int)
        self.assertEqual(after["purge_seq"], 1)
        self.assertGreater(seq_num(after["update_seq"]), seq_num(before["update_seq"]),
                           "a purge is an update (CouchDB bumps update_seq so indexes notice)")
        self.assertEqual(seq_num(ch["last_seq"]), seq_num(after["update_seq"]))
        results = self.bulk_get(db, [{"id": "doc", "rev": r2}])
        self.assertEqual(results, [{"id": "doc", "docs": [{"error": {
            "id": "doc", "rev": r2, "error": "not_found", "reason": "missing"}}]}])
        # Purging it again purges nothing. (Whether purge_seq counts such a request is left
        # open: CouchDB records a purge info per requested id, Divan per purged doc.)
        self.assertEqual(self.purge(db, {"doc": [r2]}), {"doc": []})
        self.assertMissing(self.doc_get(db, "doc"))
        # The id is free again: a new document starts a new history.
        r = self.put(doc_path(db, "doc"), {"v": "new"})
        self.assertStatus(r, 201)
        self.assertRev(r.body["rev"], 1)
        self.assertEqual(self.doc_get(db, "doc").body["v"], "new")
        self.assertEqual(self.db_info(db)["doc_count"], 2)

    def test_purge_conflict_leaf_keeps_the_other_as_winner(self):
        db = self.new_db()
        self.replicate_in(db, [self.path_doc("c", 2, ["b" * 32, "a" * 32], v="b"),
                               self.path_doc("c", 2, ["c" * 32, "a" * 32], v="c")])
        b2, c2 = "2-" + "b" * 32, "2-" + "c" * 32
        self.assertEqual(self.doc_get(db, "c", "conflicts=true").body,
                         {"_id": "c", "_rev": c2, "v": "c", "_conflicts": [b2]})
        before = self.db_info(db)
        self.assertEqual(self.purge(db, {"c": [c2]}), {"c": [c2]})
        r = self.doc_get(db, "c", "conflicts=true&deleted_conflicts=true")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"_id": "c", "_rev": b2, "v": "b"})
        self.assertMissing(self.doc_get(db, "c", "rev=" + c2))
        self.assertEqual(self.all_docs(db), {"c": b2})
        ch = self.changes(db, "style=all_docs")["results"]
        self.assertEqual([(c["id"], c["changes"]) for c in ch], [("c", [{"rev": b2}])])
        after = self.db_info(db)
        self.assertEqual(after["doc_count"], before["doc_count"])
        self.assertEqual(after["purge_seq"], before["purge_seq"] + 1)
        self.assertEqual(self.revs_info(db, "c"), [(b2, "available"), ("1-" + "a" * 32, "missing")])
        # _revs_diff does not ask for the purged leaf again.
        r = self.post(db_path(db) + "/_revs_diff", {"c": [c2, b2]})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {})

    def test_purge_deleted_leaf_and_tombstoned_doc(self):
        db = self.new_db()
        r1 = self.create_doc(db, "t", {"v": 1})
        r = self.delete(doc_path(db, "t") + "?rev=" + r1)
        self.assertStatus(r, 200)
        t2 = r.body["rev"]
        info = self.db_info(db)
        self.assertEqual((info["doc_count"], info["doc_del_count"]), (0, 1))
        self.assertEqual(self.purge(db, {"t": [t2]}), {"t": [t2]})
        info = self.db_info(db)
        self.assertEqual((info["doc_count"], info["doc_del_count"]), (0, 0))
        self.assertError(self.doc_get(db, "t"), 404, "not_found", "missing")
        self.assertEqual(self.changes(db)["results"], [])
        # A deleted conflict leaf purged leaves the live leaf and no _deleted_conflicts.
        self.replicate_in(db, [self.path_doc("dc", 2, ["b" * 32, "a" * 32], v="b"),
                               self.path_doc("dc", 2, ["c" * 32, "a" * 32], deleted=True)])
        self.assertEqual(self.purge(db, {"dc": ["2-" + "c" * 32]}), {"dc": ["2-" + "c" * 32]})
        self.assertEqual(self.doc_get(db, "dc", "deleted_conflicts=true").body,
                         {"_id": "dc", "_rev": "2-" + "b" * 32, "v": "b"})

    def test_purge_unknown_ids_and_non_leaf_revs_give_empty_lists(self):
        db = self.new_db()
        r1 = self.create_doc(db, "d", {"v": 1})
        r2 = self.update_doc(db, "d", r1, {"v": 2})
        purged = self.purge(db, {"nope": ["1-" + "a" * 32], "d": [r1, "9-" + "f" * 32],
                                 "empty": []})
        self.assertEqual(purged, {"nope": [], "d": [], "empty": []})
        self.assertEqual(self.doc_get(db, "d").body, {"_id": "d", "_rev": r2, "v": 2})
        self.assertEqual(self.doc_get(db, "d", "rev=" + r1).body, {"_id": "d", "_rev": r1, "v": 1},
                         "a purge that removed nothing leaves the history alone")
        self.assertEqual(self.db_info(db)["doc_count"], 1)
        # Non-leaf and leaf together: only the leaf is purged, and with it the whole path.
        self.assertEqual(self.purge(db, {"d": [r1, r2]}), {"d": [r2]})
        self.assertMissing(self.doc_get(db, "d"))
        self.assertMissing(self.doc_get(db, "d", "rev=" + r1))
        self.assertEqual(self.post(db_path(db) + "/_purge", {}).body,
                         {"purge_seq": None, "purged": {}})

    def test_purge_many_docs_counts_one_per_doc(self):
        db = self.new_db()
        docs = [{"_id": f"m{i:03}", "i": i} for i in range(100)]
        r = self.post(db_path(db) + "/_bulk_docs", {"docs": docs})
        self.assertStatus(r, 201)
        revs = {res["id"]: res["rev"] for res in r.body}
        # Exactly the limit of 100 ids is accepted.
        purged = self.purge(db, {docid: [rev] for docid, rev in revs.items()})
        self.assertEqual(purged, {docid: [rev] for docid, rev in revs.items()})
        info = self.db_info(db)
        self.assertEqual(info["purge_seq"], 100)
        self.assertEqual(info["doc_count"], 0)
        self.assertEqual(self.all_docs(db), {})
        self.assertEqual(self.changes(db)["results"], [])

    def test_purge_bad_input_400(self):
        db = self.new_db()
        rev = self.create_doc(db, "d")
        url = db_path(db) + "/_purge"
        for body in ([], "x", 5, None):
            with self.subTest(body=body):
                raw = json.dumps(body).encode()
                r = self.post(url, raw, content_type="application/json")
                self.assertError(r, 400, "bad_request", "Request body must be a JSON object")
        for revs in ("x", 5, None, {"r": rev}):
            with self.subTest(revs=revs):
                self.assertError(self.post(url, {"d": revs}), 400, "bad_request",
                                 "Invalid list of revisions")
        for bad in ("x", "1-", "-abc", "a-b", 5):
            with self.subTest(rev=bad):
                self.assertError(self.post(url, {"d": [bad]}), 400, "bad_request",
                                 "Invalid rev format")
        r = self.post(url, {f"id{i}": [] for i in range(101)})
        self.assertError(r, 400, "bad_request", "Exceeded maximum number of documents.")
        many = {"a": [f"1-{i:032x}" for i in range(600)],
                "b": [f"2-{i:032x}" for i in range(401)]}
        self.assertError(self.post(url, many), 400, "bad_request",
                         "Exceeded maximum number of revisions.")
        self.assertError(self.post(url, b"{not json", content_type="application/json"),
                         400, "bad_request")
        # Nothing was purged or recorded by any of them.
        self.assertEqual(self.doc_get(db, "d").body["_rev"], rev)
        self.assertEqual(self.db_info(db)["purge_seq"], 0)
        # Exactly 1000 revisions are accepted.
        many["b"] = many["b"][:400]
        self.assertEqual(self.purge(db, many), {"a": [], "b": []})
        self.assertEqual(self.doc_get(db, "d").body["_rev"], rev)

    def test_purge_content_type_method_and_unknown_db(self):
        db = self.new_db()
        rev = self.create_doc(db, "d")
        r = self.post(db_path(db) + "/_purge", json.dumps({"d": [rev]}).encode(),
                      content_type="text/plain")
        self.assertError(r, 415, "bad_content_type", "Content-Type must be application/json")
        self.assertStatus(self.doc_get(db, "d"), 200)
        for method in ("GET", "PUT", "DELETE"):
            with self.subTest(method=method):
                r = self.req(method, db_path(db) + "/_purge", {} if method == "PUT" else None)
                self.assertMethodNotAllowed(r, "POST")
        self.assertStatus(self.doc_get(db, "d"), 200)
        self.assertError(self.post("/no_such_db_purge/_purge", {}), 404, "not_found", NO_DB)

    def test_purge_needs_db_or_server_admin(self):
        db = self.make_member_db()
        rev = self.create_doc(db, "d", {"v": 1})
        bob, dba = basic_auth("bob", "bob-pw"), basic_auth("dba", "dba-pw")
        self.assertStatus(self.as_user("GET", doc_path(db, "d"), auth=bob), 200)
        self.assertError(self.as_user("POST", db_path(db) + "/_purge", {"d": [rev]}, auth=bob),
                         403, "forbidden", NOT_DB_ADMIN)
        self.assertError(self.as_user("POST", db_path(db) + "/_purge", {"d": [rev]}),
                         401, "unauthorized", NOT_AUTHORIZED)
        self.assertEqual(self.doc_get(db, "d").body["_rev"], rev)
        self.assertEqual(self.db_info(db)["purge_seq"], 0)
        r = self.as_user("POST", db_path(db) + "/_purge", {"d": [rev]}, auth=dba)
        self.assertStatus(r, 201)
        self.assertEqual(r.body, {"purge_seq": None, "purged": {"d": [rev]}})
        self.assertMissing(self.doc_get(db, "d"))

    def test_purged_rev_written_again_by_replication_is_ignored(self):
        db = self.new_db()
        rev = self.create_doc(db, "r", {"v": 1})
        self.assertEqual(self.purge(db, {"r": [rev]}), {"r": [rev]})
        self.replicate_in(db, [{"_id": "r", "_rev": rev, "v": 1}])
        self.assertMissing(self.doc_get(db, "r"))
        r = self.post(db_path(db) + "/_revs_diff", {"r": [rev, "2-" + "d" * 32]})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"r": {"missing": ["2-" + "d" * 32]}})
        # A child of the purged revision is new and is written.
        self.replicate_in(db, [self.path_doc("r", 2, ["d" * 32, rev_id(rev)], v=2)])
        self.assertEqual(self.doc_get(db, "r").body, {"_id": "r", "_rev": "2-" + "d" * 32, "v": 2})
        self.assertEqual(self.revs_info(db, "r"), [("2-" + "d" * 32, "available"),
                                                   (rev, "missing")])

    def test_purge_then_compact(self):
        db = self.new_db()
        r1 = self.create_doc(db, "a", {"v": 1})
        r2 = self.update_doc(db, "a", r1, {"v": 2})
        self.replicate_in(db, [self.path_doc("a", 2, ["0" * 32, rev_id(r1)], v="other")])
        other = "2-" + "0" * 32
        self.assertEqual(self.purge(db, {"a": [r2]}), {"a": [r2]})
        self.assertEqual(self.doc_get(db, "a", "rev=" + r1).body, {"_id": "a", "_rev": r1, "v": 1},
                         "the ancestor of the remaining leaf keeps its body until compaction")
        info = self.compact(db)
        self.assertEqual(info["purge_seq"], 1)
        self.assertMissing(self.doc_get(db, "a", "rev=" + r1))
        self.assertMissing(self.doc_get(db, "a", "rev=" + r2))
        self.assertEqual(self.doc_get(db, "a").body, {"_id": "a", "_rev": other, "v": "other"})


# ---- /{db}/_purged_infos_limit -------------------------------------------------------------------

class PurgedInfosLimitTest(HistoryTestCase):

    def test_get_default_and_put(self):
        db = self.new_db()
        r = self.get(db_path(db) + "/_purged_infos_limit")
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(r.raw.strip(), b"1000", "a bare JSON number")
        r = self.put(db_path(db) + "/_purged_infos_limit", 5)
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(r.body, {"ok": True})
        r = self.get(db_path(db) + "/_purged_infos_limit")
        self.assertEqual(r.body, 5)
        self.assertEqual(r.raw.strip(), b"5")
        other = self.new_db()
        self.assertEqual(self.get(db_path(other) + "/_purged_infos_limit").body, 1000,
                         "the limit is per database")

    def test_bad_values_400(self):
        db = self.new_db()
        for value in ("x", 0, -1, 1.5, True, [5], {"limit": 5}, "5"):
            with self.subTest(value=value):
                r = self.put(db_path(db) + "/_purged_infos_limit", value)
                self.assertError(r, 400, "bad_request", BAD_LIMIT)
        self.assertEqual(self.get(db_path(db) + "/_purged_infos_limit").body, 1000)

    def test_wrong_method_405_and_unknown_db_404(self):
        db = self.new_db()
        for method in ("POST", "DELETE"):
            with self.subTest(method=method):
                r = self.req(method, db_path(db) + "/_purged_infos_limit",
                             7 if method == "POST" else None)
                self.assertMethodNotAllowed(r, "GET,PUT")
        self.assertError(self.get("/no_such_db_pil/_purged_infos_limit"), 404, "not_found", NO_DB)

    def test_members_read_admins_write(self):
        db = self.make_member_db()
        bob, dba = basic_auth("bob", "bob-pw"), basic_auth("dba", "dba-pw")
        r = self.as_user("GET", db_path(db) + "/_purged_infos_limit", auth=bob)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, 1000)
        self.assertError(self.as_user("PUT", db_path(db) + "/_purged_infos_limit", 3, auth=bob),
                         403, "forbidden", NOT_DB_ADMIN)
        self.assertError(self.as_user("PUT", db_path(db) + "/_purged_infos_limit", 3),
                         401, "unauthorized")
        self.assertEqual(self.get(db_path(db) + "/_purged_infos_limit").body, 1000)
        r = self.as_user("PUT", db_path(db) + "/_purged_infos_limit", 3, auth=dba)
        self.assertStatus(r, 200)
        self.assertEqual(self.get(db_path(db) + "/_purged_infos_limit").body, 3)

    def test_purges_beyond_the_limit_still_work(self):
        db = self.new_db()
        self.assertStatus(self.put(db_path(db) + "/_purged_infos_limit", 2), 200)
        revs = {f"p{i}": self.create_doc(db, f"p{i}", {"i": i}) for i in range(5)}
        for i in range(5):
            self.assertEqual(self.purge(db, {f"p{i}": [revs[f"p{i}"]]}),
                             {f"p{i}": [revs[f"p{i}"]]})
        info = self.db_info(db)
        self.assertEqual(info["purge_seq"], 5)
        self.assertEqual(info["doc_count"], 0)


# ---- purge and replication ---------------------------------------------------------------------

class PurgeReplicationTest(NodesTestCase):
    """Two nodes, A and B (server admin on both, no automatic compaction)."""

    counter = 0

    @classmethod
    def make_node(cls):
        return AdminNode(extra_args=NO_AUTO_COMPACT)

    def new_db(self, node):
        type(self).counter += 1
        db = f"pr{type(self).counter}-{self._testMethodName[5:30].lower()}"
        node.json("PUT", db_path(db), status=201)
        return db

    def put(self, node, db, docid, body):
        return node.json("PUT", doc_path(db, docid), body, status=201)["rev"]

    def replicate(self, body):
        resp = self.a.request("POST", "/_replicate", body=body)
        self.assertEqual(resp.status, 200, resp)
        self.assertIs(resp.body.get("ok"), True, resp)
        return resp.body

    def purge(self, node, db, body):
        resp = node.request("POST", db_path(db) + "/_purge", body=body)
        self.assertEqual(resp.status, 201, resp)
        self.assertIsNone(resp.body["purge_seq"])
        return resp.body["purged"]

    def forget_checkpoints(self, node, db):
        """Deletes every _local doc of `db` (the replication checkpoints). Returns how many."""
        rows = node.json("GET", db_path(db) + "/_local_docs", status=200)["rows"]
        for row in rows:
            node.json("DELETE", doc_path(db, row["id"]) + "?rev=" + row["value"]["rev"],
                      status=200)
        return len(rows)

    def assertMissingDoc(self, node, db, docid):
        resp = node.get(doc_path(db, docid))
        self.assertEqual((resp.status, resp.body), (404, MISSING), f"{docid} on {db}")

    def test_purged_revision_does_not_come_back_by_replication(self):
        src, dst = self.new_db(self.a), self.new_db(self.b)
        r1 = self.put(self.a, src, "doc", {"v": 1})
        keep = self.put(self.a, src, "keep", {"k": 1})
        body = {"source": self.a.url(src), "target": self.b.url(dst)}
        out = self.replicate(body)
        self.assertEqual(out["history"][0]["docs_written"], 2)
        self.assertEqual(self.b.json("GET", doc_path(dst, "doc"), status=200)["_rev"], r1)

        self.assertEqual(self.purge(self.b, dst, {"doc": [r1]}), {"doc": [r1]})
        self.assertMissingDoc(self.b, dst, "doc")
        info = self.b.json("GET", db_path(dst), status=200)
        self.assertEqual((info["doc_count"], info["purge_seq"]), (1, 1))

        # The same replication again: nothing new on the source.
        self.replicate(body)
        self.assertMissingDoc(self.b, dst, "doc")

        # From scratch, 1: the checkpoints are gone, so the replication starts from seq 0.
        self.assertGreaterEqual(self.forget_checkpoints(self.b, dst), 1)
        self.forget_checkpoints(self.a, src)
        out = self.replicate(body)
        hist = out["history"][0]
        self.assertEqual(seq_num(hist["start_last_seq"]), 0, out)
        self.assertEqual(hist["missing_checked"] - (out["history"][1]["missing_checked"]
                                                    if len(out["history"]) > 1 else 0), 2, out)
        self.assertEqual(hist["doc_write_failures"], 0, out)
        self.assertMissingDoc(self.b, dst, "doc")

        # From scratch, 2: another replication (doc_ids gives it another id) from seq 0.
        out = self.replicate(dict(body, doc_ids=["doc", "keep"]))
        hist = out["history"][0]
        self.assertEqual(seq_num(hist["start_last_seq"]), 0, out)
        self.assertEqual(hist["missing_found"], 0, out)
        self.assertEqual(hist["docs_written"], 0, out)
        self.assertMissingDoc(self.b, dst, "doc")
        # Pulled by B's own replicator too.
        resp = self.b.request("POST", "/_replicate", body={"source": self.a.url(src),
                                                           "target": dst})
        self.assertEqual(resp.status, 200, resp)
        self.assertMissingDoc(self.b, dst, "doc")

        resp = self.b.request("POST", db_path(dst) + "/_revs_diff",
                              body={"doc": [r1], "keep": [keep]})
        self.assertEqual((resp.status, resp.body), (200, {}))
        info = self.b.json("GET", db_path(dst), status=200)
        self.assertEqual((info["doc_count"], info["purge_seq"]), (1, 1))
        rows = self.b.json("GET", db_path(dst) + "/_all_docs", status=200)["rows"]
        self.assertEqual([row["id"] for row in rows], ["keep"])
        changes = self.b.json("GET", db_path(dst) + "/_changes", status=200)["results"]
        self.assertEqual([c["id"] for c in changes], ["keep"])

        # A new edit on A, a child of the purged revision, does replicate.
        r2 = self.put(self.a, src, "doc", {"_rev": r1, "v": 2})
        self.replicate(body)
        doc = self.b.json("GET", doc_path(dst, "doc") + "?revs=true", status=200)
        self.assertEqual(doc["_rev"], r2)
        self.assertEqual(doc["v"], 2)
        self.assertEqual(doc["_revisions"], {"start": 2, "ids": [rev_id(r2), rev_id(r1)]})
        self.assertEqual(self.b.json("GET", db_path(dst), status=200)["doc_count"], 2)

    def test_purged_conflict_leaf_stays_purged(self):
        src, dst = self.new_db(self.a), self.new_db(self.b)
        docs = [{"_id": "c", "_rev": "2-" + "b" * 32,
                 "_revisions": {"start": 2, "ids": ["b" * 32, "a" * 32]}, "v": "b"},
                {"_id": "c", "_rev": "2-" + "c" * 32,
                 "_revisions": {"start": 2, "ids": ["c" * 32, "a" * 32]}, "v": "c"}]
        self.a.json("POST", db_path(src) + "/_bulk_docs", {"docs": docs, "new_edits": False},
                    status=201)
        body = {"source": self.a.url(src), "target": self.b.url(dst)}
        self.replicate(body)
        doc = self.b.json("GET", doc_path(dst, "c") + "?conflicts=true", status=200)
        self.assertEqual((doc["_rev"], doc["_conflicts"]), ("2-" + "c" * 32, ["2-" + "b" * 32]))
        self.assertEqual(self.purge(self.b, dst, {"c": ["2-" + "c" * 32]}),
                         {"c": ["2-" + "c" * 32]})
        self.forget_checkpoints(self.b, dst)
        self.forget_checkpoints(self.a, src)
        out = self.replicate(body)
        self.assertEqual(seq_num(out["history"][0]["start_last_seq"]), 0, out)
        doc = self.b.json("GET", doc_path(dst, "c") + "?conflicts=true&deleted_conflicts=true",
                          status=200)
        self.assertEqual(doc, {"_id": "c", "_rev": "2-" + "b" * 32, "v": "b"})
        # Replicating B back to A does not purge anything on A (purges are not replicated).
        self.replicate({"source": self.b.url(dst), "target": self.a.url(src)})
        doc = self.a.json("GET", doc_path(src, "c") + "?conflicts=true", status=200)
        self.assertEqual((doc["_rev"], doc["_conflicts"]), ("2-" + "c" * 32, ["2-" + "b" * 32]))


# ---- restarts ------------------------------------------------------------------------------------

class RestartTest(unittest.TestCase):
    """Each test owns a node and restarts it on the same data directory."""

    def setUp(self):
        self.node = AdminNode(extra_args=NO_AUTO_COMPACT).start()
        self.addCleanup(self.node.cleanup)

    def call(self, method, path, body=None, status=None):
        resp = self.node.request(method, path, body=body)
        if status is not None:
            self.assertEqual(resp.status, status, f"{method} {path}: {resp!r}")
        return resp

    def info(self, db):
        return self.call("GET", db_path(db), status=200).body

    def put_doc(self, db, docid, body):
        return self.call("PUT", doc_path(db, docid), body, status=201).body["rev"]

    def wait_compacted(self, db):
        return wait_until("compaction to end", lambda: not self.info(db)["compact_running"],
                          timeout=COMPACT_WAIT)

    def check_after_purge_restart(self, db, before, revs):
        after = self.info(db)
        self.assertGreaterEqual(seq_num(after["update_seq"]), seq_num(before["update_seq"]),
                                f"update_seq went backwards over a restart: {before} → {after}")
        self.assertEqual(after["purge_seq"], before["purge_seq"])
        self.assertEqual(after["doc_count"], before["doc_count"])
        self.assertEqual(self.call("GET", doc_path(db, "last")).status, 404)
        self.assertEqual(self.call("GET", db_path(db) + "/_purged_infos_limit", status=200).body, 7)
        # History written before the restart is still there (no compaction ran).
        r = self.call("GET", doc_path(db, "hist") + "?rev=" + revs[0], status=200)
        self.assertEqual(r.body, {"_id": "hist", "_rev": revs[0], "g": 0})
        # A new write gets a seq above everything seen before the restart.
        self.put_doc(db, "new", {"n": 1})
        res = self.call("GET", db_path(db) + "/_changes", status=200).body["results"]
        self.assertEqual([c["id"] for c in res][-1], "new")
        self.assertGreater(seq_num(res[-1]["seq"]), seq_num(before["update_seq"]))
        self.assertNotIn("last", [c["id"] for c in res])
        # The purged revision stays purged for the replicator.
        resp = self.call("POST", db_path(db) + "/_revs_diff", {"last": [before["_purged"]]},
                         status=200)
        self.assertEqual(resp.body, {})

    def setup_purged_db(self):
        db = "restart-purge"
        self.call("PUT", db_path(db), status=201)
        self.put_doc(db, "first", {"v": 1})
        revs = [self.put_doc(db, "hist", {"g": 0})]
        for g in range(1, 4):
            revs.append(self.put_doc(db, "hist", {"_rev": revs[-1], "g": g}))
        last = self.put_doc(db, "last", {"v": "last"})  # the highest seq, then purged
        self.call("PUT", db_path(db) + "/_purged_infos_limit", 7, status=200)
        resp = self.call("POST", db_path(db) + "/_purge", {"last": [last]}, status=201)
        self.assertEqual(resp.body["purged"], {"last": [last]})
        before = self.info(db)
        self.assertEqual(before["purge_seq"], 1)
        before["_purged"] = last
        return db, before, revs

    def test_purge_survives_a_clean_restart(self):
        db, before, revs = self.setup_purged_db()
        self.node.restart()
        self.check_after_purge_restart(db, before, revs)

    def test_purge_survives_kill_9(self):
        db, before, revs = self.setup_purged_db()
        self.node.kill()
        self.node.close_connections()
        self.node.start()
        self.check_after_purge_restart(db, before, revs)

    def test_compaction_then_restart(self):
        db, before, revs = self.setup_purged_db()
        self.call("POST", db_path(db) + "/_compact", {}, status=202)
        self.wait_compacted(db)
        self.node.restart()
        info = self.info(db)
        self.assertIs(info["compact_running"], False)
        self.assertEqual(info["purge_seq"], 1)
        self.assertGreaterEqual(seq_num(info["update_seq"]), seq_num(before["update_seq"]))
        self.assertEqual(info["sizes"]["external"], before["sizes"]["external"])
        for rev in revs[:-1]:
            self.assertEqual(self.call("GET", doc_path(db, "hist") + "?rev=" + rev).body, MISSING)
        r = self.call("GET", doc_path(db, "hist"), status=200)
        self.assertEqual(r.body, {"_id": "hist", "_rev": revs[-1], "g": 3})


# ---- automatic compaction ------------------------------------------------------------------------

def write_history(testcase, node, db, ndocs=100, nrevs=8, pad=3000):
    """ndocs docs × nrevs revisions of ~pad bytes; returns (first revs, leaf revs)."""
    revs, first = {}, {}
    for gen in range(nrevs):
        docs = []
        for i in range(ndocs):
            d = {"_id": f"a{i:03}", "gen": gen, "pad": "a" * pad}
            if gen:
                d["_rev"] = revs[d["_id"]]
            docs.append(d)
        resp = node.request("POST", db_path(db) + "/_bulk_docs", body={"docs": docs})
        testcase.assertEqual(resp.status, 201, resp)
        for res in resp.body:
            revs[res["id"]] = res["rev"]
            first.setdefault(res["id"], res["rev"])
    return first, revs


class AutoCompactTest(unittest.TestCase):

    def test_mostly_garbage_database_is_compacted_automatically(self):
        node = AdminNode(extra_args=["--compact-min-size", "0", "--compact-check-ms", "100"])
        node.start()
        self.addCleanup(node.cleanup)
        self.assertEqual(node.request("PUT", "/auto").status, 201)
        first, leaves = write_history(self, node, "auto")
        wait_until("automatic compaction of the old revisions",
                   lambda: node.request("GET", "/auto/a000?rev=" + first["a000"]).status == 404,
                   timeout=20)
        wait_until("compact_running false",
                   lambda: node.request("GET", "/auto").body["compact_running"] is False,
                   timeout=COMPACT_WAIT)
        for docid, rev in list(leaves.items())[:10]:
            resp = node.request("GET", doc_path("auto", docid))
            self.assertEqual((resp.status, resp.body["_rev"], resp.body["gen"]), (200, rev, 7))
        self.assertEqual(node.request("GET", "/auto").body["doc_count"], 100)

    def test_auto_compact_off_keeps_history(self):
        node = AdminNode(extra_args=["--auto-compact", "0", "--compact-min-size", "0",
                                     "--compact-check-ms", "50"])
        node.start()
        self.addCleanup(node.cleanup)
        self.assertEqual(node.request("PUT", "/manual").status, 201)
        first, _ = write_history(self, node, "manual")
        time.sleep(1.5)  # 30 check intervals
        for docid in ("a000", "a050", "a099"):
            resp = node.request("GET", doc_path("manual", docid) + "?rev=" + first[docid])
            self.assertEqual(resp.status, 200, f"{docid}: {resp!r}")
            self.assertEqual(resp.body["gen"], 0)


if __name__ == "__main__":
    unittest.main()
