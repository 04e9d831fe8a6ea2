"""Multipart: http-api.md §6.1 (GET ?attachments=true as multipart/related, open_revs as
multipart/mixed with nested multipart/related parts), §6.2/§7.4 (PUT multipart/related, interactive
and new_edits=false, follows parts, gzip-encoded parts, stubs, length and digest checks).

Storage is CouchDB 3.5's: identity parts of compressible types (text/*, application/json, …) are
stored gzip (level 8) with the digest of the stored bytes; a gzip-encoded incoming part is stored as
sent (its `digest`, when given, is checked against the bytes as sent). Multipart output renders the
JSON part with att_encoding_info (as chttpd_db does), so gzip-stored attachments show
`encoding`/`encoded_length` there (follows entries and stubs alike), and their parts carry
`Content-Encoding: gzip` and the stored bytes."""

import gzip
import json
import os
import random
import unittest

from divan_harness import NodeTestCase, db_path, doc_path, qjson, test_seed
from test_attachments import (JSON_ACCEPT, MiB, att_path, b64, content_type_param, digest_of,
                              follows_entry, inline, inline_entry, is_gzip_stored, md5_b64,
                              mime_type, parse_multipart, random_bytes, related_request,
                              stored_bytes, stub_entry)

MIXED_ACCEPT = {"Accept": "multipart/mixed"}


class MultipartTestBase(NodeTestCase):

    def setUp(self):
        self.db = self.new_db()

    def path(self, docid, query="", db=None):
        return doc_path(db or self.db, docid) + (("?" + query) if query else "")

    def doc_json(self, docid, query="", db=None):
        r = self.get(self.path(docid, query, db), headers=JSON_ACCEPT)
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        return r.body

    def put_doc(self, docid, body, query=""):
        r = self.put(self.path(docid, query), body)
        self.assertStatus(r, 201)
        return r.body["rev"]

    def put_related(self, docid, doc, atts, query="", boundary="abc123divan", db=None):
        ctype, body = related_request(doc, atts, boundary)
        return self.put(self.path(docid, query, db), body, headers={"Content-Type": ctype})

    def multipart_parts(self, resp, expected_type):
        ctype = resp.header("Content-Type")
        self.assertEqual(mime_type(ctype), expected_type, f"Content-Type of {resp!r}")
        return parse_multipart(resp.raw, content_type_param(ctype, "boundary"))

    def check_related_parts(self, parts, expected):
        """`parts` of a multipart/related doc: a JSON part, then one part per `follows` attachment
        in `_attachments` order. `expected` maps name → (identity bytes, content_type, revpos,
        "follows" or "stub"). The JSON part is rendered with att_encoding_info (stubs included);
        a gzip-stored attachment's part carries `Content-Encoding: gzip` and the stored gzip
        bytes, an identity-stored one the identity bytes and no Content-Encoding. Returns the
        parsed JSON doc."""
        self.assertGreaterEqual(len(parts), 1)
        head, first = parts[0]
        self.assertEqual(mime_type(head.get("content-type")), "application/json", head)
        doc = json.loads(first.decode("utf-8"))
        atts = doc.get("_attachments", {})
        self.assertEqual(set(atts), set(expected), doc)
        follows = []
        for name, (data, ctype, revpos, kind) in expected.items():
            if kind == "follows":
                want = follows_entry(data, ctype, revpos)
            else:
                want = stub_entry(data, ctype, revpos, info=True)
            self.assertEqual(atts[name], want, name)
        for name in atts:  # document order decides the part order
            if expected[name][3] == "follows":
                follows.append(name)
        self.assertEqual(len(parts) - 1, len(follows),
                         f"one part per follows attachment {follows}, got {len(parts) - 1}")
        for name, (headers, content) in zip(follows, parts[1:]):
            data, ctype, _, _ = expected[name]
            sent = stored_bytes(data, ctype)
            with self.subTest(part=name):
                self.assertEqual(content, sent, f"bytes of part {name}")
                self.assertEqual(headers.get("content-encoding"),
                                 "gzip" if is_gzip_stored(ctype) else None)
                if "content-disposition" in headers:
                    self.assertEqual(headers["content-disposition"],
                                     f'attachment; filename="{name}"')
                if "content-type" in headers:
                    self.assertEqual(mime_type(headers["content-type"]), ctype)
                if "content-length" in headers:
                    self.assertEqual(headers["content-length"], str(len(sent)))
        return doc


