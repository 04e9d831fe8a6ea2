"""Attachments: http-api.md §7 (JSON shapes, standalone endpoints, Range, stub resolution), the
attachment options of §6.1 (attachments, atts_since, att_encoding_info), §6.2 new_edits=false with
inline data, §10 _bulk_docs, §11 _bulk_get, _changes/_all_docs include_docs, deterministic revs
(revision-trees.md §2.2), restart survival and a 20 MiB streamed body.

Attachment storage is CouchDB 3.5's: identity uploads of compressible types (text/*,
application/javascript, application/json, application/xml; case-insensitive, parameters allowed)
are stored gzip-compressed (zlib level 8, windowBits 31, memLevel 8), digest = "md5-" +
base64(md5(stored bytes)), `length` = identity length; other types are stored as identity bytes.
att_encoding_info=true adds `encoding`/`encoded_length` to gzip-stored stubs only. The standalone
GET of a gzip-stored attachment sends identity bytes unless the client accepts gzip, answers
`Accept-Ranges: none` and ignores Range; tests whose point is byte ranges or raw identity bytes use
application/octet-stream. test_att_encoding.py covers the encoding behaviour in depth.

Helpers shared with test_multipart.py live at the top of this module (functions only, so importing
them does not pull test classes into the other module)."""

import base64
import email.message
import email.utils
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import unittest
import zlib

from divan_harness import Node, NodeTestCase, db_path, doc_path, qjson, quote, test_seed

CONFLICT = "Document update conflict."
MISSING_ATT = "Document is missing attachment"
JSON_ACCEPT = {"Accept": "application/json"}
MiB = 1024 * 1024


# ---- helpers (also imported by test_multipart) -------------------------------------------------

def b64(data):
    return base64.b64encode(data).decode("ascii")


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def digest_of(data):
    """"md5-" + base64(md5(data)): the digest of exactly these (stored) bytes."""
    return "md5-" + md5_b64(data)


# CouchDB's default [attachments] compressible_types, matched as couch_util:compressible_att_type
# does: "*" → ".*", optional parameters, surrounding blanks, case-insensitive.
COMPRESSIBLE_TYPES = ("text/*", "application/javascript", "application/json", "application/xml")
_COMPRESSIBLE_RES = [re.compile(r"^\s*" + re.escape(t).replace(r"\*", ".*") + r"(?:\s*;.*?)?\s*$",
                                re.IGNORECASE | re.DOTALL) for t in COMPRESSIBLE_TYPES]


def is_compressible(content_type):
    return any(r.match(content_type or "") for r in _COMPRESSIBLE_RES)


def gz8(data):
    """What CouchDB 3.5 stores for a compressible identity upload: zlib level 8, windowBits 31
    (gzip wrapper), memLevel 8, default strategy."""
    c = zlib.compressobj(8, zlib.DEFLATED, 31, 8)
    return c.compress(data) + c.flush()


def stored_bytes(data, content_type, stored=None):
    """The bytes the server keeps for identity `data` uploaded with `content_type` (gzip level 8
    for compressible types, else `data` itself). `stored` overrides it (a gzip upload kept as
    sent)."""
    if stored is not None:
        return stored
    return gz8(data) if is_compressible(content_type) else data


def att_digest(data, content_type, stored=None):
    """The stub digest: md5 of the stored bytes."""
    return digest_of(stored_bytes(data, content_type, stored))


def att_etag(data, content_type, stored=None):
    """The standalone GET's ETag: the quoted base64 md5 of the stored bytes."""
    return f'"{md5_b64(stored_bytes(data, content_type, stored))}"'


def is_gzip_stored(content_type, stored=None):
    return stored is not None or is_compressible(content_type)


def _encoding_props(data, content_type, stored):
    if not is_gzip_stored(content_type, stored):
        return {}
    return {"encoding": "gzip", "encoded_length": len(stored_bytes(data, content_type, stored))}


def inline(data, content_type=None, **extra):
    """An `_attachments` entry carrying base64 data (§7.1 input)."""
    att = {"data": b64(data)}
    if content_type is not None:
        att["content_type"] = content_type
    att.update(extra)
    return att


def stub_entry(data, content_type, revpos, info=False, stored=None):
    """The exact stub shape expected on read (§7.1) for identity `data`; with `info`
    (att_encoding_info=true, and every multipart JSON part) a gzip-stored attachment adds
    encoding/encoded_length."""
    att = {"content_type": content_type, "revpos": revpos,
           "digest": att_digest(data, content_type, stored), "length": len(data), "stub": True}
    if info:
        att.update(_encoding_props(data, content_type, stored))
    return att


def inline_entry(data, content_type, revpos, info=False, stored=None):
    """The exact inline shape expected with attachments=true: base64 of the IDENTITY bytes, no
    length, no stub (§7.1); encoding/encoded_length only with `info` for gzip-stored ones."""
    att = {"content_type": content_type, "revpos": revpos,
           "digest": att_digest(data, content_type, stored), "data": b64(data)}
    if info:
        att.update(_encoding_props(data, content_type, stored))
    return att


def follows_entry(data, content_type, revpos, stored=None):
    """The exact `follows` shape expected in multipart output (§6.1, §7.1): multipart JSON always
    shows the encoding of gzip-stored attachments."""
    att = {"content_type": content_type, "revpos": revpos,
           "digest": att_digest(data, content_type, stored), "length": len(data), "follows": True}
    att.update(_encoding_props(data, content_type, stored))
    return att


def att_path(db, docid, name, query=""):
    """/{db}/{docid}/{name} with every '/'-separated piece of the name percent-encoded (as PouchDB
    sends it: the slashes stay literal)."""
    path = doc_path(db, docid) + "/" + "/".join(quote(p) for p in name.split("/"))
    return path + (("?" + query) if query else "")


def content_type_param(value, param):
    """A parameter (boundary, …) of a Content-Type header value, unquoted; None if absent."""
    msg = email.message.Message()
    msg["Content-Type"] = value or ""
    got = msg.get_param(param)
    if isinstance(got, tuple):  # RFC 2231 form
        got = email.utils.collapse_rfc2231_value(got)
    return got


def mime_type(value):
    """The lowercased type/subtype of a Content-Type header value (no parameters)."""
    return (value or "").split(";", 1)[0].strip().lower()


def parse_part_headers(block):
    headers = {}
    for line in block.split(b"\r\n"):
        if not line.strip():
            continue
        k, sep, v = line.partition(b":")
        if not sep:
            raise AssertionError(f"malformed part header line {line!r}")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return headers


def parse_multipart(body, boundary):
    """Splits a MIME multipart body (RFC 2046) into [(headers dict with lowercase names, bytes)].
    A delimiter is CRLF "--" boundary followed by CRLF, "--", or transport padding; the first
    one may start the body. Raises AssertionError on framing errors (missing close delimiter)."""
    if not boundary:
        raise AssertionError("multipart reply without a boundary parameter")
    delim = b"--" + boundary.encode("latin-1")

    def find_delim(start, first):
        pos = start
        while True:
            if first and pos == 0 and body.startswith(delim):
                i = 0
                after = len(delim)
            else:
                i = body.find(b"\r\n" + delim, pos)
                if i < 0:
                    return -1, -1
                after = i + 2 + len(delim)
            tail = body[after:after + 2]
            if tail in (b"\r\n", b"--") or tail[:1] in (b" ", b"\t"):
                return i, after
            pos = (i if i > 0 else 0) + 1
            first = False

    _, after = find_delim(0, True)
    if after < 0:
        raise AssertionError(f"no opening delimiter --{boundary} in {body[:200]!r}")
    parts = []
    for _ in range(100000):
        if body[after:after + 2] == b"--":
            return parts
        eol = body.find(b"\r\n", after)
        if eol < 0:
            raise AssertionError("delimiter line not terminated")
        start = eol + 2
        end, nxt_after = find_delim(start, False)
        if end < 0:
            raise AssertionError(f"part not closed by a --{boundary} delimiter "
                                 f"(close delimiter missing?); tail {body[-120:]!r}")
        part = body[start:end]
        if part.startswith(b"\r\n"):
            head, content = b"", part[2:]
        else:
            head, sep, content = part.partition(b"\r\n\r\n")
            if not sep:
                raise AssertionError(f"part without a header/body separator: {part[:200]!r}")
        parts.append((parse_part_headers(head), content))
        after = nxt_after
    raise AssertionError("too many parts")


