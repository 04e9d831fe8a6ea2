"""Attachment encoding as CouchDB 3.5 does it (couch_att.erl, couch_db:with_stream, chttpd_db.erl):
attachments of compressible types arriving as identity bytes are stored gzip-compressed, and the
stored encoding shows through stubs, att_encoding_info, the standalone GET, multipart bodies and
replication.

What is asserted (exactly, never "one of several statuses"):
  * Compressible types (defaults: text/*, application/javascript, application/json,
    application/xml; case-insensitive, parameters allowed) sent as identity bytes (inline base64
    in PUT / POST / _bulk_docs, standalone PUT without Content-Encoding, multipart `follows` part
    without Content-Encoding) are stored as gzip made with zlib level 8, windowBits 31, memLevel 8,
    default strategy: digest = "md5-" + base64(md5(gzip bytes)), length = identity length.
    Other types keep digest = md5 of the identity bytes.
  * Stubs carry `encoding`/`encoded_length` only with att_encoding_info=true (after `stub`), on
    GET /db/doc, _all_docs, _changes and _bulk_get; attachments=true inlines the IDENTITY bytes.
  * Standalone GET: identity bytes unless `Accept-Encoding: gzip`, then exactly the stored gzip
    bytes with `Content-Encoding: gzip`; gzip-stored attachments answer `Accept-Ranges: none` and
    ignore Range; ETag = quoted base64 md5 of the stored bytes.
  * A standalone PUT with `Content-Encoding: gzip` is stored as sent (any content type), with the
    decompressed size as `length`; bad gzip → 400, other encodings → 415.
  * Multipart (related and open_revs mixed) lists gzip attachments with encoding/encoded_length and
    sends their parts with `Content-Encoding: gzip` and the stored bytes; a replicator-style
    new_edits=false multipart PUT with such a part stores it as sent.
  * Replication (local names and an http source URL) keeps the stored bytes and digest.

Every request carries server-admin credentials (replication_harness.AdminNode)."""

import json
import unittest
import zlib

from divan_harness import NodeTestCase, db_path, doc_path
from replication_harness import AdminNode, basic_auth
from test_attachments import (JSON_ACCEPT, att_path, b64, content_type_param, inline, md5_b64,
                              mime_type, parse_multipart, related_request)

# A few KB of repeated-ish text: compresses well, but not to a trivial run.
TEXT = b"".join(b"%04d: the quick brown fox jumps over the lazy dog; couch #%d says relax\n"
                % (i, (i * 7) % 13) for i in range(64))
# Bytes of a type that is not compressible (stored identity unless sent gzip-encoded).
BIN = bytes((i * 37 + 11) % 256 for i in range(3000))
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 6

COMPRESSIBLE = ("text/plain", "text/html", "text/csv", "text/plain;charset=utf-8",
                "Application/JSON; charset=utf-8", "application/json", "application/javascript",
                "application/xml", "TEXT/Plain")
NOT_COMPRESSIBLE = ("application/jsonx", "image/png", "application/octet-stream")