# ---- GET ?attachments=true: multipart/related vs JSON (§6.1) -----------------------------------

class GetRelatedTest(MultipartTestBase):

    def setUp(self):
        super().setUp()
        self.a, self.z = b"hello related", os.urandom(5000)
        self.r1 = self.put_doc("d", {"v": 1, "_attachments": {"a.txt": inline(self.a, "text/plain")}})
        self.r2 = self.put_doc("d", {"_rev": self.r1, "v": 2, "_attachments": {
            "a.txt": {"stub": True}, "z.bin": inline(self.z)}})

    def all_follows(self):
        return {"a.txt": (self.a, "text/plain", 1, "follows"),
                "z.bin": (self.z, "application/octet-stream", 2, "follows")}

    def test_no_accept_header_gives_multipart_related(self):
        r = self.get(self.path("d", "attachments=true"))  # http.client sends no Accept header
        self.assertStatus(r, 200)
        doc = self.check_related_parts(self.multipart_parts(r, "multipart/related"),
                                       self.all_follows())
        self.assertEqual((doc["_id"], doc["_rev"], doc["v"]), ("d", self.r2, 2))

    def test_accept_admitting_related(self):
        for accept in ("multipart/related", "multipart/*", "*/*",
                       "application/json, multipart/related"):
            with self.subTest(accept=accept):
                r = self.get(self.path("d", "attachments=true"), headers={"Accept": accept})
                self.assertStatus(r, 200)
                self.check_related_parts(self.multipart_parts(r, "multipart/related"),
                                         self.all_follows())

    def test_accept_json_gives_base64_json(self):
        r = self.get(self.path("d", "attachments=true"), headers=JSON_ACCEPT)
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(r.body["_attachments"], {
            "a.txt": inline_entry(self.a, "text/plain", 1),
            "z.bin": inline_entry(self.z, "application/octet-stream", 2)})

    def test_atts_since_related_sends_only_newer(self):
        r = self.get(self.path("d", "atts_since=" + qjson([self.r1])))
        self.assertStatus(r, 200)
        self.check_related_parts(self.multipart_parts(r, "multipart/related"), {
            "a.txt": (self.a, "text/plain", 1, "stub"),
            "z.bin": (self.z, "application/octet-stream", 2, "follows")})

    def test_without_attachments_option_is_json(self):
        r = self.get(self.path("d"))
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(r.body["_attachments"]["z.bin"],
                         stub_entry(self.z, "application/octet-stream", 2))

    def test_doc_without_attachments_is_json(self):
        self.put_doc("plain", {"v": 1})
        r = self.get(self.path("plain", "attachments=true"))
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(r.body["v"], 1)


# ---- open_revs: JSON array vs multipart/mixed (§6.1) -------------------------------------------