def multipart_body(boundary, parts):
    """Builds a multipart body from [(headers dict, bytes)]."""
    b = boundary.encode("latin-1")
    out = []
    for headers, content in parts:
        out.append(b"--" + b + b"\r\n")
        for k, v in headers.items():
            out.append(f"{k}: {v}\r\n".encode("latin-1"))
        out.append(b"\r\n")
        out.append(content)
        out.append(b"\r\n")
    out.append(b"--" + b + b"--")
    return b"".join(out)


def related_request(doc, atts, boundary="abc123divan"):
    """A multipart/related upload (§7.4): the JSON doc, then one part per (name, content_type,
    bytes, extra headers) in `atts` (in the order given). Returns (content_type, body)."""
    parts = [({"Content-Type": "application/json"}, json.dumps(doc).encode("utf-8"))]
    for name, ctype, data, extra in atts:
        headers = {"Content-Disposition": f'attachment; filename="{name}"',
                   "Content-Type": ctype, "Content-Length": str(len(data))}
        for k, v in (extra or {}).items():
            if v is None:
                headers.pop(k, None)  # extra {"Content-Length": None} drops a default header
            else:
                headers[k] = v
        parts.append((headers, data))
    return f'multipart/related; boundary="{boundary}"', multipart_body(boundary, parts)


