"""GET/POST /{db}/_changes, feed=normal (http-api.md §13): envelope, since, one row per doc at its
latest seq, limit/pending/last_seq, descending, include_docs, style, filters and parameter errors.
Live feeds (longpoll, continuous, eventsource) are in test_changes_feeds.py.

Seqs are opaque (§13.4): tests hand back exactly what the server sent and compare with seq_num()
only where order or equality with update_seq is asserted."""

import re
import unittest

from divan_harness import NodeTestCase, db_path, doc_path, qjson, seq_num, seq_param

NO_DB = "Database does not exist."
BAD_SINCE = "Malformed sequence supplied in 'since' parameter."
BAD_FEED = "Supported `feed` types: normal, continuous, live, longpoll, eventsource"
BAD_DOC_IDS = "`doc_ids` filter parameter is not a list of doc ids."
BAD_LIMIT = "The limit value should be a non-negative integer"
NO_SELECTOR = "Selector must be specified in POST payload"
UNKNOWN_FILTER = "unknown builtin filter name"
ENVELOPE_TAIL = re.compile(rb'\n\],\n"last_seq":[^\n]+,"pending":\d+\}\n\Z')


class ChangesTestCase(NodeTestCase):
    """Helpers shared by the normal-feed tests."""

    def changes_url(self, db, query=""):
        return f"{db_path(db)}/_changes" + (f"?{query}" if query else "")

    def changes(self, db, query="", body=None, method=None):
        """One feed=normal request; asserts 200 and the §13.3 envelope, returns the parsed body."""
        method = method or ("POST" if body is not None else "GET")
        r = self.req(method, self.changes_url(db, query), body=body)
        self.assertStatus(r, 200, f"{method} _changes?{query}")
        self.assertEnvelope(r)
        return r.body

    def assertEnvelope(self, r):
        """`{"results":[\\n` + rows joined by `,\\r\\n` + `\\n],\\n"last_seq":…,"pending":N}\\n`."""
        self.assertJsonReply(r)
        self.assertIsInstance(r.body, dict, r)
        self.assertEqual(set(r.body), {"results", "last_seq", "pending"}, r)
        self.assertIsInstance(r.body["results"], list)
        self.assertIsInstance(r.body["pending"], int)
        self.assertNotIsInstance(r.body["pending"], bool)
        self.assertGreaterEqual(r.body["pending"], 0)
        seq_num(r.body["last_seq"])
        raw = r.raw
        self.assertTrue(raw.startswith(b'{"results":[\n'), f"envelope head: {raw[:40]!r}")
        self.assertRegex(raw, ENVELOPE_TAIL, "envelope tail")
        n = len(r.body["results"])
        # JSON escapes CR/LF inside strings, so a literal ",\r\n" can only be a row separator.
        self.assertEqual(raw.count(b",\r\n"), max(0, n - 1), f"rows joined by ',\\r\\n': {raw[:300]!r}")
        for row in r.body["results"]:
            self.assertIsInstance(row, dict)
            self.assertIn("seq", row)
            self.assertIsInstance(row.get("id"), str, row)
            self.assertIsInstance(row.get("changes"), list, row)

    def put_doc(self, db, docid, body=None, rev=None):
        """Writes one doc; returns (rev, update_seq after the write)."""
        b = dict(body or {})
        if rev:
            b["_rev"] = rev
        r = self.put(doc_path(db, docid), b)
        self.assertStatus(r, 201)
        return r.body["rev"], self.update_seq(db)

    def delete_doc(self, db, docid, rev):
        r = self.delete(doc_path(db, docid) + f"?rev={rev}")
        self.assertStatus(r, 200)
        return r.body["rev"], self.update_seq(db)

    def ids(self, body):
        return [row["id"] for row in body["results"]]

    def seqs(self, body):
        return [seq_num(row["seq"]) for row in body["results"]]

    def assertIncreasing(self, seqs):
        self.assertEqual(seqs, sorted(set(seqs)), f"seqs must strictly increase: {seqs}")