class OpenRevsMultipartTest(MultipartTestBase):

    A, B, C, F = "a" * 32, "b" * 32, "c" * 32, "f" * 32

    def setUp(self):
        super().setUp()
        self.att_a, self.att_z = b"text of a", os.urandom(3000)
        self.rb, self.rc = "2-" + self.B, "2-" + self.C
        self.missing = "3-" + self.F
        self.replicate_in(self.db, [
            self.path_doc("d", 1, [self.A], v="a", _attachments={
                "a.txt": inline(self.att_a, "text/plain", revpos=1)})])
        # Two requests: 2-b's stub must find 1-a while 1-a is still a leaf (bodies of internal
        # revisions may be dropped, revision-trees.md §3).
        self.replicate_in(self.db, [
            self.path_doc("d", 2, [self.B, self.A], v="b", _attachments={
                "a.txt": {"stub": True, "revpos": 1},
                "z.bin": inline(self.att_z, "application/octet-stream", revpos=2)})])
        self.replicate_in(self.db, [self.path_doc("d", 2, [self.C, self.A], v="c")])

    def open_revs(self, query, headers):
        return self.get(self.path("d", query), headers=headers)

    def query(self, revs, extra=""):
        return "revs=true&open_revs=" + qjson(revs) + extra

    def split_mixed(self, r):
        self.assertStatus(r, 200)
        parts = self.multipart_parts(r, "multipart/mixed")
        found, missing = {}, []
        for headers, content in parts:
            ctype = headers.get("content-type", "")
            mt = mime_type(ctype)
            if mt == "application/json" and content_type_param(ctype, "error") == "true":
                missing.append(json.loads(content.decode("utf-8")))
                continue
            if mt == "application/json":
                doc = json.loads(content.decode("utf-8"))
                found[doc["_rev"]] = ("json", headers, doc)
            elif mt == "multipart/related":
                inner = parse_multipart(content, content_type_param(ctype, "boundary"))
                doc = json.loads(inner[0][1].decode("utf-8"))
                found[doc["_rev"]] = ("related", headers, inner)
            else:
                self.fail(f"unexpected part type {ctype!r}")
        return parts, found, missing

    def test_json_array_with_accept_json(self):
        r = self.open_revs(self.query([self.rb, self.rc, self.missing]), JSON_ACCEPT)
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertIsInstance(r.body, list)
        self.assertEqual(r.body[-1], {"missing": self.missing}, "missing entries come last")
        docs = {e["ok"]["_rev"]: e["ok"] for e in r.body if "ok" in e}
        self.assertEqual(set(docs), {self.rb, self.rc})
        self.assertEqual(docs[self.rb]["_attachments"], {
            "a.txt": stub_entry(self.att_a, "text/plain", 1),
            "z.bin": stub_entry(self.att_z, "application/octet-stream", 2)})
        self.assertNotIn("_attachments", docs[self.rc])
        r = self.open_revs(self.query([self.rb], "&attachments=true"), JSON_ACCEPT)
        self.assertStatus(r, 200)
        self.assertEqual(r.body[0]["ok"]["_attachments"], {
            "a.txt": inline_entry(self.att_a, "text/plain", 1),
            "z.bin": inline_entry(self.att_z, "application/octet-stream", 2)})

    def test_mixed_nested_related_and_error_part(self):
        r = self.open_revs(self.query([self.rb, self.rc, self.missing]), MIXED_ACCEPT)
        parts, found, missing = self.split_mixed(r)
        self.assertEqual(len(parts), 3)
        self.assertEqual(missing, [{"missing": self.missing}])
        self.assertEqual(mime_type(parts[-1][0].get("content-type")), "application/json",
                         "missing revs come after the found ones")
        self.assertEqual(set(found), {self.rb, self.rc})
        kind, _, plain = found[self.rc]
        self.assertEqual(kind, "json", "a revision without attachments is a plain JSON part")
        self.assertEqual(plain, {"_id": "d", "_rev": self.rc, "v": "c",
                                 "_revisions": {"start": 2, "ids": [self.C, self.A]}})
        kind, _, inner = found[self.rb]
        self.assertEqual(kind, "related")
        doc = self.check_related_parts(inner, {
            "a.txt": (self.att_a, "text/plain", 1, "follows"),
            "z.bin": (self.att_z, "application/octet-stream", 2, "follows")})
        self.assertEqual(doc["_revisions"], {"start": 2, "ids": [self.B, self.A]})
        self.assertEqual(doc["v"], "b")
        for headers, _ in inner[1:]:  # the part headers the CouchDB replicator relies on
            self.assertIn("content-disposition", headers)
            self.assertIn("content-type", headers)
            self.assertIn("content-length", headers)

    def test_mixed_atts_since_leaves_stubs(self):
        r = self.open_revs(self.query([self.rb], "&atts_since=" + qjson(["1-" + self.A])),
                           MIXED_ACCEPT)
        _, found, missing = self.split_mixed(r)
        self.assertEqual(missing, [])
        kind, _, inner = found[self.rb]
        self.assertEqual(kind, "related")
        self.check_related_parts(inner, {
            "a.txt": (self.att_a, "text/plain", 1, "stub"),
            "z.bin": (self.att_z, "application/octet-stream", 2, "follows")})

    def test_mixed_all_stubbed_is_plain_json_part(self):
        r = self.open_revs(self.query([self.rb], "&atts_since=" + qjson([self.rb])), MIXED_ACCEPT)
        _, found, _ = self.split_mixed(r)
        kind, _, doc = found[self.rb]
        self.assertEqual(kind, "json")
        # send_docs_multipart renders every part with att_encoding_info, stubs included.
        self.assertEqual(doc["_attachments"], {
            "a.txt": stub_entry(self.att_a, "text/plain", 1, info=True),
            "z.bin": stub_entry(self.att_z, "application/octet-stream", 2, info=True)})

    def test_mixed_open_revs_all_latest(self):
        r = self.open_revs("revs=true&latest=true&open_revs=all", MIXED_ACCEPT)
        _, found, missing = self.split_mixed(r)
        self.assertEqual(missing, [])
        self.assertEqual(set(found), {self.rb, self.rc})
        self.assertEqual(found[self.rb][0], "related")

    def test_accept_variants_choose_format(self):
        q = self.query([self.rb])
        for accept in (None, "multipart/mixed", "multipart/*", "*/*"):
            with self.subTest(accept=accept):
                r = self.open_revs(q, {"Accept": accept} if accept else None)
                _, found, _ = self.split_mixed(r)
                self.assertEqual(found[self.rb][0], "related")
        r = self.open_revs(q, JSON_ACCEPT)
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(r.body[0]["ok"]["_rev"], self.rb)

    def test_regress_accept_q_values_and_case(self):
        """issue 12 part 8: q=0 in any spelling refuses a range; media types ignore case."""
        q = self.query([self.rb])
        for accept in ("MULTIPART/Mixed", "multipart/mixed;q=0.5", "application/json;q=0.1, "
                       "multipart/mixed"):
            with self.subTest(accept=accept):
                _, found, _ = self.split_mixed(self.open_revs(q, {"Accept": accept}))
                self.assertEqual(found[self.rb][0], "related")
        for accept in ("multipart/mixed;q=0.0, application/json", "multipart/mixed; Q=0.000, "
                       "application/json", "multipart/mixed;q=0, application/json"):
            with self.subTest(accept=accept):
                r = self.open_revs(q, {"Accept": accept})
                self.assertStatus(r, 200)
                self.assertJsonReply(r)

    def test_replicator_round_trip_into_other_db(self):
        """What the CouchDB replicator does: GET open_revs as multipart/mixed, PUT each nested
        multipart/related part as is with new_edits=false into the target."""
        target = self.new_db("-target")
        r = self.open_revs(self.query([self.rb, self.rc]), MIXED_ACCEPT)
        parts, found, _ = self.split_mixed(r)
        for headers, content in parts:
            ctype = headers["content-type"]
            if mime_type(ctype) == "multipart/related":
                w = self.put(self.path("d", "new_edits=false", target), content,
                             headers={"Content-Type": ctype})
            else:
                w = self.put(self.path("d", "new_edits=false", target), content,
                             headers={"Content-Type": "application/json"})
            self.assertStatus(w, 201)
        for rev in (self.rb, self.rc):
            self.assertEqual(self.doc_json("d", "rev=" + rev, target),
                             self.doc_json("d", "rev=" + rev))
        r = self.get(att_path(target, "d", "z.bin", "rev=" + self.rb))
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, self.att_z)