def read_status_kb(pid, field):
    """VmHWM / VmRSS (kB) of a process from /proc/<pid>/status; None when unavailable."""
    try:
        with open(f"/proc/{pid}/status", "r") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def random_bytes(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


# ---- JSON shapes and inline data (§7.1) --------------------------------------------------------

class AttachmentTestBase(NodeTestCase):

    def setUp(self):
        self.db = self.new_db()

    def path(self, docid, query=""):
        return doc_path(self.db, docid) + (("?" + query) if query else "")

    def getdoc(self, docid, query="", headers=None):
        h = dict(JSON_ACCEPT)
        h.update(headers or {})
        r = self.get(self.path(docid, query), headers=h)
        return r

    def doc_ok(self, docid, query=""):
        r = self.getdoc(docid, query)
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        return r.body

    def put_doc(self, docid, body, query="", status=201):
        r = self.put(self.path(docid, query), body)
        self.assertStatus(r, status)
        return r.body["rev"]

    def get_att(self, docid, name, query="", headers=None):
        return self.get(att_path(self.db, docid, name, query), headers=headers)

    def att_bytes(self, docid, name, query=""):
        r = self.get_att(docid, name, query)
        self.assertStatus(r, 200)
        return r.raw

    def put_att(self, docid, name, data, query="", content_type="application/octet-stream",
                headers=None, db=None):
        h = {}
        if content_type is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        return self.put(att_path(db or self.db, docid, name, query), bytes(data), headers=h)


class InlineAttachmentTest(AttachmentTestBase):

    def test_inline_create_gives_exact_stubs(self):
        hello, blob = b"hello world", bytes(range(256))
        rev = self.put_doc("d", {"v": 1, "_attachments": {
            "a.txt": inline(hello, "text/plain"),
            "b.bin": inline(blob)}})
        self.assertRev(rev, 1)
        doc = self.doc_ok("d")
        self.assertEqual(doc["_attachments"], {
            "a.txt": stub_entry(hello, "text/plain", 1),
            "b.bin": stub_entry(blob, "application/octet-stream", 1)})
        self.assertEqual(list(doc), ["_id", "_rev", "v", "_attachments"],
                         "_attachments comes last (§5.3)")
        self.assertEqual(doc["_rev"], rev)

    def test_text_plain_digest_is_md5_of_stored_gzip_bytes(self):
        """A compressible type is stored gzip (level 8): its digest is the md5 of those bytes and
        its length the identity length; the same bytes as octet-stream keep the identity md5."""
        text = b"compressible " * 200
        self.put_doc("d", {"_attachments": {"t.txt": inline(text, "text/plain"),
                                            "t.bin": inline(text, "application/octet-stream")}})
        atts = self.doc_ok("d")["_attachments"]
        self.assertEqual(atts["t.txt"]["digest"], "md5-" + md5_b64(gz8(text)))
        self.assertEqual(atts["t.txt"]["length"], len(text))
        self.assertEqual(atts["t.bin"]["digest"], "md5-" + md5_b64(text))
        self.assertEqual(atts["t.bin"]["length"], len(text))

    def test_attachments_true_inlines_exact_shape(self):
        hello, blob = b"hello world", os.urandom(3000)
        rev = self.put_doc("d", {"_attachments": {"a.txt": inline(hello, "text/plain"),
                                                  "b.bin": inline(blob)}})
        r = self.getdoc("d", "attachments=true")
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(r.body["_rev"], rev)
        self.assertEqual(r.body["_attachments"], {
            "a.txt": inline_entry(hello, "text/plain", 1),
            "b.bin": inline_entry(blob, "application/octet-stream", 1)})

    def test_att_encoding_info_adds_encoding_for_text_only(self):
        text, js, blob = b"a" * 5000, b'{"x":1}', bytes(range(256)) * 4
        self.put_doc("d", {"_attachments": {"t.txt": inline(text, "text/plain"),
                                            "j.json": inline(js, "application/json"),
                                            "b.bin": inline(blob)}})
        plain = self.doc_ok("d")
        self.assertEqual(plain["_attachments"], {
            "t.txt": stub_entry(text, "text/plain", 1),
            "j.json": stub_entry(js, "application/json", 1),
            "b.bin": stub_entry(blob, "application/octet-stream", 1)})
        for name, att in plain["_attachments"].items():
            self.assertNotIn("encoding", att, name)
            self.assertNotIn("encoded_length", att, name)
        info = self.doc_ok("d", "att_encoding_info=true")
        self.assertEqual(info["_attachments"], {
            "t.txt": {"content_type": "text/plain", "revpos": 1, "digest": digest_of(gz8(text)),
                      "length": len(text), "stub": True, "encoding": "gzip",
                      "encoded_length": len(gz8(text))},
            "j.json": {"content_type": "application/json", "revpos": 1,
                       "digest": digest_of(gz8(js)), "length": len(js), "stub": True,
                       "encoding": "gzip", "encoded_length": len(gz8(js))},
            "b.bin": stub_entry(blob, "application/octet-stream", 1)})
        self.assertEqual(list(info["_attachments"]["t.txt"]),
                         ["content_type", "revpos", "digest", "length", "stub", "encoding",
                          "encoded_length"])
        inl = self.doc_ok("d", "attachments=true&att_encoding_info=true")
        self.assertEqual(inl["_attachments"], {
            "t.txt": inline_entry(text, "text/plain", 1, info=True),
            "j.json": inline_entry(js, "application/json", 1, info=True),
            "b.bin": inline_entry(blob, "application/octet-stream", 1, info=True)})
        self.assertNotIn("encoding", inl["_attachments"]["b.bin"])

    def test_inline_length_and_digest_ignored_and_recomputed(self):
        data = b"real content"
        self.put_doc("d", {"_attachments": {"a": inline(data, "text/plain", length=999,
                                                        digest="md5-AAAAAAAAAAAAAAAAAAAAAA==")}})
        self.assertEqual(self.doc_ok("d")["_attachments"]["a"], stub_entry(data, "text/plain", 1))

    def test_invalid_base64_400(self):
        for bad in ("!!!not base64!!!", "Zm9v!"):
            with self.subTest(data=bad):
                r = self.put(self.path("d"), {"_attachments": {
                    "a.txt": {"content_type": "text/plain", "data": bad}}})
                self.assertError(r, 400, "bad_request", "Invalid attachment data for a.txt")
        self.assertError(self.getdoc("d"), 404, "not_found", "missing")

    def test_name_starting_with_underscore_400(self):
        r = self.put(self.path("d"), {"_attachments": {"_x": inline(b"z", "text/plain")}})
        self.assertError(r, 400, "bad_request",
                         "Attachment name '_x' starts with prohibited character '_'")
        self.assertError(self.getdoc("d"), 404, "not_found", "missing")

    def test_standalone_put_name_starting_with_underscore_400(self):
        rev = self.put_doc("d", {})
        r = self.put_att("d", "_x", b"z", "rev=" + rev)
        self.assertError(r, 400, "bad_request",
                         "Attachment name '_x' starts with prohibited character '_'")
        self.assertEqual(self.doc_ok("d")["_rev"], rev)

    def test_stub_keeps_attachment_and_revpos(self):
        data = os.urandom(500)
        r1 = self.put_doc("d", {"v": 1, "_attachments": {"a.bin": inline(data)}})
        r2 = self.put_doc("d", {"_rev": r1, "v": 2, "_attachments": {"a.bin": {"stub": True}}})
        self.assertRev(r2, 2)
        doc = self.doc_ok("d")
        self.assertEqual(doc["v"], 2)
        self.assertEqual(doc["_attachments"], {"a.bin": stub_entry(data, "application/octet-stream", 1)})
        self.assertEqual(self.att_bytes("d", "a.bin", "rev=" + r2), data)
        # A stub that repeats the stored revpos (and the other read fields) is fine too.
        stub = dict(doc["_attachments"]["a.bin"])
        r3 = self.put_doc("d", {"_rev": r2, "v": 3, "_attachments": {"a.bin": stub}})
        self.assertEqual(self.doc_ok("d")["_attachments"]["a.bin"]["revpos"], 1)
        self.assertEqual(self.att_bytes("d", "a.bin"), data)
        self.assertRev(r3, 3)

    def test_new_data_revpos_is_new_rev_pos(self):
        a1, b, a3 = b"first a", b"bee", b"second a"
        r1 = self.put_doc("d", {"_attachments": {"a": inline(a1, "text/plain")}})
        r2 = self.put_doc("d", {"_rev": r1, "_attachments": {"a": {"stub": True},
                                                             "b": inline(b, "text/plain")}})
        self.assertEqual(self.doc_ok("d")["_attachments"],
                         {"a": stub_entry(a1, "text/plain", 1), "b": stub_entry(b, "text/plain", 2)})
        self.put_doc("d", {"_rev": r2, "_attachments": {"a": inline(a3, "text/plain"),
                                                        "b": {"stub": True, "revpos": 2}}})
        self.assertEqual(self.doc_ok("d")["_attachments"],
                         {"a": stub_entry(a3, "text/plain", 3), "b": stub_entry(b, "text/plain", 2)})
        self.assertEqual(self.att_bytes("d", "a"), a3)

    def test_update_without_attachments_drops_them(self):
        r1 = self.put_doc("d", {"_attachments": {"a": inline(b"1"), "b": inline(b"2")}})
        r2 = self.put_doc("d", {"_rev": r1, "v": 2, "_attachments": {"b": {"stub": True}}})
        doc = self.doc_ok("d")
        self.assertEqual(set(doc["_attachments"]), {"b"}, "an attachment not listed is dropped")
        self.assertError(self.get_att("d", "a"), 404, "not_found", MISSING_ATT)
        self.put_doc("d", {"_rev": r2, "v": 3})
        doc = self.doc_ok("d")
        self.assertNotIn("_attachments", doc, "no _attachments in the body → none kept")
        self.assertError(self.get_att("d", "b"), 404, "not_found", MISSING_ATT)

    def test_stub_with_wrong_revpos_412(self):
        r1 = self.put_doc("d", {"_attachments": {"a.txt": inline(b"x", "text/plain")}})
        r = self.put(self.path("d"), {"_rev": r1, "_attachments": {"a.txt": {"stub": True,
                                                                             "revpos": 5}}})
        self.assertError(r, 412, "missing_stub", "Invalid attachment stub in d for a.txt")
        self.assertEqual(self.doc_ok("d")["_rev"], r1)

    def test_stub_for_unknown_name_412(self):
        r1 = self.put_doc("d", {"_attachments": {"a.txt": inline(b"x", "text/plain")}})
        r = self.put(self.path("d"), {"_rev": r1, "_attachments": {"zz": {"stub": True}}})
        self.assertError(r, 412, "missing_stub", "Invalid attachment stub in d for zz")

    def test_stub_on_new_doc_412(self):
        r = self.put(self.path("fresh"), {"_attachments": {"a": {"stub": True, "revpos": 1}}})
        self.assertError(r, 412, "missing_stub", "Previous revision missing for document fresh")
        self.assertError(self.getdoc("fresh"), 404, "not_found", "missing")

    def test_same_content_two_names_and_two_docs(self):
        data = os.urandom(4096)
        self.put_doc("d1", {"_attachments": {"x": inline(data), "y": inline(data)}})
        r2 = self.put_doc("d2", {"_attachments": {"z": inline(data, "image/png")}})
        d1 = self.doc_ok("d1")["_attachments"]
        self.assertEqual(d1["x"]["digest"], d1["y"]["digest"])
        self.assertEqual(self.doc_ok("d2")["_attachments"]["z"]["digest"], d1["x"]["digest"])
        # Drop x from d1 (y stays), then delete d1 entirely: d2's copy must stay readable.
        rev = self.doc_ok("d1")["_rev"]
        rev = self.put_doc("d1", {"_rev": rev, "_attachments": {"y": {"stub": True}}})
        self.assertEqual(self.att_bytes("d1", "y"), data)
        self.assertError(self.get_att("d1", "x"), 404, "not_found", MISSING_ATT)
        self.assertStatus(self.delete(self.path("d1", "rev=" + rev)), 200)
        self.assertError(self.get_att("d1", "y"), 404, "not_found", "deleted")
        r = self.get_att("d2", "z", "rev=" + r2)
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, data)
        self.assertEqual(r.content_type(), "image/png")

    def test_new_edits_false_json_inline_keeps_given_revpos(self):
        data = b"replicated bytes"
        doc = self.path_doc("d", 3, ["c" * 32, "b" * 32, "a" * 32], v=1,
                            _attachments={"r.txt": inline(data, "text/plain", revpos=2)})
        r = self.put(self.path("d", "new_edits=false"), doc)
        self.assertStatus(r, 201)
        self.assertEqual(r.body, {"ok": True, "id": "d", "rev": "3-" + "c" * 32})
        got = self.doc_ok("d")
        self.assertEqual(got["_attachments"], {"r.txt": stub_entry(data, "text/plain", 2)})
        self.assertEqual(self.att_bytes("d", "r.txt", "rev=3-" + "c" * 32), data)

    def test_new_edits_false_stub_resolved_against_ancestor(self):
        data = os.urandom(700)
        ids = ["c" * 32, "b" * 32, "a" * 32]
        self.replicate_in(self.db, [self.path_doc("d", 2, ids[1:], _attachments={
            "p.bin": inline(data, "application/octet-stream", revpos=2)})])
        r = self.put(self.path("d", "new_edits=false"), self.path_doc(
            "d", 3, ids, v=3, _attachments={"p.bin": {"stub": True, "revpos": 2}}))
        self.assertStatus(r, 201)
        self.assertEqual(self.doc_ok("d")["_attachments"],
                         {"p.bin": stub_entry(data, "application/octet-stream", 2)})
        self.assertEqual(self.att_bytes("d", "p.bin", "rev=3-" + ids[0]), data)

    def test_new_edits_false_stub_without_base_412(self):
        r = self.put(self.path("d", "new_edits=false"), self.path_doc(
            "d", 2, ["b" * 32, "a" * 32], _attachments={"p.bin": {"stub": True, "revpos": 1}}))
        self.assertStatus(r, 412)
        self.assertError(r, 412, "missing_stub")
        self.assertError(self.getdoc("d"), 404, "not_found", "missing")