def gzip_level(data, level):
    """zlib deflate, windowBits 31 (gzip wrapper: mtime 0, OS 3), memLevel 8, default strategy."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31, 8)
    return c.compress(data) + c.flush()


def gz8(data):
    """What CouchDB 3.5 stores for a compressible identity upload (compression_level 8)."""
    return gzip_level(data, 8)


def gz1(data):
    """Client-made gzip at another level, so keeping it differs visibly from re-compressing."""
    return gzip_level(data, 1)


def digest(stored):
    return "md5-" + md5_b64(stored)


def etag(stored):
    return f'"{md5_b64(stored)}"'


# ---- expected JSON shapes (couch_att:to_json key order) -----------------------------------------

def _head(ctype, revpos, stored):
    return {"content_type": ctype, "revpos": revpos, "digest": digest(stored)}


def _enc(stored, encoded, info):
    return {"encoding": "gzip", "encoded_length": len(stored)} if (encoded and info) else {}


def stub(identity, ctype, revpos, stored=None, info=False):
    """A stub. `stored` None → identity storage; otherwise the gzip bytes stored."""
    encoded = stored is not None
    stored = identity if stored is None else stored
    d = _head(ctype, revpos, stored)
    d.update({"length": len(identity), "stub": True})
    d.update(_enc(stored, encoded, info))
    return d


def inlined(identity, ctype, revpos, stored=None, info=False):
    """attachments=true JSON: base64 of the IDENTITY bytes, no length, no stub."""
    encoded = stored is not None
    stored = identity if stored is None else stored
    d = _head(ctype, revpos, stored)
    d["data"] = b64(identity)
    d.update(_enc(stored, encoded, info))
    return d


def follows(identity, ctype, revpos, stored=None):
    """The multipart JSON entry: encoding info is always shown there."""
    encoded = stored is not None
    stored = identity if stored is None else stored
    d = _head(ctype, revpos, stored)
    d.update({"length": len(identity), "follows": True})
    d.update(_enc(stored, encoded, True))
    return d


class AttEncodingTestBase(NodeTestCase):
    """One AdminNode per class; every test gets a fresh database."""

    @classmethod
    def setUpClass(cls):
        super(NodeTestCase, cls).setUpClass()  # NodeTestCase's own would start a plain Node
        cls.node = AdminNode().start()
        cls.addClassCleanup(cls.node.cleanup)

    def setUp(self):
        self.db = self.new_db()

    # -- requests --

    def path(self, docid, query="", db=None):
        return doc_path(db or self.db, docid) + (("?" + query) if query else "")

    def doc(self, docid, query="", db=None):
        r = self.get(self.path(docid, query, db), headers=JSON_ACCEPT)
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        return r.body

    def atts(self, docid, query="", db=None):
        return self.doc(docid, query, db)["_attachments"]

    def put_doc(self, docid, body, query="", db=None):
        r = self.put(self.path(docid, query, db), body)
        self.assertStatus(r, 201)
        return r.body["rev"]

    def put_att(self, docid, name, data, ctype, query="", headers=None):
        h = {"Content-Type": ctype}
        h.update(headers or {})
        return self.put(att_path(self.db, docid, name, query), bytes(data), headers=h)

    def fetch(self, method, path, headers=None):
        """One request on a fresh connection WITHOUT http.client's automatic
        `Accept-Encoding: identity`, so the headers sent are exactly the admin's credentials plus
        `headers`. Nothing is decompressed; returns (status, headers, raw body)."""
        conn = self.node.new_connection()
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            hdrs = basic_auth(self.node.admin, self.node.password)
            hdrs.update(headers or {})
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, resp.headers, raw
        finally:
            conn.close()

    def fetch_att(self, docid, name, headers=None, method="GET", db=None):
        return self.fetch(method, att_path(db or self.db, docid, name), headers)

    # -- assertions --

    def assertAtts(self, got, expected, msg=None):
        """Equal `_attachments` objects, each attachment's keys in CouchDB's order."""
        self.assertEqual(got, expected, msg)
        for name, att in expected.items():
            self.assertEqual(list(got[name]), list(att), f"key order of {name} ({msg})")

    def assertServed(self, status, headers, raw, body, ctype, stored, gzip_sent, method="GET"):
        """A whole-body 200 of the standalone attachment GET/HEAD whose body is `body`. `stored`:
        the gzip bytes stored, or None for identity storage (it decides ETag and Accept-Ranges);
        `gzip_sent`: whether the reply carries `Content-Encoding: gzip`."""
        self.assertEqual(status, 200, raw[:300])
        self.assertEqual(raw, b"" if method == "HEAD" else body)
        self.assertEqual(headers.get("Content-Length"), str(len(body)))
        self.assertEqual(headers.get("Content-Type"), ctype)
        self.assertEqual(headers.get("ETag"), etag(body if stored is None else stored))
        if gzip_sent:
            self.assertEqual(headers.get("Content-Encoding"), "gzip")
        else:
            self.assertIsNone(headers.get("Content-Encoding"))
        self.assertEqual(headers.get("Accept-Ranges"), "bytes" if stored is None else "none")
        self.assertIsNone(headers.get("Content-Range"))


# ---- what is stored compressed (item 1, item 9) ------------------------------------------------

class CompressOnWriteTest(AttEncodingTestBase):

    def test_gzip_bytes_are_the_documented_zlib_settings(self):
        """Sanity of the expectations themselves: mtime 0, XFL 0, OS 3, and level 1 ≠ level 8."""
        for data in (TEXT, b""):
            g = gz8(data)
            self.assertEqual(g[:10], b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")
            self.assertEqual(zlib.decompress(g, 31), data)
            self.assertNotEqual(gz1(data), g)
        self.assertEqual(len(gz8(b"")), 20)
        self.assertLess(len(gz8(TEXT)), len(TEXT) // 3)

    def test_inline_put_stores_text_gzip_and_binary_identity(self):
        rev = self.put_doc("d", {"v": 1, "_attachments": {
            "a.txt": inline(TEXT, "text/plain"),
            "e.txt": inline(b"", "text/plain"),
            "b.bin": inline(BIN, "application/octet-stream")}})
        self.assertRev(rev, 1)
        doc = self.doc("d")
        self.assertEqual(list(doc), ["_id", "_rev", "v", "_attachments"])
        self.assertAtts(doc["_attachments"], {
            "a.txt": stub(TEXT, "text/plain", 1, gz8(TEXT)),
            "e.txt": stub(b"", "text/plain", 1, gz8(b"")),
            "b.bin": stub(BIN, "application/octet-stream", 1)})
        self.assertAtts(self.atts("d", "att_encoding_info=true"), {
            "a.txt": stub(TEXT, "text/plain", 1, gz8(TEXT), info=True),
            "e.txt": stub(b"", "text/plain", 1, gz8(b""), info=True),
            "b.bin": stub(BIN, "application/octet-stream", 1)})

    def test_compressible_type_matching(self):
        types = COMPRESSIBLE + NOT_COMPRESSIBLE
        self.put_doc("d", {"_attachments": {f"f{i}": inline(TEXT, t) for i, t in enumerate(types)}})
        got = self.atts("d", "att_encoding_info=true")
        expected = {}
        for i, t in enumerate(types):
            expected[f"f{i}"] = stub(TEXT, t, 1, gz8(TEXT) if t in COMPRESSIBLE else None, info=True)
        for i, t in enumerate(types):
            with self.subTest(content_type=t):
                self.assertEqual(got[f"f{i}"], expected[f"f{i}"])
        self.assertAtts(got, expected)

    def test_post_and_bulk_docs_inline_store_gzip(self):
        r = self.post(db_path(self.db), {"_id": "p", "_attachments": {
            "a.txt": inline(TEXT, "text/plain"), "b.bin": inline(BIN, "application/octet-stream")}})
        self.assertStatus(r, 201)
        r = self.post(db_path(self.db) + "/_bulk_docs", {"docs": [
            {"_id": "k", "_attachments": {"a.json": inline(TEXT, "application/json"),
                                          "e.txt": inline(b"", "text/plain"),
                                          "b.bin": inline(BIN, "application/octet-stream")}}]})
        self.assertStatus(r, 201)
        self.assertEqual(len(r.body), 1)
        self.assertEqual(r.body[0]["ok"], True, r)
        self.assertAtts(self.atts("p", "att_encoding_info=true"), {
            "a.txt": stub(TEXT, "text/plain", 1, gz8(TEXT), info=True),
            "b.bin": stub(BIN, "application/octet-stream", 1)})
        self.assertAtts(self.atts("k", "att_encoding_info=true"), {
            "a.json": stub(TEXT, "application/json", 1, gz8(TEXT), info=True),
            "e.txt": stub(b"", "text/plain", 1, gz8(b""), info=True),
            "b.bin": stub(BIN, "application/octet-stream", 1)})

    def test_standalone_put_identity_text_stores_gzip(self):
        r = self.put_att("s", "a.txt", TEXT, "text/plain")
        self.assertStatus(r, 201)
        rev = r.body["rev"]
        r = self.put_att("s", "i.txt", TEXT, "text/plain;charset=utf-8", "rev=" + rev,
                         headers={"Content-Encoding": "identity"})
        self.assertStatus(r, 201)
        rev = r.body["rev"]
        r = self.put_att("s", "b.bin", BIN, "application/octet-stream", "rev=" + rev)
        self.assertStatus(r, 201)
        self.assertAtts(self.atts("s", "att_encoding_info=true"), {
            "a.txt": stub(TEXT, "text/plain", 1, gz8(TEXT), info=True),
            "i.txt": stub(TEXT, "text/plain;charset=utf-8", 2, gz8(TEXT), info=True),
            "b.bin": stub(BIN, "application/octet-stream", 3)})
        status, headers, raw = self.fetch_att("s", "a.txt")
        self.assertServed(status, headers, raw, TEXT, "text/plain", gz8(TEXT), False)

    def test_multipart_identity_follows_part_stores_gzip(self):
        ctype, body = related_request({"v": 1, "_attachments": {
            "a.txt": {"follows": True, "content_type": "text/plain", "length": len(TEXT)},
            "b.bin": {"follows": True, "content_type": "application/octet-stream",
                      "length": len(BIN)}}},
            [("a.txt", "text/plain", TEXT, None), ("b.bin", "application/octet-stream", BIN, None)])
        r = self.put(self.path("m"), body, headers={"Content-Type": ctype})
        self.assertStatus(r, 201)
        self.assertRev(r.body["rev"], 1)
        self.assertAtts(self.atts("m", "att_encoding_info=true"), {
            "a.txt": stub(TEXT, "text/plain", 1, gz8(TEXT), info=True),
            "b.bin": stub(BIN, "application/octet-stream", 1)})

    def test_stub_update_keeps_encoding_and_revpos(self):
        r1 = self.put_doc("d", {"_attachments": {"a.txt": inline(TEXT, "text/plain")}})
        r2 = self.put_doc("d", {"_rev": r1, "v": 2, "_attachments": {"a.txt": {"stub": True}}})
        self.assertRev(r2, 2)
        self.assertAtts(self.atts("d", "att_encoding_info=true"),
                        {"a.txt": stub(TEXT, "text/plain", 1, gz8(TEXT), info=True)})
        status, headers, raw = self.fetch_att("d", "a.txt", {"Accept-Encoding": "gzip"})
        self.assertServed(status, headers, raw, gz8(TEXT), "text/plain", gz8(TEXT), True)

    def test_same_text_shares_digest_and_type_decides_storage(self):
        self.put_doc("t1", {"_attachments": {"x.txt": inline(TEXT, "text/plain")}})
        self.put_doc("t2", {"_attachments": {"y.txt": inline(TEXT, "text/plain")}})
        self.put_doc("o", {"_attachments": {"x.txt": inline(TEXT, "application/octet-stream")}})
        d1 = self.atts("t1")["x.txt"]["digest"]
        d2 = self.atts("t2")["y.txt"]["digest"]
        d3 = self.atts("o")["x.txt"]["digest"]
        self.assertEqual(d1, digest(gz8(TEXT)))
        self.assertEqual(d2, d1)
        self.assertEqual(d3, digest(TEXT))
        self.assertNotEqual(d3, d1)
        for docid, name in (("t1", "x.txt"), ("t2", "y.txt"), ("o", "x.txt")):
            with self.subTest(doc=docid):
                status, _, raw = self.fetch_att(docid, name)
                self.assertEqual((status, raw), (200, TEXT))


# ---- stubs and inline data on every read path (items 2, 3) -------------------------------------

class ReadShapesTest(AttEncodingTestBase):

    def setUp(self):
        super().setUp()
        self.rev = self.put_doc("d", {"v": 1, "_attachments": {
            "g.txt": inline(TEXT, "text/plain"),
            "e.txt": inline(b"", "text/plain"),
            "b.bin": inline(BIN, "application/octet-stream")}})

    def stubs(self, info):
        return {"g.txt": stub(TEXT, "text/plain", 1, gz8(TEXT), info=info),
                "e.txt": stub(b"", "text/plain", 1, gz8(b""), info=info),
                "b.bin": stub(BIN, "application/octet-stream", 1)}

    def test_doc_stubs(self):
        self.assertAtts(self.atts("d"), self.stubs(False))
        self.assertAtts(self.atts("d", "att_encoding_info=true"), self.stubs(True))
        self.assertAtts(self.atts("d", "att_encoding_info=false"), self.stubs(False))

    def test_attachments_true_json_inlines_identity_bytes(self):
        for info in (False, True):
            with self.subTest(att_encoding_info=info):
                q = "attachments=true" + ("&att_encoding_info=true" if info else "")
                self.assertAtts(self.atts("d", q), {
                    "g.txt": inlined(TEXT, "text/plain", 1, gz8(TEXT), info=info),
                    "e.txt": inlined(b"", "text/plain", 1, gz8(b""), info=info),
                    "b.bin": inlined(BIN, "application/octet-stream", 1)})

    def test_all_docs_include_docs(self):
        for info in (False, True):
            with self.subTest(att_encoding_info=info):
                q = "?include_docs=true" + ("&att_encoding_info=true" if info else "")
                r = self.get(db_path(self.db) + "/_all_docs" + q)
                self.assertStatus(r, 200)
                [row] = r.body["rows"]
                self.assertEqual(row["doc"]["_rev"], self.rev)
                self.assertAtts(row["doc"]["_attachments"], self.stubs(info))

    def test_changes_include_docs(self):
        for info in (False, True):
            with self.subTest(att_encoding_info=info):
                q = "?include_docs=true" + ("&att_encoding_info=true" if info else "")
                r = self.get(db_path(self.db) + "/_changes" + q)
                self.assertStatus(r, 200)
                [row] = r.body["results"]
                self.assertEqual(row["doc"]["_rev"], self.rev)
                self.assertAtts(row["doc"]["_attachments"], self.stubs(info))

    def test_bulk_get(self):
        for info in (False, True):
            with self.subTest(att_encoding_info=info):
                q = "?att_encoding_info=true" if info else ""
                r = self.post(db_path(self.db) + "/_bulk_get" + q, {"docs": [{"id": "d"}]},
                              headers=JSON_ACCEPT)
                self.assertStatus(r, 200)
                [result] = r.body["results"]
                [entry] = result["docs"]
                self.assertEqual(entry["ok"]["_rev"], self.rev)
                self.assertAtts(entry["ok"]["_attachments"], self.stubs(info))


# ---- the standalone GET / HEAD (item 4) ---------------------------------------------------------

class StandaloneGetTest(AttEncodingTestBase):

    def setUp(self):
        super().setUp()
        self.put_doc("d", {"_attachments": {
            "g.txt": inline(TEXT, "text/plain"),
            "e.txt": inline(b"", "text/plain"),
            "b.bin": inline(BIN, "application/octet-stream")}})

    def test_without_accept_encoding_serves_identity(self):
        for extra in ({}, {"Accept-Encoding": "identity"}, {"Accept-Encoding": "deflate, br"}):
            with self.subTest(headers=extra):
                status, headers, raw = self.fetch_att("d", "g.txt", extra)
                self.assertServed(status, headers, raw, TEXT, "text/plain", gz8(TEXT), False)

    def test_accept_encoding_gzip_serves_stored_gzip_bytes(self):
        for ae in ("gzip", "deflate, gzip"):
            with self.subTest(accept_encoding=ae):
                status, headers, raw = self.fetch_att("d", "g.txt", {"Accept-Encoding": ae})
                self.assertServed(status, headers, raw, gz8(TEXT), "text/plain", gz8(TEXT), True)

    def test_head_same_headers_no_body(self):
        status, headers, raw = self.fetch_att("d", "g.txt", method="HEAD")
        self.assertServed(status, headers, raw, TEXT, "text/plain", gz8(TEXT), False, "HEAD")
        status, headers, raw = self.fetch_att("d", "g.txt", {"Accept-Encoding": "gzip"}, "HEAD")
        self.assertServed(status, headers, raw, gz8(TEXT), "text/plain", gz8(TEXT), True, "HEAD")

    def test_range_ignored_for_gzip_stored(self):
        status, headers, raw = self.fetch_att("d", "g.txt", {"Range": "bytes=0-3"})
        self.assertServed(status, headers, raw, TEXT, "text/plain", gz8(TEXT), False)
        status, headers, raw = self.fetch_att("d", "g.txt", {"Range": "bytes=0-3",
                                                             "Accept-Encoding": "gzip"})
        self.assertServed(status, headers, raw, gz8(TEXT), "text/plain", gz8(TEXT), True)

    def test_unsatisfiable_range_is_checked_against_the_length_sent(self):
        """CouchDB parses Range against the length this client gets (decoded, or the gzip bytes
        when it accepts gzip) before it ignores ranges for a gzip-stored attachment."""
        n = len(gz8(TEXT))  # < len(TEXT): past the gzip bytes, inside the decoded ones
        status, headers, raw = self.fetch_att("d", "g.txt", {"Range": f"bytes={n}-"})
        self.assertServed(status, headers, raw, TEXT, "text/plain", gz8(TEXT), False)
        status, headers, raw = self.fetch_att("d", "g.txt", {"Range": f"bytes={n}-",
                                                             "Accept-Encoding": "gzip"})
        self.assertEqual(status, 416, raw[:200])
        status, headers, raw = self.fetch_att("d", "g.txt", {"Range": f"bytes={len(TEXT)}-"})
        self.assertEqual(status, 416, raw[:200])

    def test_highly_compressed_attachment_streams_decoded(self):
        """40 MB of one byte is ~40 KB stored: served decoded in a stream, exact length."""
        big = b"a" * (40 << 20)
        rev = self.doc("d")["_rev"]
        r = self.put_att("d", "z.txt", gz8(big), "text/plain", "rev=" + rev,
                         headers={"Content-Encoding": "gzip"})
        self.assertStatus(r, 201)
        status, headers, raw = self.fetch_att("d", "z.txt")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Content-Length"), str(len(big)))
        self.assertEqual(len(raw), len(big))
        self.assertEqual(raw, big)

    def test_identity_stored_ignores_accept_encoding_and_keeps_ranges(self):
        status, headers, raw = self.fetch_att("d", "b.bin", {"Accept-Encoding": "gzip"})
        self.assertServed(status, headers, raw, BIN, "application/octet-stream", None, False)
        status, headers, raw = self.fetch_att("d", "b.bin", {"Range": "bytes=0-3",
                                                             "Accept-Encoding": "gzip"})
        self.assertEqual(status, 206, raw[:200])
        self.assertEqual(raw, BIN[:4])
        self.assertEqual(headers.get("Content-Range"), f"bytes 0-3/{len(BIN)}")
        self.assertEqual(headers.get("Content-Length"), "4")
        self.assertIsNone(headers.get("Content-Encoding"))

    def test_empty_text_attachment(self):
        status, headers, raw = self.fetch_att("d", "e.txt")
        self.assertServed(status, headers, raw, b"", "text/plain", gz8(b""), False)
        status, headers, raw = self.fetch_att("d", "e.txt", {"Accept-Encoding": "gzip"})
        self.assertServed(status, headers, raw, gz8(b""), "text/plain", gz8(b""), True)


# ---- standalone PUT with Content-Encoding (item 5) ---------------------------------------------

class GzipUploadTest(AttEncodingTestBase):

    def check_stored_as_sent(self, docid, name, identity, sent, ctype, revpos):
        self.assertAtts(self.atts(docid, "att_encoding_info=true"),
                        {name: stub(identity, ctype, revpos, sent, info=True)})
        self.assertAtts(self.atts(docid), {name: stub(identity, ctype, revpos, sent)})
        status, headers, raw = self.fetch_att(docid, name, {"Accept-Encoding": "gzip"})
        self.assertServed(status, headers, raw, sent, ctype, sent, True)
        status, headers, raw = self.fetch_att(docid, name)
        self.assertServed(status, headers, raw, identity, ctype, sent, False)

    def test_gzip_text_is_stored_as_sent(self):
        sent = gz1(TEXT)
        self.assertNotEqual(sent, gz8(TEXT))
        r = self.put_att("d", "t.txt", sent, "text/plain", headers={"Content-Encoding": "gzip"})
        self.assertStatus(r, 201)
        self.assertRev(r.body["rev"], 1)
        self.check_stored_as_sent("d", "t.txt", TEXT, sent, "text/plain", 1)

    def test_gzip_non_compressible_type_is_stored_gzip(self):
        sent = gz1(PNG)
        r = self.put_att("p", "i.png", sent, "image/png", headers={"Content-Encoding": "gzip"})
        self.assertStatus(r, 201)
        self.check_stored_as_sent("p", "i.png", PNG, sent, "image/png", 1)

    def test_bad_gzip_400(self):
        rev = self.put_doc("d", {"v": 1})
        for label, body in (("not gzip", b"this is plainly not gzip data at all"),
                            ("truncated", gz1(TEXT)[:-12])):
            with self.subTest(body=label):
                r = self.put_att("d", "t.txt", body, "text/plain", "rev=" + rev,
                                 headers={"Content-Encoding": "gzip"})
                self.assertError(r, 400, "bad_request")
        doc = self.doc("d")
        self.assertEqual(doc, {"_id": "d", "_rev": rev, "v": 1})

    def test_content_encoding_br_415(self):
        rev = self.put_doc("d", {"v": 1})
        r = self.put_att("d", "t.txt", TEXT, "text/plain", "rev=" + rev,
                         headers={"Content-Encoding": "br"})
        self.assertError(r, 415, "bad_content_type",
                         "Only gzip and identity content-encodings are supported")
        self.assertEqual(self.doc("d"), {"_id": "d", "_rev": rev, "v": 1})


# ---- multipart in and out (items 6, 7) ----------------------------------------------------------

class MultipartEncodingTest(AttEncodingTestBase):

    A = "a" * 32

    def put_related(self, docid, doc, parts, query="", db=None):
        ctype, body = related_request(doc, parts)
        return self.put(self.path(docid, query, db), body, headers={"Content-Type": ctype})

    def check_related(self, parts, docid, rev, expected):
        """A multipart/related doc: JSON part, then one part per attachment in `_attachments`
        order. `expected`: name → (identity, content_type, revpos, stored gzip bytes or None)."""
        self.assertGreaterEqual(len(parts), 1)
        head, first = parts[0]
        self.assertEqual(mime_type(head.get("content-type")), "application/json", head)
        doc = json.loads(first.decode("utf-8"))
        self.assertEqual((doc["_id"], doc["_rev"]), (docid, rev))
        atts = doc["_attachments"]
        self.assertAtts(atts, {name: follows(*spec) for name, spec in expected.items()})
        self.assertEqual(len(parts) - 1, len(expected), "one part per attachment")
        for name, (headers, content) in zip(list(atts), parts[1:]):
            identity, ctype, _, stored = expected[name]
            with self.subTest(part=name):
                if stored is None:
                    self.assertEqual(content, identity)
                    self.assertIsNone(headers.get("content-encoding"))
                    self.assertEqual(headers.get("content-length"), str(len(identity)))
                else:
                    self.assertEqual(content, stored)
                    self.assertEqual(headers.get("content-encoding"), "gzip")
                    self.assertEqual(headers.get("content-length"), str(len(stored)))
                self.assertEqual(headers.get("content-disposition"),
                                 f'attachment; filename="{name}"')
                self.assertEqual(mime_type(headers.get("content-type")), ctype)
        return doc

    def nested_related(self, r):
        """The single multipart/related part of an open_revs multipart/mixed reply (parsed)."""
        self.assertStatus(r, 200)
        ctype = r.header("Content-Type")
        self.assertEqual(mime_type(ctype), "multipart/mixed")
        parts = parse_multipart(r.raw, content_type_param(ctype, "boundary"))
        self.assertEqual(len(parts), 1, parts)
        headers, content = parts[0]
        self.assertEqual(mime_type(headers.get("content-type")), "multipart/related", headers)
        return headers["content-type"], content, parse_multipart(
            content, content_type_param(headers["content-type"], "boundary"))

    def put_mixed_doc(self):
        rev = self.put_doc("d", {"v": 1, "_attachments": {
            "g.txt": inline(TEXT, "text/plain"),
            "b.bin": inline(BIN, "application/octet-stream")}})
        expected = {"g.txt": (TEXT, "text/plain", 1, gz8(TEXT)),
                    "b.bin": (BIN, "application/octet-stream", 1, None)}
        return rev, expected

    def test_new_edits_false_gzip_follows_part_stored_as_sent(self):
        sent = gz1(TEXT)
        rev = "1-" + self.A
        doc = self.path_doc("d", 1, [self.A], v=1, _attachments={
            "a.txt": {"content_type": "text/plain", "revpos": 1, "digest": digest(sent),
                      "length": len(TEXT), "follows": True, "encoding": "gzip",
                      "encoded_length": len(sent)}})
        r = self.put_related("d", doc, [("a.txt", "text/plain", sent,
                                         {"Content-Encoding": "gzip"})], "new_edits=false")
        self.assertStatus(r, 201)
        self.assertEqual(r.body, {"ok": True, "id": "d", "rev": rev})
        self.assertAtts(self.atts("d", "att_encoding_info=true"),
                        {"a.txt": stub(TEXT, "text/plain", 1, sent, info=True)})
        status, headers, raw = self.fetch_att("d", "a.txt", {"Accept-Encoding": "gzip"})
        self.assertServed(status, headers, raw, sent, "text/plain", sent, True)
        status, headers, raw = self.fetch_att("d", "a.txt")
        self.assertServed(status, headers, raw, TEXT, "text/plain", sent, False)

    def test_get_attachments_true_multipart_related(self):
        rev, expected = self.put_mixed_doc()
        r = self.get(self.path("d", "attachments=true"), headers={"Accept": "multipart/related"})
        self.assertStatus(r, 200)
        ctype = r.header("Content-Type")
        self.assertEqual(mime_type(ctype), "multipart/related")
        parts = parse_multipart(r.raw, content_type_param(ctype, "boundary"))
        self.check_related(parts, "d", rev, expected)

    def test_open_revs_all_multipart_mixed(self):
        rev, expected = self.put_mixed_doc()
        r = self.get(self.path("d", "open_revs=all&attachments=true"),
                     headers={"Accept": "multipart/mixed"})
        _, _, inner = self.nested_related(r)
        self.check_related(inner, "d", rev, expected)

    def test_replicator_style_copy_keeps_gzip_bytes(self):
        """GET open_revs as multipart/mixed, PUT the nested multipart/related part as is with
        new_edits=false into another database: same digests, same stored bytes."""
        rev, expected = self.put_mixed_doc()
        target = self.new_db("-target")
        r = self.get(self.path("d", "open_revs=all&attachments=true&revs=true"),
                     headers={"Accept": "multipart/mixed"})
        ctype, content, _ = self.nested_related(r)
        w = self.put(self.path("d", "new_edits=false", target), content,
                     headers={"Content-Type": ctype})
        self.assertStatus(w, 201)
        self.assertEqual(w.body, {"ok": True, "id": "d", "rev": rev})
        self.assertAtts(self.atts("d", "att_encoding_info=true", target),
                        self.atts("d", "att_encoding_info=true"))
        status, headers, raw = self.fetch_att("d", "g.txt", {"Accept-Encoding": "gzip"},
                                              db=target)
        self.assertServed(status, headers, raw, gz8(TEXT), "text/plain", gz8(TEXT), True)


# ---- replication (item 8) -----------------------------------------------------------------------

class ReplicationEncodingTest(AttEncodingTestBase):

    def setUp(self):
        super().setUp()
        self.put_doc("d", {"v": 1, "_attachments": {
            "g.txt": inline(TEXT, "text/plain"),
            "b.bin": inline(BIN, "application/octet-stream")}})
        # A client-gzipped upload (level 1): replication must keep these exact bytes.
        rev = self.doc("d")["_rev"]
        r = self.put_att("d", "s.txt", gz1(TEXT), "text/plain", "rev=" + rev,
                         headers={"Content-Encoding": "gzip"})
        self.assertStatus(r, 201)
        self.stored = {"g.txt": (TEXT, "text/plain", gz8(TEXT)),
                       "s.txt": (TEXT, "text/plain", gz1(TEXT)),
                       "b.bin": (BIN, "application/octet-stream", None)}

    def replicate_and_check(self, source, target_url=False):
        target = self.new_db("-target")
        r = self.post("/_replicate", {"source": source,
                                      "target": self.node.url(target) if target_url else target})
        self.assertStatus(r, 200)
        self.assertIs(r.body["ok"], True, r)
        src = self.doc("d", "att_encoding_info=true")
        dst = self.doc("d", "att_encoding_info=true", target)
        self.assertEqual(dst["_rev"], src["_rev"])
        self.assertAtts(dst["_attachments"], {
            "g.txt": stub(TEXT, "text/plain", 1, gz8(TEXT), info=True),
            "b.bin": stub(BIN, "application/octet-stream", 1),
            "s.txt": stub(TEXT, "text/plain", 2, gz1(TEXT), info=True)})
        self.assertEqual(dst["_attachments"], src["_attachments"])
        for name, (identity, ctype, stored) in self.stored.items():
            with self.subTest(att=name):
                status, headers, raw = self.fetch_att("d", name, db=target)
                self.assertServed(status, headers, raw, identity, ctype, stored, False)
                status, headers, raw = self.fetch_att("d", name, {"Accept-Encoding": "gzip"},
                                                      db=target)
                self.assertServed(status, headers, raw, stored or identity, ctype, stored,
                                  stored is not None)

    def test_local_replication_keeps_stored_gzip(self):
        self.replicate_and_check(self.db)

    def test_http_source_replication_keeps_stored_gzip(self):
        self.replicate_and_check(self.node.url(self.db))

    def test_http_target_replication_keeps_stored_gzip(self):
        """A push over HTTP: s.txt's level-1 gzip bytes are not what the target would make from
        inline data, so that doc goes as a multipart PUT with its bytes as stored."""
        self.replicate_and_check(self.db, target_url=True)


if __name__ == "__main__":
    unittest.main()