# ---- PUT multipart/related (§7.4) --------------------------------------------------------------

class PutRelatedTest(MultipartTestBase):

    def test_interactive_create(self):
        a, b = b"part one", os.urandom(2000)
        r = self.put_related("d", {"v": 1, "_attachments": {
            "a.txt": {"follows": True, "content_type": "text/plain", "length": len(a)},
            "b.bin": {"follows": True, "content_type": "application/octet-stream",
                      "length": len(b), "digest": digest_of(b)}}},
            [("a.txt", "text/plain", a, None), ("b.bin", "application/octet-stream", b, None)])
        self.assertStatus(r, 201)
        self.assertEqual(set(r.body), {"ok", "id", "rev"})
        self.assertRev(r.body["rev"], 1)
        doc = self.doc_json("d")
        self.assertEqual(doc, {"_id": "d", "_rev": r.body["rev"], "v": 1, "_attachments": {
            "a.txt": stub_entry(a, "text/plain", 1),
            "b.bin": stub_entry(b, "application/octet-stream", 1)}})
        self.assertEqual(self.get(att_path(self.db, "d", "b.bin")).raw, b)

    def test_interactive_update_with_stub_and_unquoted_boundary(self):
        a, b = b"kept", b"added"
        r1 = self.put_doc("d", {"_attachments": {"a": inline(a, "text/plain")}})
        doc = {"_rev": r1, "_attachments": {"a": {"stub": True, "revpos": 1},
                                            "b": {"follows": True, "content_type": "text/plain",
                                                  "length": len(b)}}}
        _, body = related_request(doc, [("b", "text/plain", b, None)], boundary="plainbound42")
        r = self.put(self.path("d"), body,
                     headers={"Content-Type": "multipart/related; boundary=plainbound42"})
        self.assertStatus(r, 201)
        self.assertRev(r.body["rev"], 2)
        self.assertEqual(self.doc_json("d")["_attachments"], {
            "a": stub_entry(a, "text/plain", 1), "b": stub_entry(b, "text/plain", 2)})

    def test_new_edits_false_follows_gzip_and_stub(self):
        # The held base is 2-b; 3-c is unknown here, so the stub is resolved by walking the
        # supplied _revisions path d → c (unknown) → b (held).
        ids = ["d" * 32, "c" * 32, "b" * 32, "a" * 32]
        old = os.urandom(900)
        self.replicate_in(self.db, [self.path_doc("d", 2, ids[2:], v=2, _attachments={
            "old.png": inline(old, "image/png", revpos=2)})])
        text = b"gzip me please\n" * 300
        gz = gzip.compress(text, mtime=0)
        new = os.urandom(1500)
        doc = self.path_doc("d", 4, ids, v=4, _attachments={
            "a.bin": {"follows": True, "content_type": "application/octet-stream",
                      "length": len(new), "revpos": 4, "digest": digest_of(new)},
            "g.txt": {"follows": True, "content_type": "text/plain", "revpos": 3,
                      "encoding": "gzip", "encoded_length": len(gz), "length": len(text),
                      "digest": digest_of(gz)},
            "old.png": {"stub": True, "revpos": 2}})
        r = self.put_related("d", doc, [
            ("a.bin", "application/octet-stream", new, None),
            ("g.txt", "text/plain", gz, {"Content-Encoding": "gzip"})], "new_edits=false")
        self.assertStatus(r, 201)
        self.assertEqual(r.body, {"ok": True, "id": "d", "rev": "4-" + ids[0]})
        got = self.doc_json("d", "revs=true")
        self.assertEqual(got["_rev"], "4-" + ids[0])
        self.assertEqual(got["_revisions"], {"start": 4, "ids": ids})
        self.assertEqual(got["v"], 4)
        self.assertEqual(got["_attachments"], {
            "a.bin": stub_entry(new, "application/octet-stream", 4),
            "g.txt": stub_entry(text, "text/plain", 3, stored=gz),  # stored as sent
            "old.png": stub_entry(old, "image/png", 2)})
        self.assertEqual(self.doc_json("d", "att_encoding_info=true")["_attachments"]["g.txt"],
                         stub_entry(text, "text/plain", 3, info=True, stored=gz))
        # (name, body with Accept-Encoding: gzip, Content-Encoding, identity body, stored bytes)
        for name, gz_body, encoding, data, stored in (
                ("a.bin", new, None, new, new), ("g.txt", gz, "gzip", text, gz),
                ("old.png", old, None, old, old)):
            with self.subTest(att=name):
                path = att_path(self.db, "d", name, "rev=4-" + ids[0])
                g = self.get(path, headers={"Accept-Encoding": "gzip"})
                self.assertStatus(g, 200)
                self.assertEqual(g.header("Content-Encoding"), encoding)
                self.assertEqual(g.raw, gz_body)
                self.assertEqual(g.header("ETag"), f'"{md5_b64(stored)}"')
                g = self.get(path)
                self.assertStatus(g, 200)
                self.assertIsNone(g.header("Content-Encoding"))
                self.assertEqual(g.raw, data)
                self.assertEqual(g.header("ETag"), f'"{md5_b64(stored)}"')
        r = self.put_related("d", doc, [
            ("a.bin", "application/octet-stream", new, None),
            ("g.txt", "text/plain", gz, {"Content-Encoding": "gzip"})], "new_edits=false")
        self.assertStatus(r, 201, "re-sending a known revision is a silent success")

    def test_new_edits_false_stub_without_base_412(self):
        doc = self.path_doc("d", 2, ["b" * 32, "a" * 32], _attachments={
            "x": {"stub": True, "revpos": 1},
            "y": {"follows": True, "content_type": "text/plain", "length": 3, "revpos": 2}})
        r = self.put_related("d", doc, [("y", "text/plain", b"yyy", None)], "new_edits=false")
        self.assertError(r, 412, "missing_stub")
        self.assertError(self.get(self.path("d")), 404, "not_found", "missing")

    def test_new_edits_false_needs_rev(self):
        doc = {"_attachments": {"y": {"follows": True, "content_type": "text/plain", "length": 3}}}
        r = self.put_related("d", doc, [("y", "text/plain", b"yyy", None)], "new_edits=false")
        self.assertError(r, 400, "bad_request",
                         "When `new_edits: false`, the document needs `_rev` or `_revisions` "
                         "specified")

    def test_part_shorter_or_longer_than_declared_400(self):
        data = b"12345678"
        for declared, reason in ((len(data) + 2, "attachment shorter than expected"),
                                 (len(data) - 2, "attachment longer than expected")):
            with self.subTest(declared=declared):
                doc = {"_attachments": {"f": {"follows": True, "content_type": "text/plain",
                                              "length": declared}}}
                r = self.put_related("d", doc, [("f", "text/plain", data,
                                                 {"Content-Length": None})])
                self.assertError(r, 400, "bad_request", reason)
                self.assertError(self.get(self.path("d")), 404, "not_found", "missing")

    def test_digest_mismatch_400(self):
        data = b"the real bytes"
        doc = {"_attachments": {"f": {"follows": True, "content_type": "text/plain",
                                      "length": len(data), "digest": digest_of(b"other bytes")}}}
        r = self.put_related("d", doc, [("f", "text/plain", data, None)])
        self.assertError(r, 400, "content_md5_mismatch", "Possible message corruption.")
        self.assertError(self.get(self.path("d")), 404, "not_found", "missing")

    def test_gzip_part_digest_is_of_bytes_as_sent(self):
        text = b"identity text " * 100
        gz = gzip.compress(text, mtime=0)
        doc = self.path_doc("d", 1, ["a" * 32], _attachments={
            "g.txt": {"follows": True, "content_type": "text/plain", "revpos": 1,
                      "encoding": "gzip", "encoded_length": len(gz), "length": len(text),
                      "digest": digest_of(text)}})  # md5 of identity, not of what is sent
        r = self.put_related("d", doc, [("g.txt", "text/plain", gz, {"Content-Encoding": "gzip"})],
                             "new_edits=false")
        self.assertError(r, 400, "content_md5_mismatch", "Possible message corruption.")

    def test_5mib_multipart_round_trip(self):
        rng = random.Random(test_seed())
        big = random_bytes(rng, 5 * MiB + 12345)
        doc = {"v": "big", "_attachments": {"big.bin": {
            "follows": True, "content_type": "application/octet-stream", "length": len(big),
            "digest": digest_of(big)}}}
        r = self.put_related("d", doc, [("big.bin", "application/octet-stream", big, None)],
                             boundary="bigboundary" + "%08x" % rng.getrandbits(32))
        self.assertStatus(r, 201)
        rev = r.body["rev"]
        self.assertEqual(self.doc_json("d")["_attachments"],
                         {"big.bin": stub_entry(big, "application/octet-stream", 1)})
        g = self.get(att_path(self.db, "d", "big.bin", "rev=" + rev), timeout=60)
        self.assertStatus(g, 200)
        self.assertEqual(len(g.raw), len(big))
        self.assertTrue(g.raw == big, "5 MiB attachment differs after the multipart round trip")
        g = self.get(self.path("d", "attachments=true"), headers={"Accept": "multipart/related"},
                     timeout=60)
        self.assertStatus(g, 200)
        self.check_related_parts(self.multipart_parts(g, "multipart/related"), {
            "big.bin": (big, "application/octet-stream", 1, "follows")})