# ---- atts_since (§6.1, revision-trees.md §8) ---------------------------------------------------

class AttsSinceTest(AttachmentTestBase):

    def setUp(self):
        super().setUp()
        self.a, self.b, self.c = b"att a", b"att b" * 10, os.urandom(100)
        self.r1 = self.put_doc("d", {"_attachments": {"a": inline(self.a, "text/plain")}})
        self.r2 = self.put_doc("d", {"_rev": self.r1, "_attachments": {
            "a": {"stub": True}, "b": inline(self.b, "text/plain")}})
        self.r3 = self.put_doc("d", {"_rev": self.r2, "_attachments": {
            "a": {"stub": True}, "b": {"stub": True}, "c": inline(self.c)}})

    def expect(self, since, inlined):
        r = self.getdoc("d", "atts_since=" + qjson(since))
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        want = {}
        for name, data, ctype, pos in (("a", self.a, "text/plain", 1),
                                       ("b", self.b, "text/plain", 2),
                                       ("c", self.c, "application/octet-stream", 3)):
            want[name] = (inline_entry if name in inlined else stub_entry)(data, ctype, pos)
        self.assertEqual(r.body["_attachments"], want, f"atts_since={since}")
        self.assertEqual(r.body["_rev"], self.r3)

    def test_boundary_equal_revpos_is_stub(self):
        self.expect([self.r2], {"c"})

    def test_older_ancestor(self):
        self.expect([self.r1], {"b", "c"})

    def test_current_rev_all_stubs(self):
        self.expect([self.r3], set())

    def test_nearest_listed_ancestor_wins(self):
        self.expect([self.r1, self.r2], {"c"})
        self.expect(["9-" + "f" * 32, self.r1], {"b", "c"})

    def test_no_listed_rev_found_all_inline(self):
        self.expect(["2-" + "e" * 32], {"a", "b", "c"})
        self.expect(["1-" + "0" * 32, "7-" + "1" * 32], {"a", "b", "c"})


# ---- standalone endpoints (§7.2) ---------------------------------------------------------------