class ChangesNormalTest(ChangesTestCase):

    def setUp(self):
        self.db = self.new_db()

    # -- envelope and rows --

    def test_13_3_empty_db_exact_envelope(self):
        r = self.get(self.changes_url(self.db))
        self.assertStatus(r, 200)
        self.assertEnvelope(r)
        self.assertEqual(r.body["results"], [])
        self.assertEqual(r.body["pending"], 0)
        self.assertEqual(seq_num(r.body["last_seq"]), self.update_seq(self.db))
        self.assertEqual(seq_num(r.body["last_seq"]), 0)
        self.assertRegex(r.raw, rb'\A\{"results":\[\n\n\],\n"last_seq":[^,\n]+,"pending":0\}\n\Z')

    def test_13_3_envelope_framing_with_rows(self):
        for d in ("a", "b", "c"):
            self.put_doc(self.db, d, {"v": d, "text": "line1\r\nline2,\r\n"})
        r = self.get(self.changes_url(self.db))
        self.assertStatus(r, 200)
        self.assertEnvelope(r)
        self.assertEqual(self.ids(r.body), ["a", "b", "c"])
        self.assertEqual(r.body["pending"], 0)

    def test_13_2_row_shape(self):
        rev, seq = self.put_doc(self.db, "a", {"x": 1})
        body = self.changes(self.db)
        self.assertEqual(len(body["results"]), 1)
        row = body["results"][0]
        self.assertEqual(set(row), {"seq", "id", "changes"}, row)
        self.assertEqual((row["id"], row["changes"]), ("a", [{"rev": rev}]))
        self.assertEqual(seq_num(row["seq"]), seq)
        self.assertEqual(seq_num(body["last_seq"]), seq)
        self.assertEqual(seq_num(self.db_info(self.db)["update_seq"]), seq)

    def test_13_1_since_is_exclusive_and_round_trips(self):
        for d in ("a", "b", "c"):
            self.put_doc(self.db, d)
        all_rows = self.changes(self.db)["results"]
        self.assertEqual(self.ids({"results": all_rows}), ["a", "b", "c"])
        self.assertIncreasing([seq_num(r["seq"]) for r in all_rows])
        # Each row's seq, handed back verbatim, yields exactly the rows after it.
        for i, row in enumerate(all_rows):
            body = self.changes(self.db, f"since={seq_param(row['seq'])}")
            self.assertEqual(body["results"], all_rows[i + 1:], f"since={row['seq']!r}")
            self.assertEqual(body["pending"], 0)
        self.assertEqual(self.changes(self.db, "since=0")["results"], all_rows)
        # Nothing newer: last_seq is `since` itself.
        last = all_rows[-1]["seq"]
        body = self.changes(self.db, f"since={seq_param(last)}")
        self.assertEqual((body["results"], body["pending"]), ([], 0))
        self.assertEqual(seq_num(body["last_seq"]), seq_num(last))
        # The last_seq of a feed is itself a valid since.
        body2 = self.changes(self.db, f"since={seq_param(body['last_seq'])}")
        self.assertEqual(body2["results"], [])

    def test_13_4_since_accepts_decimal_string_of_the_seq(self):
        self.put_doc(self.db, "a")
        _, s_b = self.put_doc(self.db, "b")
        self.put_doc(self.db, "c")
        first = self.changes(self.db)["results"][0]
        body = self.changes(self.db, f"since={seq_num(first['seq'])}")
        self.assertEqual(self.ids(body), ["b", "c"])
        body = self.changes(self.db, f"since={s_b}")
        self.assertEqual(self.ids(body), ["c"])

    def test_13_2_one_row_per_doc_at_latest_seq(self):
        ra, _ = self.put_doc(self.db, "a")
        rb, _ = self.put_doc(self.db, "b")
        _, s_c = self.put_doc(self.db, "c")
        ra2, s_a2 = self.put_doc(self.db, "a", {"v": 2}, rev=ra)
        rb2, s_b2 = self.delete_doc(self.db, "b", rb)
        body = self.changes(self.db)
        self.assertEqual(self.ids(body), ["c", "a", "b"])
        self.assertIncreasing(self.seqs(body))
        rows = {row["id"]: row for row in body["results"]}
        self.assertEqual(rows["a"]["changes"], [{"rev": ra2}])
        self.assertEqual(seq_num(rows["a"]["seq"]), s_a2)
        self.assertEqual(rows["b"]["changes"], [{"rev": rb2}])
        self.assertEqual(seq_num(rows["b"]["seq"]), s_b2)
        self.assertIs(rows["b"].get("deleted"), True)
        self.assertNotIn("deleted", rows["a"])
        self.assertNotIn("deleted", rows["c"])
        self.assertEqual(seq_num(body["last_seq"]), s_b2)
        # From a seq in the middle: only the docs changed after it, once each.
        body = self.changes(self.db, f"since={s_c}")
        self.assertEqual(self.ids(body), ["a", "b"])

    def test_13_2_deleted_only_when_winner_deleted(self):
        # live winner, deleted losing leaf → no `deleted`
        self.replicate_in(self.db, [self.path_doc("mixed", 3, ["x", "b", "a"], deleted=True),
                                    self.path_doc("mixed", 2, ["y", "a"])])
        # every leaf deleted → deleted
        self.replicate_in(self.db, [self.path_doc("gone", 2, ["b", "a"], deleted=True),
                                    self.path_doc("gone", 2, ["c", "a"], deleted=True)])
        # deleted, then recreated → not deleted
        rev, _ = self.put_doc(self.db, "back")
        rev, _ = self.delete_doc(self.db, "back", rev)
        r = self.put(doc_path(self.db, "back"), {"again": True})
        self.assertStatus(r, 201)
        rows = {row["id"]: row for row in self.changes(self.db)["results"]}
        self.assertNotIn("deleted", rows["mixed"])
        self.assertEqual(rows["mixed"]["changes"], [{"rev": "2-y"}])
        self.assertIs(rows["gone"].get("deleted"), True)
        self.assertEqual(rows["gone"]["changes"], [{"rev": "2-c"}])
        self.assertNotIn("deleted", rows["back"])
        self.assertEqual(rows["back"]["changes"], [{"rev": r.body["rev"]}])

    def test_13_2_new_conflict_branch_moves_doc_to_end(self):
        self.replicate_in(self.db, [self.path_doc("m", 2, ["b", "a"])])
        self.put_doc(self.db, "other")
        self.replicate_in(self.db, [self.path_doc("m", 2, ["c", "a"])])
        body = self.changes(self.db)
        self.assertEqual(self.ids(body), ["other", "m"])
        self.assertEqual(seq_num(body["results"][-1]["seq"]), self.update_seq(self.db))
        self.assertEqual(body["results"][-1]["changes"], [{"rev": "2-c"}])

    def test_13_2_known_revs_take_no_seq(self):
        docs = [self.path_doc("r", 2, ["b", "a"], v=1)]
        self.replicate_in(self.db, docs)
        before = self.changes(self.db)
        self.replicate_in(self.db, docs)
        self.replicate_in(self.db, [self.path_doc("r", 1, ["a"])])
        after = self.changes(self.db)
        self.assertEqual(after, before)

    def test_13_2_local_docs_not_in_feed(self):
        self.put_doc(self.db, "a")
        self.assertStatus(self.put(doc_path(self.db, "_local/l"), {"x": 1}), 201)
        self.put_doc(self.db, "_design/d")
        self.assertEqual(self.ids(self.changes(self.db)), ["a", "_design/d"])

    # -- limit, pending, last_seq --

    def test_13_3_limit_pending_last_seq_paging(self):
        seqs = [self.put_doc(self.db, f"d{i}")[1] for i in range(5)]
        body = self.changes(self.db, "limit=2")
        self.assertEqual(self.ids(body), ["d0", "d1"])
        self.assertEqual(seq_num(body["last_seq"]), seqs[1], "limit stopped the scan: last row's seq")
        self.assertEqual(body["pending"], 3)
        body = self.changes(self.db, f"limit=2&since={seq_param(body['last_seq'])}")
        self.assertEqual(self.ids(body), ["d2", "d3"])
        self.assertEqual(seq_num(body["last_seq"]), seqs[3])
        self.assertEqual(body["pending"], 1)
        body = self.changes(self.db, f"limit=2&since={seq_param(body['last_seq'])}")
        self.assertEqual(self.ids(body), ["d4"])
        self.assertEqual(seq_num(body["last_seq"]), seqs[4])
        self.assertEqual(body["pending"], 0)
        body = self.changes(self.db, f"limit=2&since={seq_param(body['last_seq'])}")
        self.assertEqual((body["results"], body["pending"]), ([], 0))
        self.assertEqual(seq_num(body["last_seq"]), seqs[4])
        # A limit exactly at the end leaves nothing pending.
        body = self.changes(self.db, "limit=5")
        self.assertEqual((len(body["results"]), body["pending"]), (5, 0))
        self.assertEqual(seq_num(body["last_seq"]), seqs[4])

    def test_13_3_pending_counts_docs_not_writes(self):
        revs = {}
        for i in range(4):
            revs[f"d{i}"], _ = self.put_doc(self.db, f"d{i}")
        self.put_doc(self.db, "d1", rev=revs["d1"])  # d1 moves to the end: 4 docs, 4 rows
        body = self.changes(self.db, "limit=1")
        self.assertEqual(self.ids(body), ["d0"])
        self.assertEqual(body["pending"], 3)

    def test_13_1_limit_zero(self):
        for i in range(3):
            self.put_doc(self.db, f"d{i}")
        body = self.changes(self.db, "limit=0")
        self.assertEqual(body["results"], [])
        full = self.changes(self.db)["results"]
        after = [r for r in full if seq_num(r["seq"]) > seq_num(body["last_seq"])]
        self.assertEqual(body["pending"], len(after), f"pending vs last_seq {body}")

    def test_13_3_last_seq_when_trailing_changes_filtered_out(self):
        self.put_doc(self.db, "a")
        _, s_b = self.put_doc(self.db, "b")
        self.put_doc(self.db, "c")
        _, s_end = self.put_doc(self.db, "d")
        body = self.changes(self.db, f"filter=_doc_ids&doc_ids={qjson(['a', 'b'])}")
        self.assertEqual(self.ids(body), ["a", "b"])
        self.assertEqual(seq_num(body["last_seq"]), s_end, "the scan reached the end: db seq")
        self.assertEqual(body["pending"], 0)
        body = self.changes(self.db, "filter=_design")
        self.assertEqual((body["results"], body["pending"]), ([], 0))
        self.assertEqual(seq_num(body["last_seq"]), s_end)
        body = self.changes(self.db, "filter=_selector", body={"selector": {"none": 1}})
        self.assertEqual(body["results"], [])
        self.assertEqual(seq_num(body["last_seq"]), s_end)
        # since in the middle, nothing after it matches: still the db's seq.
        body = self.changes(self.db, f"filter=_doc_ids&doc_ids={qjson(['a'])}&since={s_b}")
        self.assertEqual(body["results"], [])
        self.assertEqual(seq_num(body["last_seq"]), s_end)

    def test_13_3_filtered_feed_with_limit(self):
        _, s_a = self.put_doc(self.db, "a")
        self.put_doc(self.db, "b")
        _, s_c = self.put_doc(self.db, "c")
        _, s_end = self.put_doc(self.db, "d")
        q = f"filter=_doc_ids&doc_ids={qjson(['a', 'c'])}&limit=1"
        body = self.changes(self.db, q)
        self.assertEqual(self.ids(body), ["a"])
        self.assertEqual(seq_num(body["last_seq"]), s_a)
        body = self.changes(self.db, q + f"&since={seq_param(body['last_seq'])}")
        self.assertEqual(self.ids(body), ["c"])
        self.assertEqual(seq_num(body["results"][0]["seq"]), s_c)
        self.assertEqual(seq_num(body["last_seq"]), s_c, "limit stopped the scan: last row's seq")
        body = self.changes(self.db, q + f"&since={seq_param(body['last_seq'])}")
        self.assertEqual((body["results"], body["pending"]), ([], 0))
        self.assertEqual(seq_num(body["last_seq"]), s_end)

    # -- descending, since=now --

    def test_13_1_descending(self):
        seqs = [self.put_doc(self.db, d)[1] for d in ("a", "b", "c", "d")]
        body = self.changes(self.db, "descending=true")
        self.assertEqual(self.ids(body), ["d", "c", "b", "a"])
        self.assertEqual(self.seqs(body), seqs[::-1])
        # since is ignored when descending.
        body = self.changes(self.db, f"descending=true&since={seqs[1]}")
        self.assertEqual(self.ids(body), ["d", "c", "b", "a"])
        body = self.changes(self.db, "descending=true&limit=2")
        self.assertEqual(self.ids(body), ["d", "c"])
        self.assertEqual(seq_num(body["last_seq"]), seqs[2], "limit stopped the scan: last row's seq")
        body = self.changes(self.db, "descending=false")
        self.assertEqual(self.ids(body), ["a", "b", "c", "d"])

    def test_13_1_descending_one_row_per_doc(self):
        ra, _ = self.put_doc(self.db, "a")
        self.put_doc(self.db, "b")
        self.put_doc(self.db, "a", rev=ra)
        body = self.changes(self.db, "descending=true")
        self.assertEqual(self.ids(body), ["a", "b"])

    def test_13_4_since_now(self):
        self.put_doc(self.db, "a")
        _, s = self.put_doc(self.db, "b")
        body = self.changes(self.db, "since=now")
        self.assertEqual((body["results"], body["pending"]), ([], 0))
        self.assertEqual(seq_num(body["last_seq"]), s)
        rev, s2 = self.put_doc(self.db, "c")
        body = self.changes(self.db, f"since={seq_param(body['last_seq'])}")
        self.assertEqual(body["results"], [{"seq": body["results"][0]["seq"], "id": "c",
                                            "changes": [{"rev": rev}]}])
        self.assertEqual(seq_num(body["results"][0]["seq"]), s2)
        empty = self.new_db("-e")
        body = self.changes(empty, "since=now")
        self.assertEqual((body["results"], seq_num(body["last_seq"]), body["pending"]), ([], 0, 0))

    # -- include_docs, conflicts, attachments --

    def test_13_1_include_docs(self):
        ra, _ = self.put_doc(self.db, "a", {"v": 1, "nested": {"k": [1, 2]}})
        rb, _ = self.put_doc(self.db, "b", {"v": 2})
        rb2, _ = self.delete_doc(self.db, "b", rb)
        rd, _ = self.put_doc(self.db, "_design/x", {"language": "javascript"})
        rows = {r["id"]: r for r in self.changes(self.db, "include_docs=true")["results"]}
        self.assertEqual(rows["a"]["doc"], {"_id": "a", "_rev": ra, "v": 1, "nested": {"k": [1, 2]}})
        self.assertEqual(rows["b"]["doc"], {"_id": "b", "_rev": rb2, "_deleted": True})
        self.assertIs(rows["b"]["deleted"], True)
        self.assertEqual(rows["_design/x"]["doc"],
                         {"_id": "_design/x", "_rev": rd, "language": "javascript"})
        for r in self.changes(self.db)["results"] + self.changes(self.db, "include_docs=false")["results"]:
            self.assertNotIn("doc", r)

    def test_13_1_include_docs_with_conflicts(self):
        self.replicate_in(self.db, [self.path_doc("c", 2, ["b", "a"], v="b"),
                                    self.path_doc("c", 2, ["c", "a"], v="c"),
                                    self.path_doc("c", 3, ["x", "y", "a"], deleted=True)])
        self.put_doc(self.db, "plain")
        body = self.changes(self.db, "include_docs=true&conflicts=true")
        rows = {r["id"]: r for r in body["results"]}
        self.assertEqual(rows["c"]["doc"], {"_id": "c", "_rev": "2-c", "v": "c", "_conflicts": ["2-b"]})
        self.assertNotIn("_conflicts", rows["plain"]["doc"])
        body = self.changes(self.db, "include_docs=true")
        self.assertEqual({r["id"]: r for r in body["results"]}["c"]["doc"],
                         {"_id": "c", "_rev": "2-c", "v": "c"})
        for r in self.changes(self.db, "conflicts=true")["results"]:
            self.assertNotIn("doc", r, "conflicts without include_docs adds nothing")

    def test_13_1_include_docs_with_attachments(self):
        att = {"a.txt": {"content_type": "text/plain", "data": "aGVsbG8="}}
        r = self.put(doc_path(self.db, "att"), {"v": 1, "_attachments": att})
        self.assertStatus(r, 201)
        rev = r.body["rev"]
        row = self.changes(self.db, "include_docs=true")["results"][0]
        stub = row["doc"]["_attachments"]["a.txt"]
        self.assertEqual(row["doc"]["_rev"], rev)
        self.assertIs(stub.get("stub"), True, stub)
        self.assertNotIn("data", stub)
        self.assertEqual((stub["content_type"], stub["length"], stub["revpos"]), ("text/plain", 5, 1))
        self.assertTrue(stub["digest"].startswith("md5-"), stub)
        row = self.changes(self.db, "include_docs=true&attachments=true")["results"][0]
        inline = row["doc"]["_attachments"]["a.txt"]
        self.assertEqual(inline["data"], "aGVsbG8=")
        self.assertNotIn("stub", inline)
        row = self.changes(self.db, "include_docs=true&att_encoding_info=true")["results"][0]
        self.assertIn("a.txt", row["doc"]["_attachments"])

    # -- style --

    def test_13_2_style_all_docs_lists_every_leaf_in_leaf_order(self):
        # Leaves 2-b, 2-c (live) and 3-x (deleted): leaf order (live, pos, id) descending
        # (revision-trees.md §4) = 2-c, 2-b, 3-x.
        self.replicate_in(self.db, [self.path_doc("c", 2, ["b", "a"]),
                                    self.path_doc("c", 2, ["c", "a"]),
                                    self.path_doc("c", 3, ["x", "y", "a"], deleted=True)])
        # Every leaf deleted: (pos, id) descending = 3-q, 2-z, 2-d.
        self.replicate_in(self.db, [self.path_doc("dd", 2, ["d", "a"], deleted=True),
                                    self.path_doc("dd", 2, ["z", "a"], deleted=True),
                                    self.path_doc("dd", 3, ["q", "p", "a"], deleted=True)])
        # Longer live leaf beats shorter ones; id breaks ties byte-wise.
        self.replicate_in(self.db, [self.path_doc("t", 2, ["B", "a"]),
                                    self.path_doc("t", 2, ["a9", "a"]),
                                    self.path_doc("t", 3, ["k", "j", "a"])])
        rev, _ = self.put_doc(self.db, "plain")
        rows = {r["id"]: r for r in self.changes(self.db, "style=all_docs")["results"]}
        self.assertEqual(rows["c"]["changes"], [{"rev": "2-c"}, {"rev": "2-b"}, {"rev": "3-x"}])
        self.assertNotIn("deleted", rows["c"])
        self.assertEqual(rows["dd"]["changes"], [{"rev": "3-q"}, {"rev": "2-z"}, {"rev": "2-d"}])
        self.assertIs(rows["dd"].get("deleted"), True)
        self.assertEqual(rows["t"]["changes"], [{"rev": "3-k"}, {"rev": "2-a9"}, {"rev": "2-B"}])
        self.assertEqual(rows["plain"]["changes"], [{"rev": rev}])
        for style in ("", "style=main_only"):
            rows = {r["id"]: r for r in self.changes(self.db, style)["results"]}
            self.assertEqual(rows["c"]["changes"], [{"rev": "2-c"}], style)
            self.assertEqual(rows["dd"]["changes"], [{"rev": "3-q"}], style)
            self.assertEqual(rows["t"]["changes"], [{"rev": "3-k"}], style)
        rows = {r["id"]: r for r in self.changes(self.db, "style=all_docs&include_docs=true")["results"]}
        self.assertEqual(rows["c"]["doc"]["_rev"], "2-c", "include_docs shows the winner")

    # -- filters --

    def test_13_1_filter_doc_ids_get_param(self):
        for d in ("a", "b", "c", "d"):
            self.put_doc(self.db, d)
        body = self.changes(self.db, f"filter=_doc_ids&doc_ids={qjson(['c', 'a', 'missing', 'a'])}")
        self.assertEqual(self.ids(body), ["a", "c"], "feed order (by seq), each doc once")
        self.assertEqual(body["pending"], 0)
        self.assertEqual(seq_num(body["last_seq"]), self.update_seq(self.db))
        body = self.changes(self.db, f"filter=_doc_ids&doc_ids={qjson([])}")
        self.assertEqual(body["results"], [])

    def test_13_1_filter_doc_ids_post_body(self):
        for d in ("a", "b", "c", "_design/z"):
            self.put_doc(self.db, d)
        body = self.changes(self.db, "filter=_doc_ids", body={"doc_ids": ["b", "_design/z"]})
        self.assertEqual(self.ids(body), ["b", "_design/z"])
        body = self.changes(self.db, "filter=_doc_ids&style=all_docs&include_docs=true",
                            body={"doc_ids": ["c"]})
        self.assertEqual(self.ids(body), ["c"])
        self.assertEqual(body["results"][0]["doc"]["_id"], "c")

    def test_13_1_bad_doc_ids_400(self):
        self.put_doc(self.db, "a")
        url = self.changes_url(self.db, "filter=_doc_ids")
        for bad in ({"a": 1}, "a", [1], ["a", None], 5):
            with self.subTest(get=bad):
                r = self.get(self.changes_url(self.db, f"filter=_doc_ids&doc_ids={qjson(bad)}"))
                self.assertError(r, 400, "bad_request", BAD_DOC_IDS)
            with self.subTest(post=bad):
                self.assertError(self.post(url, {"doc_ids": bad}), 400, "bad_request", BAD_DOC_IDS)
        with self.subTest("doc_ids not JSON"):
            r = self.get(self.changes_url(self.db, "filter=_doc_ids&doc_ids=notjson"))
            self.assertError(r, 400, None)

    def selector_fixture(self):
        docs = {
            "d1": {"n": 1, "tag": "x", "a": {"b": {"c": 1}}, "opt": True},
            "d2": {"n": 2, "tag": "y", "a": {"b": {"c": 2}}},
            "d3": {"n": 3, "tag": "z", "a": {"b": {"c": 3}}, "opt": None},
            "d4": {"n": 4, "tag": "x", "a": {"b": {}}},
            "d5": {"n": 5, "tag": "w"},
            "nofield": {"tag": "q"},
        }
        for docid, body in docs.items():
            self.put_doc(self.db, docid, body)
        return list(docs)

    def test_13_1_filter_selector_operators(self):
        order = self.selector_fixture()
        cases = [
            ({"tag": "x"}, ["d1", "d4"]),
            ({"n": {"$eq": 3}}, ["d3"]),
            ({"n": {"$gt": 3}}, ["d4", "d5"]),
            ({"n": {"$gte": 3}}, ["d3", "d4", "d5"]),
            ({"n": {"$lt": 2}}, ["d1"]),
            ({"n": {"$lte": 2}}, ["d1", "d2"]),
            ({"tag": {"$ne": "x"}}, ["d2", "d3", "d5", "nofield"]),
            ({"tag": {"$in": ["y", "z", "nope"]}}, ["d2", "d3"]),
            ({"opt": {"$exists": True}}, ["d1", "d3"]),
            ({"opt": {"$exists": False}}, ["d2", "d4", "d5", "nofield"]),
            ({"$and": [{"n": {"$gt": 1}}, {"n": {"$lt": 4}}]}, ["d2", "d3"]),
            ({"$or": [{"n": 1}, {"tag": "z"}]}, ["d1", "d3"]),
            ({"n": {"$gt": 1, "$lt": 5}}, ["d2", "d3", "d4"]),
            ({"tag": "x", "n": {"$gt": 1}}, ["d4"]),
            ({"a": {"b": {"c": 2}}}, ["d2"]),
            ({"a.b.c": 3}, ["d3"]),
            ({"a.b.c": {"$gte": 2}}, ["d2", "d3"]),
            ({"a": {"b": {"c": {"$lt": 3}}}}, ["d1", "d2"]),
            ({"a.b.c": {"$exists": False}}, ["d4", "d5", "nofield"]),
            ({"$or": [{"a.b.c": 1}, {"$and": [{"tag": "x"}, {"n": 4}]}]}, ["d1", "d4"]),
            ({"_id": {"$gt": "d3"}}, ["d4", "d5", "nofield"]),
            ({"nope": 1}, []),
            ({}, order),
        ]
        end = self.update_seq(self.db)
        for selector, expected in cases:
            with self.subTest(selector=selector):
                body = self.changes(self.db, "filter=_selector", body={"selector": selector})
                self.assertEqual(self.ids(body), expected)
                self.assertEqual(seq_num(body["last_seq"]), end)
                self.assertEqual(body["pending"], 0)

    def test_13_1_filter_selector_ne_skips_missing_field(self):
        # Mango: a condition on a field the doc lacks fails (only $exists:false matches it).
        self.selector_fixture()
        body = self.changes(self.db, "filter=_selector", body={"selector": {"n": {"$ne": 2}}})
        self.assertEqual(self.ids(body), ["d1", "d3", "d4", "d5"])

    def test_13_1_filter_selector_sees_the_latest_winner(self):
        rev, _ = self.put_doc(self.db, "a", {"state": "old"})
        self.put_doc(self.db, "b", {"state": "new"})
        self.put_doc(self.db, "a", {"state": "new"}, rev=rev)
        body = self.changes(self.db, "filter=_selector&include_docs=true",
                            body={"selector": {"state": "new"}})
        self.assertEqual(self.ids(body), ["b", "a"])
        self.assertEqual(body["results"][1]["doc"]["state"], "new")
        body = self.changes(self.db, "filter=_selector", body={"selector": {"state": "old"}})
        self.assertEqual(body["results"], [])

    def test_13_1_selector_missing_or_bad_400(self):
        self.put_doc(self.db, "a")
        url = self.changes_url(self.db, "filter=_selector")
        self.assertError(self.post(url, {}), 400, "bad_request", NO_SELECTOR)
        self.assertError(self.get(url), 400, "bad_request", NO_SELECTOR)
        for bad in ("x", [1], {"n": {"$bogus": 1}}, {"$and": {"n": 1}}, {"n": {"$in": 5}}):
            with self.subTest(selector=bad):
                self.assertError(self.post(url, {"selector": bad}), 400, None)

    def test_13_1_filter_design(self):
        self.put_doc(self.db, "a")
        self.put_doc(self.db, "_design/one", {"views": {}})
        self.put_doc(self.db, "b")
        rev, _ = self.put_doc(self.db, "_design/two")
        self.delete_doc(self.db, "_design/two", rev)
        self.assertStatus(self.put(doc_path(self.db, "_local/l"), {}), 201)
        body = self.changes(self.db, "filter=_design")
        self.assertEqual(self.ids(body), ["_design/one", "_design/two"])
        self.assertIs(body["results"][1].get("deleted"), True)
        self.assertEqual(seq_num(body["last_seq"]), self.update_seq(self.db))

    def test_13_1_unknown_builtin_filter_400(self):
        self.put_doc(self.db, "a")
        for name in ("_x", "_docids", "_bogus"):
            with self.subTest(filter=name):
                self.assertError(self.get(self.changes_url(self.db, f"filter={name}")), 400,
                                 "bad_request", UNKNOWN_FILTER)
                self.assertError(self.post(self.changes_url(self.db, f"filter={name}"), {}), 400,
                                 "bad_request", UNKNOWN_FILTER)

    def test_13_1_unknown_ddoc_filter_404(self):
        self.put_doc(self.db, "a")
        r = self.get(self.changes_url(self.db, "filter=nodoc/nofilter"))
        self.assertError(r, 404, "not_found")

    # -- parameter errors --

    def test_13_1_bad_since_400(self):
        self.put_doc(self.db, "a")
        for bad in ("abc", "x-1", qjson({}), qjson([1]), "1.5x"):
            with self.subTest(since=bad):
                self.assertError(self.get(self.changes_url(self.db, f"since={bad}")), 400,
                                 "bad_request", BAD_SINCE)

    def test_13_1_bad_feed_400(self):
        for bad in ("bogus", "Normal", "poll", ""):
            with self.subTest(feed=bad):
                self.assertError(self.get(self.changes_url(self.db, f"feed={bad}")), 400,
                                 "bad_request", BAD_FEED)

    def test_13_1_bad_limit_400(self):
        self.put_doc(self.db, "a")
        for bad in ("-1", "abc", "1.5", ""):
            with self.subTest(limit=bad):
                self.assertError(self.get(self.changes_url(self.db, f"limit={bad}")), 400, None,
                                 BAD_LIMIT)

    def test_13_1_bad_heartbeat_and_timeout_400(self):
        # One doc exists, so an accepted longpoll answers at once instead of waiting.
        self.put_doc(self.db, "a")
        for param, values in (("heartbeat", ("0", "-5", "abc", "1.5")),
                              ("timeout", ("-1", "abc", "1.5"))):
            for bad in values:
                for feed in ("longpoll", "normal"):
                    with self.subTest(param=param, value=bad, feed=feed):
                        r = self.get(self.changes_url(self.db, f"feed={feed}&{param}={bad}"),
                                     timeout=5)
                        self.assertError(r, 400, None)

    def test_13_1_heartbeat_true_and_timeout_values_accepted(self):
        self.put_doc(self.db, "a")
        for q in ("feed=longpoll&heartbeat=true", "feed=longpoll&heartbeat=10000",
                  "feed=longpoll&timeout=0", "feed=longpoll&timeout=999999",
                  "heartbeat=5000", "timeout=100"):
            with self.subTest(q=q):
                body = self.changes(self.db, q)
                self.assertEqual(self.ids(body), ["a"])

    def test_13_1_seq_interval_accepted(self):
        for i in range(5):
            self.put_doc(self.db, f"d{i}")
        plain = self.changes(self.db)
        body = self.changes(self.db, "seq_interval=2")
        self.assertEqual(self.ids(body), self.ids(plain))
        for got, want in zip(body["results"], plain["results"]):
            self.assertEqual(got["changes"], want["changes"])
            self.assertIn(got["seq"], (None, want["seq"]), "seq is the real one or null")
        self.assertEqual(seq_num(body["last_seq"]), seq_num(plain["last_seq"]))
        for bad in ("0", "-1", "abc"):
            with self.subTest(seq_interval=bad):
                self.assertError(self.get(self.changes_url(self.db, f"seq_interval={bad}")), 400, None)

    # -- endpoint --

    def test_13_missing_db_404(self):
        for q in ("", "feed=longpoll&timeout=100", "feed=continuous&timeout=100",
                  "feed=eventsource&timeout=100", "since=now"):
            with self.subTest(q=q):
                r = self.get(self.changes_url("no_such_db", q), timeout=5)
                self.assertError(r, 404, "not_found", NO_DB)
        r = self.post(self.changes_url("no_such_db", "filter=_doc_ids"), {"doc_ids": ["a"]})
        self.assertError(r, 404, "not_found", NO_DB)

    def test_1_3_wrong_method_405(self):
        self.assertMethodNotAllowed(self.put(self.changes_url(self.db), {}), "GET,POST,HEAD")
        self.assertMethodNotAllowed(self.delete(self.changes_url(self.db)), "GET,POST,HEAD")

    def test_13_head_and_post(self):
        self.put_doc(self.db, "a")
        r = self.head(self.changes_url(self.db))
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, b"")
        get = self.changes(self.db)
        self.assertEqual(self.changes(self.db, body={}), get)
        r = self.post(self.changes_url(self.db), b"", content_type="application/json")  # empty body
        self.assertStatus(r, 200)
        self.assertEqual(r.body, get)

    def test_1_1_post_wrong_content_type_415(self):
        r = self.post(self.changes_url(self.db, "filter=_doc_ids"), b'{"doc_ids":["a"]}',
                      content_type="text/plain")
        self.assertError(r, 415, "bad_content_type", "Content-Type must be application/json")

    def test_13_post_body_not_json_400(self):
        r = self.post(self.changes_url(self.db, "filter=_doc_ids"), b"{nope",
                      content_type="application/json")
        self.assertError(r, 400, "bad_request")


class ChangesRestartTest(ChangesTestCase):
    """§13.4: a seq once emitted stays a valid since after a restart, and seqs keep increasing."""

    def test_13_4_since_survives_restart(self):
        db = self.new_db()
        ra, _ = self.put_doc(db, "a")
        self.put_doc(db, "b")
        before = self.changes(db)
        mid = before["results"][0]["seq"]
        self.node.restart()
        after = self.changes(db)
        self.assertEqual(after, before, "the feed is durable")
        rc, s_c = self.put_doc(db, "c")
        self.assertGreater(s_c, seq_num(before["last_seq"]), "seqs keep increasing after restart")
        body = self.changes(db, f"since={seq_param(before['last_seq'])}")
        self.assertEqual([(r["id"], r["changes"]) for r in body["results"]], [("c", [{"rev": rc}])])
        body = self.changes(db, f"since={seq_param(mid)}")
        self.assertEqual(self.ids(body), ["b", "c"])
        self.put_doc(db, "a", rev=ra)
        self.assertEqual(self.ids(self.changes(db)), ["b", "c", "a"])


if __name__ == "__main__":
    unittest.main()