if __name__ == "__main__":
    unittest.main()


# ---- Regressions from the attachments review -----------------------------------------------------

class PutRelatedRegressionTest(MultipartTestBase):

    def test_parts_beyond_follows_entries_400(self):
        # Was 201 with every extra part spooled (3,000 gzip parts: 3,000 fds, 3.3 GB).
        extra = [(f"x{i}", "text/plain", gzip.compress(b"z" * 1000), {"Content-Encoding": "gzip"})
                 for i in range(50)]
        r = self.put_related("d", {"_attachments": {"a": {"follows": True}}},
                             [("a", "text/plain", b"aa", None)] + extra)
        self.assertError(r, 400, "bad_request",
                         "multipart: more attachment parts than `follows` entries in the document")
        self.assertStatus(self.get(self.path("d"), headers=JSON_ACCEPT), 404)
        self.node.assert_alive()

    def test_media_type_alone_decides_multipart(self):
        # The router streamed this body as multipart while the handler parsed it as JSON (400).
        _, body = related_request({"_attachments": {"a": {"follows": True}}},
                                  [("a", "text/plain", b"tabbed", None)], boundary="BB")
        r = self.put(self.path("d"), body,
                     headers={"Content-Type": "multipart/related\t; boundary=BB"})
        self.assertStatus(r, 201)
        self.assertEqual(self.get(att_path(self.db, "d", "a")).raw, b"tabbed")

    def test_local_doc_multipart_400(self):
        r = self.put_related("_local/l", {"v": 1, "_attachments": {"a": {"follows": True}}},
                             [("a", "text/plain", b"aa", None)])
        self.assertError(r, 400, "bad_request", "_local documents do not accept attachments.")
        self.assertStatus(self.get(self.path("_local/l")), 404)

    def test_content_type_with_crlf_never_becomes_a_header(self):
        r = self.put_related("d", {"_attachments": {"a": {
            "follows": True, "content_type": "text/plain\r\nX-Injected: yes"}}},
            [("a", "text/plain", b"aa", None)])
        self.assertStatus(r, 400)
        self.assertStatus(self.get(self.path("d"), headers=JSON_ACCEPT), 404)