class StandaloneAttachmentTest(AttachmentTestBase):

    def test_get_headers(self):
        data, blob = b"hello standalone", b"\x00\x01 binary standalone"
        gz = gz8(data)
        self.put_doc("d", {"_attachments": {"a.txt": inline(data, "text/plain"),
                                            "b.bin": inline(blob)}})
        # (attachment, request headers, body, Content-Type, ETag, Accept-Ranges, Content-Encoding)
        cases = (
            ("a.txt", {}, data, "text/plain", f'"{md5_b64(gz)}"', "none", None),
            ("a.txt", {"Accept-Encoding": "gzip"}, gz, "text/plain", f'"{md5_b64(gz)}"', "none",
             "gzip"),
            ("a.txt", {"Accept": "application/json"}, data, "text/plain", f'"{md5_b64(gz)}"',
             "none", None),
            ("b.bin", {}, blob, "application/octet-stream", f'"{md5_b64(blob)}"', "bytes", None),
            ("b.bin", {"Accept-Encoding": "gzip"}, blob, "application/octet-stream",
             f'"{md5_b64(blob)}"', "bytes", None))
        for name, extra, body, ctype, etag, ranges, encoding in cases:
            with self.subTest(att=name, headers=extra):
                r = self.get_att("d", name, headers=extra)
                self.assertStatus(r, 200)
                self.assertEqual(r.raw, body)
                self.assertEqual(r.header("Content-Type"), ctype)
                self.assertEqual(r.header("ETag"), etag)
                self.assertEqual(r.header("Content-Length"), str(len(body)))
                self.assertEqual(r.header("Accept-Ranges"), ranges)
                self.assertEqual(r.header("Content-Encoding"), encoding)

    def test_head(self):
        data = os.urandom(1234)
        self.put_doc("d", {"_attachments": {"a.bin": inline(data)}})
        r = self.head(att_path(self.db, "d", "a.bin"))
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, b"")
        self.assertEqual(r.header("Content-Length"), str(len(data)))
        self.assertEqual(r.header("ETag"), f'"{md5_b64(data)}"')
        self.assertEqual(r.header("Content-Type"), "application/octet-stream")

    def test_if_none_match_304(self):
        data = b"cache me"
        self.put_doc("d", {"_attachments": {"a.txt": inline(data, "text/plain")}})
        etag = f'"{md5_b64(gz8(data))}"'  # md5 of the stored (gzip) bytes
        for inm in (etag, f'"nope", {etag}'):
            with self.subTest(if_none_match=inm):
                r = self.get_att("d", "a.txt", headers={"If-None-Match": inm})
                self.assertStatus(r, 304)
                self.assertEqual(r.raw, b"")
                self.assertEqual(r.header("ETag"), etag)
        r = self.get_att("d", "a.txt", headers={"If-None-Match": '"other"'})
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, data)

    def test_get_each_conflict_leaf_by_rev(self):
        x, y = b"leaf x bytes", b"leaf y bytes!"
        self.replicate_in(self.db, [
            self.path_doc("d", 2, ["b" * 32, "a" * 32], _attachments={"f": inline(x, "text/plain", revpos=2)}),
            self.path_doc("d", 2, ["c" * 32, "a" * 32], _attachments={"f": inline(y, "text/plain", revpos=2)})])
        self.assertEqual(self.att_bytes("d", "f", "rev=2-" + "b" * 32), x)
        self.assertEqual(self.att_bytes("d", "f", "rev=2-" + "c" * 32), y)
        self.assertEqual(self.att_bytes("d", "f"), y, "no rev → the winner (2-ccc… > 2-bbb…)")

    def test_get_missing_cases(self):
        self.assertError(self.get_att("nodoc", "a"), 404, "not_found", "missing")
        rev = self.put_doc("d", {"_attachments": {"a": inline(b"1")}})
        self.assertError(self.get_att("d", "zz"), 404, "not_found", MISSING_ATT)
        self.assertError(self.get_att("d", "a", "rev=1-" + "0" * 32), 404, "not_found", "missing")
        self.assertStatus(self.delete(self.path("d", "rev=" + rev)), 200)
        self.assertError(self.get_att("d", "a"), 404, "not_found", "deleted")

    def test_put_creates_doc_without_rev(self):
        data = os.urandom(2048)
        r = self.put_att("new", "f.bin", data)
        self.assertStatus(r, 201)
        self.assertEqual(set(r.body), {"ok", "id", "rev"})
        self.assertEqual((r.body["ok"], r.body["id"]), (True, "new"))
        self.assertRev(r.body["rev"], 1)
        # CouchDB answers the attachment's URL; the spec (§7.2) only asks for a Location.
        self.assertRegex(r.header("Location") or "", rf"^http://[^/]+/{self.db}/new(/f\.bin)?$")
        doc = self.doc_ok("new")
        self.assertEqual(doc, {"_id": "new", "_rev": r.body["rev"], "_attachments": {
            "f.bin": stub_entry(data, "application/octet-stream", 1)}})
        self.assertEqual(self.att_bytes("new", "f.bin"), data)

    def test_put_without_content_type_defaults_octet_stream(self):
        r = self.put_att("d", "raw", b"\x00\x01\x02", content_type=None)
        self.assertStatus(r, 201)
        self.assertEqual(self.doc_ok("d")["_attachments"]["raw"]["content_type"],
                         "application/octet-stream")

    def test_put_keeps_other_attachments(self):
        a, b, c, a2 = b"aaa", b"bbbb", b"ccccc", b"new a"
        r1 = self.put_doc("d", {"v": 1, "_attachments": {"a": inline(a, "text/plain"),
                                                         "b": inline(b, "text/plain")}})
        r = self.put_att("d", "c", c, "rev=" + r1, content_type="text/x-c")
        self.assertStatus(r, 201)
        r2 = r.body["rev"]
        self.assertRev(r2, 2)
        doc = self.doc_ok("d")
        self.assertEqual(doc["v"], 1, "the body is kept")
        self.assertEqual(doc["_attachments"], {"a": stub_entry(a, "text/plain", 1),
                                               "b": stub_entry(b, "text/plain", 1),
                                               "c": stub_entry(c, "text/x-c", 2)})
        r = self.put_att("d", "a", a2, "rev=" + r2, content_type="text/plain")
        self.assertStatus(r, 201)
        self.assertEqual(self.doc_ok("d")["_attachments"], {"a": stub_entry(a2, "text/plain", 3),
                                                            "b": stub_entry(b, "text/plain", 1),
                                                            "c": stub_entry(c, "text/x-c", 2)})
        self.assertEqual(self.att_bytes("d", "a"), a2)

    def test_put_without_rev_on_existing_doc_409(self):
        self.put_doc("d", {})
        self.assertError(self.put_att("d", "a", b"x"), 409, "conflict", CONFLICT)

    def test_put_stale_rev_409(self):
        r1 = self.put_doc("d", {})
        self.put_doc("d", {"_rev": r1, "v": 2})
        self.assertError(self.put_att("d", "a", b"x", "rev=" + r1), 409, "conflict", CONFLICT)

    def test_put_rev_via_if_match(self):
        r1 = self.put_doc("d", {})
        r = self.put_att("d", "a", b"x", headers={"If-Match": r1})
        self.assertStatus(r, 201)
        self.assertRev(r.body["rev"], 2)

    def test_put_other_content_encoding_415(self):
        rev = self.put_doc("d", {})
        for enc in ("br", "deflate"):
            with self.subTest(encoding=enc):
                r = self.put_att("d", "a", b"x", "rev=" + rev, headers={"Content-Encoding": enc})
                self.assertError(r, 415, "bad_content_type",
                                 "Only gzip and identity content-encodings are supported")
        self.assertEqual(self.doc_ok("d")["_rev"], rev)

    def test_put_gzip_encoded_is_stored_as_sent(self):
        data = b"line of text\n" * 500
        sent = gzip.compress(data, mtime=0)  # level 9, Python's header: not what level 8 makes
        self.assertNotEqual(sent, gz8(data))
        r = self.put_att("d", "t.txt", sent, content_type="text/plain",
                         headers={"Content-Encoding": "gzip"})
        self.assertStatus(r, 201)
        rev = r.body["rev"]
        self.assertEqual(self.doc_ok("d")["_attachments"]["t.txt"],
                         {"content_type": "text/plain", "revpos": 1, "digest": digest_of(sent),
                          "length": len(data), "stub": True})
        self.assertEqual(self.doc_ok("d", "att_encoding_info=true")["_attachments"]["t.txt"],
                         {"content_type": "text/plain", "revpos": 1, "digest": digest_of(sent),
                          "length": len(data), "stub": True, "encoding": "gzip",
                          "encoded_length": len(sent)})
        g = self.get_att("d", "t.txt", headers={"Accept-Encoding": "gzip"})
        self.assertStatus(g, 200)
        self.assertEqual(g.header("Content-Encoding"), "gzip")
        self.assertEqual(g.header("ETag"), f'"{md5_b64(sent)}"')
        self.assertEqual(g.raw, sent)
        g = self.get_att("d", "t.txt")
        self.assertStatus(g, 200)
        self.assertIsNone(g.header("Content-Encoding"))
        self.assertEqual(g.header("ETag"), f'"{md5_b64(sent)}"')
        self.assertEqual(g.raw, data)
        r = self.put_att("d", "i.txt", b"identity", "rev=" + rev, content_type="text/plain",
                         headers={"Content-Encoding": "identity"})
        self.assertStatus(r, 201)
        self.assertEqual(self.att_bytes("d", "i.txt"), b"identity")
        self.assertEqual(self.doc_ok("d")["_attachments"]["i.txt"],
                         stub_entry(b"identity", "text/plain", 2))

    def test_name_with_slash(self):
        one, two = b"in a dir", b"also in a dir"
        r = self.put(doc_path(self.db, "d") + "/dir/f.bin", one,
                     headers={"Content-Type": "application/octet-stream"})
        self.assertStatus(r, 201)
        self.assertEqual(set(self.doc_ok("d")["_attachments"]), {"dir/f.bin"})
        r2 = self.get(doc_path(self.db, "d") + "/dir%2Ff.bin")
        self.assertStatus(r2, 200)
        self.assertEqual(r2.raw, one)
        r = self.put(doc_path(self.db, "d") + "/dir%2Fg.bin?rev=" + r.body["rev"], two,
                     headers={"Content-Type": "application/octet-stream"})
        self.assertStatus(r, 201)
        r3 = self.get(doc_path(self.db, "d") + "/dir/g.bin")
        self.assertStatus(r3, 200)
        self.assertEqual(r3.raw, two)
        self.assertEqual(set(self.doc_ok("d")["_attachments"]), {"dir/f.bin", "dir/g.bin"})

    def test_local_docs_do_not_accept_attachments(self):
        self.assertStatus(self.put(doc_path(self.db, "_local/x"), {"v": 1}), 201)
        reason = "_local documents do not accept attachments."
        base = doc_path(self.db, "_local/x") + "/att"
        for method in ("GET", "PUT", "DELETE"):
            with self.subTest(method=method):
                body = b"bytes" if method == "PUT" else None
                r = self.req(method, base, body,
                             headers={"Content-Type": "application/octet-stream"} if body else None)
                self.assertError(r, 400, "bad_request", reason)
        self.assertEqual(self.get(doc_path(self.db, "_local/x")).body,
                         {"_id": "_local/x", "_rev": "0-1", "v": 1})

    def test_delete_attachment_keeps_others(self):
        a, b = b"first", b"second"
        r1 = self.put_doc("d", {"v": 1, "_attachments": {"a": inline(a, "text/plain"),
                                                         "b": inline(b, "text/plain")}})
        r = self.delete(att_path(self.db, "d", "a", "rev=" + r1))
        self.assertStatus(r, 200)
        self.assertJsonReply(r)
        self.assertEqual(set(r.body), {"ok", "id", "rev"})
        self.assertEqual((r.body["ok"], r.body["id"]), (True, "d"))
        r2 = r.body["rev"]
        self.assertRev(r2, 2)
        doc = self.doc_ok("d")
        self.assertEqual(doc["_rev"], r2)
        self.assertEqual(doc["v"], 1)
        self.assertEqual(doc["_attachments"], {"b": stub_entry(b, "text/plain", 1)})
        self.assertError(self.get_att("d", "a"), 404, "not_found", MISSING_ATT)
        self.assertEqual(self.att_bytes("d", "b"), b)

    def test_delete_with_rev_lacking_attachment_404(self):
        r1 = self.put_doc("d", {"_attachments": {"b": inline(b"b")}})
        self.assertError(self.delete(att_path(self.db, "d", "a", "rev=" + r1)), 404, "not_found",
                         MISSING_ATT)
        self.assertEqual(self.doc_ok("d")["_rev"], r1)

    def test_delete_stale_rev_having_it_409(self):
        r1 = self.put_doc("d", {"_attachments": {"a": inline(b"a")}})
        r2 = self.put_doc("d", {"_rev": r1, "v": 2, "_attachments": {"a": {"stub": True}}})
        self.assertError(self.delete(att_path(self.db, "d", "a", "rev=" + r1)), 409, "conflict",
                         CONFLICT)
        self.assertEqual(self.doc_ok("d")["_rev"], r2)

    def test_delete_without_rev_409_and_if_match(self):
        r1 = self.put_doc("d", {"_attachments": {"a": inline(b"a"), "b": inline(b"b")}})
        self.assertError(self.delete(att_path(self.db, "d", "a")), 409, "conflict", CONFLICT)
        r = self.delete(att_path(self.db, "d", "a"), headers={"If-Match": r1})
        self.assertStatus(r, 200)
        self.assertEqual(set(self.doc_ok("d")["_attachments"]), {"b"})

    def test_delete_missing_doc_404(self):
        self.assertError(self.delete(att_path(self.db, "nodoc", "a", "rev=1-" + "a" * 32)), 404,
                         "not_found")


# ---- Range (§7.2) ------------------------------------------------------------------------------

class RangeTest(AttachmentTestBase):
    """Byte ranges of an identity-stored attachment (application/octet-stream: not compressible).
    gzip-stored attachments answer `Accept-Ranges: none` (test_att_encoding.py)."""

    DATA = bytes(range(65, 91)) * 4  # 104 bytes, A..Z repeated
    CTYPE = "application/octet-stream"

    def setUp(self):
        super().setUp()
        self.put_doc("d", {"_attachments": {"r.bin": inline(self.DATA, self.CTYPE)}})
        self.n = len(self.DATA)

    def ranged(self, spec):
        return self.get_att("d", "r.bin", headers={"Range": spec})

    def assertSlice(self, spec, start, end):
        r = self.ranged(spec)
        self.assertStatus(r, 206, spec)
        self.assertEqual(r.header("Content-Type"), self.CTYPE, spec)
        self.assertEqual(r.header("Accept-Ranges"), "bytes", spec)
        self.assertIsNone(r.header("Content-Encoding"), spec)
        self.assertEqual(r.header("Content-Range"), f"bytes {start}-{end}/{self.n}", spec)
        self.assertEqual(r.header("Content-Length"), str(end - start + 1), spec)
        self.assertEqual(r.raw, self.DATA[start:end + 1], spec)

    def test_single_range(self):
        self.assertSlice("bytes=2-5", 2, 5)
        self.assertSlice("bytes=0-0", 0, 0)

    def test_suffix_range(self):
        self.assertSlice("bytes=-3", self.n - 3, self.n - 1)

    def test_open_ended_range(self):
        self.assertSlice("bytes=10-", 10, self.n - 1)

    def test_end_past_length_is_clipped(self):
        self.assertSlice(f"bytes=100-{self.n + 500}", 100, self.n - 1)

    def test_zero_open_range_is_200_whole(self):
        r = self.ranged("bytes=0-")
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, self.DATA)

    def test_start_past_end_416(self):
        for spec in (f"bytes={self.n + 5}-", f"bytes={self.n + 5}-{self.n + 10}", "bytes=9-3"):
            with self.subTest(range=spec):
                r = self.ranged(spec)
                self.assertError(r, 416, "requested_range_not_satisfiable",
                                 "Requested range not satisfiable")

    def test_two_ranges_multipart_byteranges(self):
        r = self.ranged("bytes=0-1,4-6")
        self.assertStatus(r, 206)
        ctype = r.header("Content-Type")
        self.assertEqual(mime_type(ctype), "multipart/byteranges")
        parts = parse_multipart(r.raw, content_type_param(ctype, "boundary"))
        self.assertEqual(len(parts), 2, parts)
        for (headers, body), (start, end) in zip(parts, ((0, 1), (4, 6))):
            self.assertEqual(mime_type(headers.get("content-type")), self.CTYPE)
            self.assertEqual(headers.get("content-range"), f"bytes {start}-{end}/{self.n}")
            self.assertEqual(body, self.DATA[start:end + 1])


# ---- _bulk_docs, _bulk_get, _changes, _all_docs ------------------------------------------------

class BulkAndFeedsTest(AttachmentTestBase):

    def test_bulk_docs_inline_then_stub(self):
        data = os.urandom(300)
        r = self.post(db_path(self.db) + "/_bulk_docs", {"docs": [
            {"_id": "a", "_attachments": {"f": inline(data)}}, {"_id": "b"}]})
        self.assertStatus(r, 201)
        self.assertTrue(all(x.get("ok") for x in r.body), r)
        rev = r.body[0]["rev"]
        self.assertEqual(self.doc_ok("a")["_attachments"],
                         {"f": stub_entry(data, "application/octet-stream", 1)})
        r = self.post(db_path(self.db) + "/_bulk_docs", {"docs": [
            {"_id": "a", "_rev": rev, "v": 2, "_attachments": {"f": {"stub": True}}}]})
        self.assertStatus(r, 201)
        self.assertIs(r.body[0].get("ok"), True, r)
        self.assertEqual(self.doc_ok("a")["_attachments"],
                         {"f": stub_entry(data, "application/octet-stream", 1)})

    def test_bulk_docs_new_edits_false_unknown_stub_412(self):
        r = self.post(db_path(self.db) + "/_bulk_docs", {"new_edits": False, "docs": [
            self.path_doc("ok-doc", 1, ["a" * 32], v=1),
            self.path_doc("d", 2, ["b" * 32, "a" * 32], _attachments={"f": {"stub": True,
                                                                             "revpos": 1}})]})
        self.assertError(r, 412, "missing_stub")
        self.assertError(self.getdoc("d"), 404, "not_found", "missing")
        # The whole request is aborted (§7.3): the other doc of the batch is not written either.
        self.assertError(self.getdoc("ok-doc"), 404, "not_found", "missing")

    def test_bulk_docs_new_edits_false_inline_revpos_and_stub_on_path(self):
        data = b"payload"
        ids = ["c" * 32, "b" * 32, "a" * 32]
        self.replicate_in(self.db, [self.path_doc("d", 2, ids[1:], _attachments={
            "f": inline(data, "text/plain", revpos=1)})])
        self.assertEqual(self.doc_ok("d")["_attachments"], {"f": stub_entry(data, "text/plain", 1)})
        self.replicate_in(self.db, [self.path_doc("d", 3, ids, v=3, _attachments={
            "f": {"stub": True, "revpos": 1, "content_type": "text/plain"}})])
        doc = self.doc_ok("d")
        self.assertEqual(doc["_rev"], "3-" + ids[0])
        self.assertEqual(doc["_attachments"], {"f": stub_entry(data, "text/plain", 1)})

    def test_bulk_docs_new_edits_false_revpos_absent_defaults_to_0(self):
        data = b"no revpos"
        self.replicate_in(self.db, [self.path_doc("d", 1, ["a" * 32], _attachments={
            "f": inline(data, "text/plain")})])
        self.assertEqual(self.doc_ok("d")["_attachments"]["f"]["revpos"], 0)

    def test_bulk_get_attachments(self):
        data = os.urandom(200)
        rev = self.put_doc("d", {"_attachments": {"f": inline(data)}})
        url = db_path(self.db) + "/_bulk_get"
        r = self.post(url, {"docs": [{"id": "d", "rev": rev}]}, headers=JSON_ACCEPT)
        self.assertStatus(r, 200)
        self.assertEqual(r.body["results"][0]["docs"][0]["ok"]["_attachments"],
                         {"f": stub_entry(data, "application/octet-stream", 1)})
        r = self.post(url + "?attachments=true", {"docs": [{"id": "d", "rev": rev}]},
                      headers=JSON_ACCEPT)
        self.assertStatus(r, 200)
        self.assertEqual(list(r.body), ["results"])
        self.assertEqual(r.body["results"][0]["docs"][0]["ok"]["_attachments"],
                         {"f": inline_entry(data, "application/octet-stream", 1)})

    def test_bulk_get_atts_since_per_entry(self):
        a, b = b"old", b"new"
        r1 = self.put_doc("d", {"_attachments": {"a": inline(a, "text/plain")}})
        r2 = self.put_doc("d", {"_rev": r1, "_attachments": {"a": {"stub": True},
                                                             "b": inline(b, "text/plain")}})
        r = self.post(db_path(self.db) + "/_bulk_get", {"docs": [
            {"id": "d", "rev": r2, "atts_since": [r1]},
            {"id": "d", "rev": r2, "atts_since": [r2]},
            {"id": "d", "rev": r2, "atts_since": ["1-" + "9" * 32]},
            {"id": "d", "rev": r2}]}, headers=JSON_ACCEPT)
        self.assertStatus(r, 200)
        res = [e["docs"][0]["ok"]["_attachments"] for e in r.body["results"]]
        self.assertEqual(res[0], {"a": stub_entry(a, "text/plain", 1), "b": inline_entry(b, "text/plain", 2)})
        self.assertEqual(res[1], {"a": stub_entry(a, "text/plain", 1), "b": stub_entry(b, "text/plain", 2)})
        self.assertEqual(res[2], {"a": inline_entry(a, "text/plain", 1), "b": inline_entry(b, "text/plain", 2)})
        self.assertEqual(res[3], {"a": stub_entry(a, "text/plain", 1), "b": stub_entry(b, "text/plain", 2)})

    def test_changes_include_docs(self):
        data = b"in the feed"
        self.put_doc("d", {"_attachments": {"f": inline(data, "text/plain")}})
        base = db_path(self.db) + "/_changes?include_docs=true"
        r = self.get(base)
        self.assertStatus(r, 200)
        [row] = r.body["results"]
        self.assertEqual(row["doc"]["_attachments"], {"f": stub_entry(data, "text/plain", 1)})
        r = self.get(base + "&attachments=true", headers=JSON_ACCEPT)
        self.assertStatus(r, 200)
        [row] = r.body["results"]
        self.assertEqual(row["doc"]["_attachments"], {"f": inline_entry(data, "text/plain", 1)})

    def test_all_docs_include_docs(self):
        data = b"listed"
        self.put_doc("d", {"_attachments": {"f": inline(data, "text/plain")}})
        r = self.get(db_path(self.db) + "/_all_docs?include_docs=true")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["rows"][0]["doc"]["_attachments"],
                         {"f": stub_entry(data, "text/plain", 1)})
        r = self.get(db_path(self.db) + "/_all_docs?include_docs=true&attachments=true",
                     headers=JSON_ACCEPT)
        self.assertStatus(r, 200)
        self.assertEqual(r.body["rows"][0]["doc"]["_attachments"],
                         {"f": inline_entry(data, "text/plain", 1)})


# ---- deterministic revs (revision-trees.md §2.2) ------------------------------------------------

class DeterministicRevTest(AttachmentTestBase):

    def rev_in_fresh_db(self, body, att=None):
        db = self.new_db()
        r = self.put(doc_path(db, "d"), body)
        self.assertStatus(r, 201)
        rev = r.body["rev"]
        if att is not None:
            name, data, ctype = att
            r = self.put_att("d", name, data, "rev=" + rev, content_type=ctype, db=db)
            self.assertStatus(r, 201)
            rev = r.body["rev"]
        return rev

    def test_inline_same_edit_same_rev(self):
        data = b"deterministic"
        body = {"v": 1, "_attachments": {"a": inline(data, "text/plain")}}
        r1, r2 = self.rev_in_fresh_db(body), self.rev_in_fresh_db(body)
        self.assertEqual(r1, r2)
        other = self.rev_in_fresh_db({"v": 1, "_attachments": {"a": inline(b"deterministiC",
                                                                           "text/plain")}})
        self.assertNotEqual(other, r1, "a different attachment byte → a different rev")
        typed = self.rev_in_fresh_db({"v": 1, "_attachments": {"a": inline(data, "text/html")}})
        self.assertNotEqual(typed, r1, "a different content type → a different rev")
        named = self.rev_in_fresh_db({"v": 1, "_attachments": {"b": inline(data, "text/plain")}})
        self.assertNotEqual(named, r1, "a different name → a different rev")
        bare = self.rev_in_fresh_db({"v": 1})
        self.assertNotEqual(bare, r1, "with vs without the attachment")

    def test_standalone_same_edit_same_rev(self):
        data = os.urandom(1000)
        r1 = self.rev_in_fresh_db({"v": 1}, ("f.bin", data, "application/octet-stream"))
        r2 = self.rev_in_fresh_db({"v": 1}, ("f.bin", data, "application/octet-stream"))
        self.assertEqual(r1, r2)
        changed = bytearray(data)
        changed[500] ^= 1
        r3 = self.rev_in_fresh_db({"v": 1}, ("f.bin", bytes(changed), "application/octet-stream"))
        self.assertNotEqual(r3, r1)


# ---- restart survival --------------------------------------------------------------------------

class AttachmentRestartTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="divan-it-att-")
        self.node = Node(data_dir=self.dir).start()
        self.addCleanup(self.cleanup)

    def cleanup(self):
        self.node.stop()
        if os.environ.get("DIVAN_KEEP"):
            print(f"[divan-it] kept attachment data dir {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def test_attachments_survive_kill_9(self):
        rng = random.Random(test_seed())
        big, small = random_bytes(rng, 300 * 1024), b"inline text"
        n = self.node
        self.assertEqual(n.put("/atts").status, 201)
        r = n.put("/atts/d", {"v": 1, "_attachments": {"s.txt": inline(small, "text/plain")}})
        self.assertEqual(r.status, 201, r)
        r = n.put("/atts/d/big.bin?rev=" + r.body["rev"], big,
                  headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 201, r)
        rev = r.body["rev"]
        before = n.get("/atts/d", headers=JSON_ACCEPT)
        self.assertEqual(before.status, 200, before)
        n.kill()
        n.close_connections()
        n.start()
        after = n.get("/atts/d", headers=JSON_ACCEPT)
        self.assertEqual(after.status, 200, after)
        self.assertEqual(after.body, before.body)
        self.assertEqual(after.body["_rev"], rev)
        self.assertEqual(after.body["_attachments"]["big.bin"],
                         stub_entry(big, "application/octet-stream", 2))
        g = n.get("/atts/d/big.bin?rev=" + rev)
        self.assertEqual(g.status, 200, g)
        self.assertTrue(g.raw == big, "big.bin differs after kill -9 + restart")
        g = n.get("/atts/d/s.txt")
        self.assertEqual((g.status, g.raw), (200, small))
        self.assertEqual(n.stop(), 0)


# ---- a 20 MiB body is streamed, not buffered ---------------------------------------------------

class LargeAttachmentTest(NodeTestCase):
    """Own node (setUpClass per class), so the peak-RSS baseline is not inflated by other tests."""

    SIZE = 20 * MiB
    CHUNK = MiB

    def stream_put(self, path, seed, size, content_type="application/octet-stream"):
        """PUTs `size` seeded random bytes in CHUNK pieces on one connection; returns (response
        status, parsed JSON body, md5 hexdigest of what was sent). Holds one chunk at a time."""
        rng = random.Random(seed)
        md5 = hashlib.md5()

        def chunks():
            left = size
            for _ in range(size // self.CHUNK + 2):
                if left <= 0:
                    return
                piece = random_bytes(rng, min(self.CHUNK, left))
                md5.update(piece)
                left -= len(piece)
                yield piece

        conn = self.node.new_connection(timeout=120)
        try:
            conn.request("PUT", path, body=chunks(),
                         headers={"Content-Type": content_type, "Content-Length": str(size)})
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = raw
        return resp.status, body, md5.hexdigest()

    def stream_get(self, path):
        """GETs path reading CHUNK pieces; returns (status, headers, md5 hexdigest, length)."""
        conn = self.node.new_connection(timeout=120)
        md5, total = hashlib.md5(), 0
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            for _ in range(self.SIZE // self.CHUNK * 64 + 64):
                piece = resp.read(self.CHUNK)
                if not piece:
                    break
                md5.update(piece)
                total += len(piece)
            headers = resp.headers
            status = resp.status
        finally:
            conn.close()
        return status, headers, md5.hexdigest(), total

    def test_20mib_standalone_put_get_streamed(self):
        pid = self.node.proc.pid
        if read_status_kb(pid, "VmHWM") is None:
            self.skipTest("/proc/<pid>/status VmHWM not available")
        db = self.new_db()
        seed = test_seed()
        # Warm up: the same code paths with 1 MiB, so thread stacks, buffers and caches exist.
        status, body, _ = self.stream_put(f"/{db}/warm/w.bin", seed + 1, MiB)
        self.assertEqual(status, 201, body)
        self.assertEqual(self.stream_get(f"/{db}/warm/w.bin")[0], 200)
        hwm_before = read_status_kb(pid, "VmHWM")
        rss_before = read_status_kb(pid, "VmRSS")

        status, body, sent_md5 = self.stream_put(f"/{db}/big/b.bin", seed, self.SIZE)
        self.assertEqual(status, 201, body)
        self.assertRev(body["rev"], 1)
        status, headers, got_md5, length = self.stream_get(f"/{db}/big/b.bin")
        self.assertEqual(status, 200)
        self.assertEqual(length, self.SIZE)
        self.assertEqual(headers.get("Content-Length"), str(self.SIZE))
        self.assertEqual(got_md5, sent_md5, "20 MiB attachment did not round-trip byte-exact")
        stub = self.get(doc_path(db, "big"), headers=JSON_ACCEPT).body["_attachments"]["b.bin"]
        self.assertEqual(stub["length"], self.SIZE)
        self.assertEqual(stub["digest"], "md5-" + base64.b64encode(bytes.fromhex(sent_md5)).decode())

        hwm_after = read_status_kb(pid, "VmHWM")
        grew = (hwm_after - hwm_before) * 1024
        print(f"[divan-it] VmHWM {hwm_before} kB → {hwm_after} kB (VmRSS before {rss_before} kB)",
              file=sys.stderr)
        self.assertLess(grew, self.SIZE,
                        f"peak RSS grew by {grew / MiB:.1f} MiB for a {self.SIZE // MiB} MiB "
                        "attachment: the body was buffered, not streamed")


if __name__ == "__main__":
    unittest.main()


# ---- Regressions from the attachments review -----------------------------------------------------

class AttachmentLimitsRegressionTest(AttachmentTestBase):
    """Header injection through stored content types and names, gzip uploads past the size limit,
    If-None-Match read as a list. Own node with a 1 MiB max_attachment_size."""

    node_args = ("--max-attachment-size", str(MiB))

    def assert_no_injected_header(self, r):
        self.assertIsNone(r.header("X-Injected"), r)

    def test_json_content_type_with_crlf_400(self):
        bad = "text/plain\r\nX-Injected: yes"
        r = self.put(self.path("d"), {"_attachments": {"a": inline(b"x", bad)}})
        self.assertError(r, 400, "bad_request",
                         "Attachment content_type must not contain control characters")
        r = self.post(db_path(self.db) + "/_bulk_docs",
                      {"docs": [{"_id": "e", "_attachments": {"a": inline(b"x", "a\u0001b")}}]})
        self.assertStatus(r, 400)
        self.assertStatus(self.getdoc("d"), 404)
        self.assertStatus(self.getdoc("e"), 404)

    def test_attachment_name_with_control_characters_400(self):
        r = self.put(self.path("d") + "/a%0D%0AX-Injected:%20yes", b"x",
                     headers={"Content-Type": "text/plain"})
        self.assertStatus(r, 400)
        self.assertTrue(r.body["reason"].startswith("Attachment name "), r.body)
        r = self.put(self.path("d2"), {"_attachments": {"a\nb": inline(b"x", "text/plain")}})
        self.assertStatus(r, 400)
        self.assertTrue(r.body["reason"].startswith("Attachment name "), r.body)
        self.assertStatus(self.getdoc("d"), 404)

    def test_standalone_control_character_content_type_400(self):
        r = self.put_att("d", "a.txt", b"x", content_type="text/plain\x01x")
        self.assertStatus(r, 400)
        self.assertStatus(self.getdoc("d"), 404)

    def test_empty_content_type_is_octet_stream(self):
        self.put_doc("d", {"_attachments": {"a": {"content_type": "", "data": b64(b"x")}}})
        self.assertEqual(self.doc_ok("d")["_attachments"]["a"]["content_type"],
                         "application/octet-stream")
        self.assertEqual(self.get_att("d", "a").header("Content-Type"), "application/octet-stream")

    def test_gzip_upload_counts_decoded_bytes_413(self):
        bomb = gzip.compress(b"\0" * (8 * MiB))
        self.assertLess(len(bomb), 64 * 1024)
        r = self.put_att("d", "z", bomb, headers={"Content-Encoding": "gzip"})
        self.assertError(r, 413, "too_large",
                         "Attachment data exceeds the server's max_attachment_size")
        self.assertStatus(self.getdoc("d"), 404)
        r = self.put_att("d", "z", gzip.compress(b"\0" * MiB), headers={"Content-Encoding": "gzip"})
        self.assertStatus(r, 201)  # exactly the limit, decoded

    def test_multipart_gzip_parts_share_one_budget_413(self):
        part = gzip.compress(b"y" * (600 * 1024))
        ctype, body = related_request(
            {"_attachments": {"a": {"follows": True}, "b": {"follows": True}}},
            [("a", "text/plain", part, {"Content-Encoding": "gzip"}),
             ("b", "text/plain", part, {"Content-Encoding": "gzip"})])
        r = self.put(self.path("d"), body, headers={"Content-Type": ctype})
        self.assertStatus(r, 413)
        self.assertStatus(self.getdoc("d"), 404)

    def test_if_none_match_is_a_list_not_a_substring(self):
        data = b"etag me"
        self.put_att("d", "a.txt", data, content_type="text/plain")
        tag = md5_b64(gz8(data))  # the ETag is the md5 of the stored (gzip) bytes
        for value, status in ((f'"{tag}"', 304), (f'"zz", W/"{tag}"', 304), ("*", 304),
                              (f'"x{tag}x"', 200), (tag[:6], 200)):
            with self.subTest(if_none_match=value):
                self.assertStatus(self.get_att("d", "a.txt", headers={"If-None-Match": value}),
                                  status)
        rev = self.doc_ok("d")["_rev"]
        for value, status in ((f'"{rev}"', 304), (f'"a", "{rev}"', 304), (f'"{rev}0"', 200),
                              (f'"{rev[2:]}"', 200)):
            with self.subTest(doc_if_none_match=value):
                self.assertStatus(self.getdoc("d", headers={"If-None-Match": value}), status)
