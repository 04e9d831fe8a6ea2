// Attachments: digests and base64, the upload spool, stub resolution (http-api.md §7.3), the
// reference-counted body table, stub splicing on read, inline/follows reads with atts_since
// (revision-trees.md §8), the schema 1 → 3 and 2 → 3 migrations, chunked reads, staging of spooled
// bodies beside small writes, digest-collision refusal, and check_stubs against the writer.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <chrono>
#include <future>
#include <random>

#include "base/base64.h"
#include "engine/attachment_store.h"
#include "engine/attachments.h"
#include "engine/doc_render.h"
#include "engine/gzip.h"
#include "engine/schema.h"
#include "engine_test_util.h"

namespace divan::engine::test {
namespace {

NewAttachment data_att(std::string name, std::string bytes, std::string type = "text/plain") {
  NewAttachment a;
  a.name = std::move(name);
  a.content_type = std::move(type);
  a.body = AttachmentBody::from_bytes(std::move(bytes));
  return a;
}

NewAttachment stub_att(std::string name, std::optional<uint64_t> revpos = {}) {
  NewAttachment a;
  a.name = std::move(name);
  a.stub = true;
  a.revpos = revpos;
  return a;
}

std::vector<AttachmentInfo> stored_atts(Database& db, const std::string& id, const std::string& r) {
  auto snap = db.snapshot();
  REQUIRE(snap.has_value());
  auto rev_content = snap->revision(id, rev(r));
  REQUIRE(rev_content.has_value());
  return parse_stored_attachments(rev_content->atts);
}

// Compressible text: words from a small vocabulary, in a seeded random order.
std::string random_text(size_t n, uint64_t seed) {
  static const char* const kWords[] = {"alpha ", "beta ", "gamma ", "delta ", "couch ", "divan ",
                                       "sync\n", "{\"a\":1}, "};
  std::mt19937_64 rng(seed);
  std::string out;
  while (out.size() < n) out += kWords[rng() % 8];
  out.resize(n);
  return out;
}

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

// (refs, rows) of the attachments table as SQLite sees it, behind the engine's back.
struct TableView {
  int64_t rows = 0;
  int64_t refs_of_digest = -1;  // -1: no row for the digest asked
};

TableView attachments_table(const fs::path& file, const std::string& digest) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(raw, 5000);
  TableView view;
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "SELECT count(*) FROM attachments", -1, &q, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  view.rows = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  REQUIRE(sqlite3_prepare_v2(raw, "SELECT refs FROM attachments WHERE digest = ?1", -1, &q,
                             nullptr) == SQLITE_OK);
  sqlite3_bind_text(q, 1, digest.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(q) == SQLITE_ROW) view.refs_of_digest = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(raw);
  return view;
}

// ---- digests and base64 -------------------------------------------------------------------------

TEST_CASE("md5_digest matches openssl md5 | base64") {
  // printf '%s' "$s" | openssl md5 -binary | base64
  CHECK(md5_digest("") == "md5-1B2M2Y8AsgTpgAmY7PhCfg==");
  CHECK(md5_digest("a") == "md5-DMF1ucDxtqgxw5niaXcmYQ==");
  CHECK(md5_digest("abc") == "md5-kAFQmDzST7DWlj99KOF/cg==");
  CHECK(md5_digest("hello world") == "md5-XrY7u+Ae7tCTyyK7j1rNww==");
}

// ---- the spool ----------------------------------------------------------------------------------

std::string read_all(const AttachmentBody& body, size_t piece = 1000) {
  std::string out;
  std::string buf(piece, '\0');
  for (uint64_t off = 0;;) {
    size_t n = body.read(off, buf.data(), buf.size());
    if (n == 0) break;
    out.append(buf, 0, n);
    off += n;
  }
  return out;
}

TEST_CASE("spool: in memory under the limit, spilled to a file above it, same bytes and digest") {
  TempDir dir;
  std::string bytes = random_bytes(5000, 1);
  for (size_t limit : {size_t{1} << 20, size_t{100}}) {
    CAPTURE(limit);
    AttachmentSpool spool(dir.path(), limit);
    for (size_t off = 0; off < bytes.size(); off += 333) {
      REQUIRE(spool.append(std::string_view(bytes).substr(off, 333)).has_value());
    }
    auto body = spool.finish();
    REQUIRE(body.has_value());
    CHECK((*body)->memory().has_value() == (limit > bytes.size()));
    CHECK((*body)->length() == bytes.size());
    CHECK((*body)->digest() == md5_digest(bytes));
    CHECK(read_all(**body) == bytes);
    CHECK_FALSE((*body)->gzip());
    auto again = spool.finish();  // empty again after finish()
    REQUIRE(again.has_value());
    CHECK((*again)->length() == 0);
  }
  // The temporary file is unlinked: nothing stays in the spool directory.
  CHECK(fs::is_empty(dir.path()));
}

// ---- stored encoding: gzip as CouchDB stores compressible types ---------------------------------

TEST_CASE("compression: CouchDB's compressible types, case-insensitive, parameters ignored") {
  AttachmentCompression c;
  for (const char* type : {"text/plain", "TEXT/Plain", "text/plain;charset=utf-8",
                           " application/json ; charset=utf-8", "Application/JSON",
                           "application/javascript", "application/xml", "text/"}) {
    CAPTURE(type);
    CHECK(c.level_for(type) == 8);
  }
  for (const char* type : {"application/jsonx", "image/png", "application/octet-stream",
                           "application/json-patch+json", "texts/plain", ""}) {
    CAPTURE(type);
    CHECK(c.level_for(type) == 0);
  }
  c.level = 0;
  CHECK(c.level_for("text/plain") == 0);
  CHECK(AttachmentCompression::parse_types(" text/*,, image/* ,a") ==
        std::vector<std::string>{"text/*", "image/*", "a"});
  c = {AttachmentCompression::parse_types("*/*+xml, image/svg*"), 3};
  CHECK(c.level_for("application/atom+xml") == 3);
  CHECK(c.level_for("image/svg+xml") == 3);
  CHECK(c.level_for("image/png") == 0);
}

TEST_CASE("gzip: the gzip member CouchDB writes (level 8, mtime 0, unix), round trip") {
  const std::string text = "The quick brown fox jumps over the lazy dog. " + std::string(3000, 'a');
  std::string gz = gzip_bytes(text, 8);
  REQUIRE(gz.size() > 18);
  // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=3: no name, no time, so the bytes depend on the
  // input alone and a CouchDB node makes the same ones.
  CHECK(gz.substr(0, 10) == std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10));
  CHECK(gz.size() < text.size() / 10);
  CHECK(gunzip_bytes(gz).value() == text);
  CHECK(gzip_bytes("", 8).size() == 20);  // an empty member still has header and trailer
  CHECK_FALSE(gunzip_bytes(gz.substr(0, gz.size() - 1)).has_value());
  CHECK_FALSE(gunzip_bytes("not gzip").has_value());
  CHECK_FALSE(gunzip_bytes(gz + "x").has_value());
}

TEST_CASE("spool: compresses on the way; the same bytes however the input is split") {
  TempDir dir;
  const std::string text = random_text(200000, 7);
  const std::string expected = gzip_bytes(text, 8);
  for (size_t piece : {size_t{1}, size_t{333}, size_t{65536}, text.size()}) {
    for (size_t limit : {size_t{1} << 20, size_t{1000}}) {
      CAPTURE(piece);
      CAPTURE(limit);
      AttachmentSpool spool(dir.path(), limit, 8);
      for (size_t off = 0; off < text.size(); off += piece) {
        REQUIRE(spool.append(std::string_view(text).substr(off, piece)).has_value());
      }
      auto body = spool.finish();
      REQUIRE(body.has_value());
      CHECK((*body)->gzip());
      CHECK((*body)->identity_length() == text.size());
      CHECK((*body)->length() == expected.size());
      CHECK((*body)->digest() == md5_digest(expected));
      CHECK(read_all(**body) == expected);
    }
  }
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("AttachmentBody::for_storage follows the node's setting") {
  const std::string text(5000, 'x');
  auto gz = AttachmentBody::for_storage(text, "text/plain");
  CHECK(gz->gzip());
  CHECK(gz->identity_length() == text.size());
  CHECK(gz->digest() == md5_digest(gzip_bytes(text, 8)));
  auto raw = AttachmentBody::for_storage(text, "image/png");
  CHECK_FALSE(raw->gzip());
  CHECK(raw->digest() == md5_digest(text));
  AttachmentCompression saved = attachment_compression();
  set_attachment_compression({saved.types, 0});
  CHECK_FALSE(AttachmentBody::for_storage(text, "text/plain")->gzip());
  set_attachment_compression(saved);
  auto copied = AttachmentBody::from_gzip(gzip_bytes(text, 1), text.size());
  CHECK(copied->gzip());
  CHECK(copied->digest() == md5_digest(gzip_bytes(text, 1)));  // kept as it is, not recompressed
}

// ---- writes: stubs, revpos, missing_stub --------------------------------------------------------

TEST_CASE("interactive: a stub keeps the attachment and its revpos; new data gets the new pos") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("atts");
  auto r1 = write_one(*db, with_atts(edit("d", R"({"v":1})"), {data_att("a.txt", "hello")}));
  REQUIRE(!r1.error);
  REQUIRE(r1.rev.starts_with("1-"));
  auto a1 = stored_atts(*db, "d", r1.rev);
  REQUIRE(a1.size() == 1);
  CHECK(a1[0].name == "a.txt");
  CHECK(a1[0].content_type == "text/plain");
  CHECK(a1[0].digest == md5_digest("hello"));
  CHECK(a1[0].length == 5);
  CHECK(a1[0].revpos == 1);

  auto r2 = write_one(*db, with_atts(edit("d", R"({"v":2})", r1.rev),
                                     {stub_att("a.txt", 1), data_att("b.bin", "xyz", "")}));
  // The type is stored as given (callers normalise it; the rev hash covers it as stored).
  REQUIRE(!r2.error);
  auto a2 = stored_atts(*db, "d", r2.rev);
  REQUIRE(a2.size() == 2);
  CHECK(a2[0].name == "a.txt");
  CHECK(a2[0].revpos == 1);
  CHECK(a2[0].digest == md5_digest("hello"));
  CHECK(a2[1].name == "b.bin");
  CHECK(a2[1].revpos == 2);
  CHECK(a2[1].content_type == "");

  // An update without `_attachments` drops them all (§7.1: the list is the complete set).
  auto r3 = write_one(*db, edit("d", R"({"v":3})", r2.rev));
  REQUIRE(!r3.error);
  CHECK(stored_atts(*db, "d", r3.rev).empty());
  // The older revisions still name it until compaction drops their bodies.
  CHECK(db->read_attachment(md5_digest("hello"), 0, 100)->has_value());
  compact_and_wait(*db);
  CHECK(db->read_attachment(md5_digest("hello"), 0, 100)->has_value() == false);
}

TEST_CASE("missing_stub: wrong revpos, unknown name, no base revision") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("stubs");
  auto r1 = write_one(*db, with_atts(edit("d", "{}"), {data_att("a", "1")})).rev;

  auto wrong_pos = write_one(*db, with_atts(edit("d", "{}", r1), {stub_att("a", 2)}));
  REQUIRE(wrong_pos.error);
  CHECK(wrong_pos.error->code == Code::kMissingStub);
  CHECK(wrong_pos.error->reason == "Invalid attachment stub in d for a");
  CHECK_FALSE(wrong_pos.written);

  auto unknown = write_one(*db, with_atts(edit("d", "{}", r1), {stub_att("b")}));
  REQUIRE(unknown.error);
  CHECK(unknown.error->code == Code::kMissingStub);
  CHECK(unknown.error->reason == "Invalid attachment stub in d for b");

  auto no_base = write_one(*db, with_atts(edit("new", "{}"), {stub_att("a")}));
  REQUIRE(no_base.error);
  CHECK(no_base.error->code == Code::kMissingStub);
  CHECK(no_base.error->reason == "Previous revision missing for document new");

  // A name twice (callers answer 400 first; the engine refuses it too, as it would break refs).
  auto twice = write_one(*db, with_atts(edit("d", "{}", r1), {data_att("a", "1"), stub_att("a")}));
  REQUIRE(twice.error);
  CHECK(twice.error->code == Code::kBadRequest);
  CHECK(twice.error->reason == "Duplicate attachments");

  // Nothing of the failed writes was stored.
  CHECK(leaf_strings(doc_tree(*db, "d")) == std::vector<std::string>{r1});
  CHECK(all_doc_ids(*db) == std::vector<std::string>{"d"});
}

TEST_CASE("replicated: a stub resolves against the nearest held ancestor on its path") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("repl");
  auto first = data_att("x", "bytes of x");
  first.revpos = 1;
  auto w1 = write_one(*db, with_atts(replicated("d", 1, {"a"}), {first}));
  REQUIRE(!w1.error);
  CHECK(stored_atts(*db, "d", "1-a")[0].revpos == 1);

  // 3-c's path passes through 2-b (unknown) to 1-a (held): x resolves there; y keeps its revpos.
  auto second = data_att("y", "bytes of y");
  second.revpos = 3;
  auto w3 = write_one(*db, with_atts(replicated("d", 3, {"c", "b", "a"}),
                                     {stub_att("x", 1), second}));
  REQUIRE(!w3.error);
  CHECK(w3.written);
  auto a3 = stored_atts(*db, "d", "3-c");
  REQUIRE(a3.size() == 2);
  CHECK(a3[0].digest == md5_digest("bytes of x"));
  CHECK(a3[0].revpos == 1);
  CHECK(a3[1].revpos == 3);
  // The base's body went with the write (internal bodies are dropped), its attachment did not.
  CHECK(db->read_attachment(md5_digest("bytes of x"), 0, 100)->value() == "bytes of x");

  // Data without revpos: 0.
  auto w4 = write_one(*db, with_atts(replicated("e", 1, {"a"}), {data_att("z", "z")}));
  CHECK(stored_atts(*db, "e", "1-a")[0].revpos == 0);

  // No held ancestor on the path: missing_stub.
  auto orphan = write_one(*db, with_atts(replicated("d", 5, {"e5", "d4"}), {stub_att("x")}));
  REQUIRE(orphan.error);
  CHECK(orphan.error->code == Code::kMissingStub);
  CHECK(orphan.error->reason == "Previous revision missing for document d");
  CHECK(leaf_strings(doc_tree(*db, "d")) == std::vector<std::string>{"3-c"});

  // An already-known revision is a silent success even when its stubs could not resolve now.
  auto known = write_one(*db, with_atts(replicated("d", 3, {"c"}), {stub_att("nope")}));
  CHECK_FALSE(known.error);
  CHECK_FALSE(known.written);
}

// ---- the body table -----------------------------------------------------------------------------

TEST_CASE("one body row per digest, counted by the revisions naming it") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("dedup");
  const fs::path file = dir.path() / "dedup.sqlite3";
  const std::string same = "the same bytes";
  const std::string digest = md5_digest(same);

  // Two docs in one group, then a third write elsewhere.
  std::vector<WriteOp> ops;
  ops.push_back(with_atts(edit("a", "{}"), {data_att("f", same)}));
  ops.push_back(with_atts(edit("b", "{}"), {data_att("g", same)}));
  auto both = db->write(std::move(ops));
  REQUIRE(both.has_value());
  std::string ra = (*both)[0].rev;
  std::string rb = (*both)[1].rev;
  CHECK(attachments_table(file, digest).rows == 1);
  CHECK(attachments_table(file, digest).refs_of_digest == 2);
  CHECK(db->info().external_size == 2 * (2 + same.size()));

  // Updating `a` away from it keeps its history's reference until compaction; `b`'s stays.
  auto ra2 = write_one(*db, edit("a", R"({"v":2})", ra)).rev;
  CHECK(attachments_table(file, digest).refs_of_digest == 2);
  compact_and_wait(*db);
  CHECK(attachments_table(file, digest).refs_of_digest == 1);
  CHECK(db->read_attachment(digest, 0, 100)->value() == same);

  // Deleting `b` and compacting drops the last reference and the row.
  write_one(*db, remove_doc("b", rb));
  CHECK(attachments_table(file, digest).refs_of_digest == 1);
  compact_and_wait(*db);
  CHECK(attachments_table(file, digest).refs_of_digest == -1);
  CHECK(attachments_table(file, digest).rows == 0);
  CHECK(db->read_attachment(digest, 0, 100)->has_value() == false);
  CHECK(db->info().external_size == std::string(R"({"v":2})").size() + 2);

  // A stub carried over while its parent row is deleted in the same write keeps the body alive.
  auto rc = write_one(*db, with_atts(edit("c", "{}"), {data_att("h", same)})).rev;
  auto rc2 = write_one(*db, with_atts(edit("c", "{}", rc), {stub_att("h")})).rev;
  CHECK(attachments_table(file, digest).refs_of_digest == 2);  // rc (history) and rc2
  compact_and_wait(*db);
  CHECK(attachments_table(file, digest).refs_of_digest == 1);
  CHECK(stored_atts(*db, "c", rc2)[0].digest == digest);
  (void)ra2;
}

// The writer inserts a body its collision check found unstored without trying an UPDATE first;
// the same bytes twice in one write must still make one row with two references.
TEST_CASE("one write naming the same new bytes twice: one row, two references") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("twice");
  const fs::path file = dir.path() / "twice.sqlite3";
  const std::string same = "twice the same bytes";
  const std::string digest = md5_digest(same);
  auto r1 = write_one(*db, with_atts(edit("a", "{}"), {data_att("f", same), data_att("g", same)}));
  REQUIRE(!r1.error);
  CHECK(attachments_table(file, digest).rows == 1);
  CHECK(attachments_table(file, digest).refs_of_digest == 2);
  // A stub of the stored body and new data with the same bytes, in one write: three references.
  auto r2 = write_one(*db, with_atts(edit("b", "{}"), {data_att("h", same)}));
  auto r3 = write_one(*db, with_atts(edit("a", "{}", r1.rev), {stub_att("f"), data_att("i", same)}));
  REQUIRE(!r3.error);
  CHECK(attachments_table(file, digest).rows == 1);
  CHECK(attachments_table(file, digest).refs_of_digest == 5);  // a: f, i; b: h; a's history: f, g
  compact_and_wait(*db);
  CHECK(attachments_table(file, digest).refs_of_digest == 3);  // a: f, i; b: h
  CHECK(db->read_attachment(digest, 0, 100)->value() == same);
  (void)r2;
}

TEST_CASE("a 20 MiB spooled body round-trips through read_attachment in slices") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("big");
  const size_t size = 20u << 20;
  std::string bytes = random_bytes(size, 20);
  AttachmentSpool spool(catalog.spool_dir());
  for (size_t off = 0; off < size; off += 65536) {
    REQUIRE(spool.append(std::string_view(bytes).substr(off, 65536)).has_value());
  }
  auto body = spool.finish();
  REQUIRE(body.has_value());
  REQUIRE_FALSE((*body)->memory().has_value());
  NewAttachment att;
  att.name = "big.bin";
  att.body = *body;
  auto w = write_one(*db, with_atts(edit("d", "{}"), {att}));
  REQUIRE(!w.error);
  body->reset();

  const std::string digest = md5_digest(bytes);
  std::string back;
  const size_t slice = 3u << 20;  // not a divisor of the size: the last slice is short
  for (uint64_t off = 0;; off += slice) {
    auto part = db->read_attachment(digest, off, slice);
    REQUIRE(part.has_value());
    REQUIRE(part->has_value());
    if ((*part)->empty()) break;
    back += **part;
  }
  CHECK(back.size() == size);
  CHECK(md5_digest(back) == digest);
  CHECK(db->read_attachment(digest, size + 5, 10)->value().empty());
  CHECK(db->read_attachment(digest, size - 3, 10)->value() == bytes.substr(size - 3));
  auto atts = stored_atts(*db, "d", w.rev);
  CHECK(atts[0].length == size);
  CHECK(atts[0].content_type == "");
}

// ---- rev ids ------------------------------------------------------------------------------------

TEST_CASE("deterministic rev: the same body and attachments give the same rev anywhere") {
  TempDir dir1;
  TempDir dir2;
  Catalog c1(options_for(dir1));
  Catalog c2(options_for(dir2));
  auto db1 = *c1.create("one");
  auto db2 = *c2.create("two");
  auto write = [](Database& db, std::string bytes) {
    return write_one(db, with_atts(edit("d", R"({"k":1})"), {data_att("a", std::move(bytes))})).rev;
  };
  std::string r1 = write(*db1, "payload");
  CHECK(r1 == write(*db2, "payload"));
  CHECK(r1 == "1-" + revtree::new_rev_id(false, 0, "", R"({"k":1})",
                                         {{"a", "text/plain", md5_digest("payload")}}));
  TempDir dir3;
  Catalog c3(options_for(dir3));
  auto db3 = *c3.create("three");
  CHECK(r1 != write(*db3, "payloae"));
  TempDir dir4;
  Catalog c4(options_for(dir4));
  auto db4 = *c4.create("four");
  CHECK(r1 != write_one(*db4, edit("d", R"({"k":1})")).rev);

  // A stub update hashes the resolved set: the same as sending the data again.
  std::string r2 = write_one(*db1, with_atts(edit("d", R"({"k":2})", r1), {stub_att("a")})).rev;
  std::string r2_data =
      write_one(*db2, with_atts(edit("d", R"({"k":2})", r1), {data_att("a", "payload")})).rev;
  CHECK(r2 == r2_data);
}

// ---- reads --------------------------------------------------------------------------------------

TEST_CASE("body() and doc_with_winner_body() splice the stubs as the last member") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("splice");
  auto ra = write_one(*db, with_atts(edit("a", R"({"v":1})"), {data_att("t", "hi")})).rev;
  auto rb = write_one(*db, with_atts(edit("b", "{}"), {data_att("t", "hi")})).rev;
  const std::string stubs = R"({"t":{"content_type":"text/plain","revpos":1,"digest":")" +
                            md5_digest("hi") + R"(","length":2,"stub":true}})";
  auto snap = db->snapshot();
  REQUIRE(snap.has_value());
  CHECK(snap->body("a", rev(ra)) == std::optional<std::string>(R"({"v":1,"_attachments":)" + stubs + "}"));
  CHECK(snap->body("b", rev(rb)) == std::optional<std::string>(R"({"_attachments":)" + stubs + "}"));
  auto stored = snap->revision("a", rev(ra));
  REQUIRE(stored.has_value());
  CHECK(stored->body == R"({"v":1})");
  CHECK(stored->atts == stubs);
  auto winner = db->doc_with_winner_body("a");
  REQUIRE(winner.has_value());
  CHECK(winner->winner_body == snap->body("a", rev(ra)));
  // No attachments: no member.
  auto rc = write_one(*db, edit("c", R"({"v":3})")).rev;
  CHECK(snap->body("c", rev(rc)) == std::nullopt);  // the snapshot predates it
  auto fresh = db->snapshot();
  CHECK(fresh->body("c", rev(rc)) == std::optional<std::string>(R"({"v":3})"));
  CHECK(fresh->revision("c", rev(rc))->atts.empty());
}

TEST_CASE("read_revision: stubs, inline, follows, and the atts_since boundary") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("render");
  auto r1 = write_one(*db, with_atts(edit("d", R"({"v":1})"), {data_att("x", "xx")})).rev;
  auto r2 = write_one(*db, with_atts(edit("d", R"({"v":2})", r1),
                                     {stub_att("x"), data_att("y", "yyy", "image/png")})).rev;
  auto snap = db->snapshot();
  REQUIRE(snap.has_value());
  auto doc = snap->doc("d");
  REQUIRE(doc.has_value());
  const std::string dx = md5_digest("xx");
  const std::string dy = md5_digest("yyy");
  const std::string stub_x =
      R"("x":{"content_type":"text/plain","revpos":1,"digest":")" + dx + R"(","length":2,"stub":true})";
  const std::string stub_y =
      R"("y":{"content_type":"image/png","revpos":2,"digest":")" + dy + R"(","length":3,"stub":true})";
  const std::string inline_x = R"("x":{"content_type":"text/plain","revpos":1,"digest":")" + dx +
                               R"(","data":")" + base64_encode("xx") + R"("})";
  const std::string inline_y = R"("y":{"content_type":"image/png","revpos":2,"digest":")" + dy +
                               R"(","data":")" + base64_encode("yyy") + R"("})";
  const std::string follows_y = R"("y":{"content_type":"image/png","revpos":2,"digest":")" + dy +
                                R"(","length":3,"follows":true})";
  auto read = [&](const ReadOptions& o, std::vector<AttachmentInfo>* follows = nullptr) {
    auto out = read_revision(*snap, *doc, rev(r2), false, o, 1000, follows);
    REQUIRE(out.has_value());
    return *out;
  };
  auto expect = [&](const std::string& atts) {
    return R"({"_id":"d","_rev":")" + r2 + R"(","v":2,"_attachments":{)" + atts + "}}";
  };

  ReadOptions o;
  CHECK(read(o) == expect(stub_x + "," + stub_y));
  o.attachments = AttachmentMode::kInline;
  CHECK(read(o) == expect(inline_x + "," + inline_y));
  // atts_since = the first revision: revpos 1 (equal) stays a stub, revpos 2 (greater) has data.
  o.atts_since = {rev(r1)};
  CHECK(read(o) == expect(stub_x + "," + inline_y));
  // Unknown revs are skipped; the read revision itself counts as found.
  o.atts_since = {rev("9-unknown"), rev(r2)};
  CHECK(read(o) == expect(stub_x + "," + stub_y));
  o.atts_since = {rev("1-unknown")};
  CHECK(read(o) == expect(inline_x + "," + inline_y));

  o.attachments = AttachmentMode::kFollows;
  o.atts_since = {rev(r1)};
  std::vector<AttachmentInfo> follows;
  CHECK(read(o, &follows) == expect(stub_x + "," + follows_y));
  REQUIRE(follows.size() == 1);
  CHECK(follows[0].name == "y");
  CHECK(follows[0].digest == dy);
  CHECK(follows[0].length == 3);

  // With revs=true, _attachments comes before the extras.
  o.attachments = AttachmentMode::kStubs;
  o.revs = true;
  std::string with_revs = read(o);
  CHECK(with_revs.find("\"_attachments\"") < with_revs.find("\"_revisions\""));
}

// ---- schema migration ---------------------------------------------------------------------------

TEST_CASE("a schema version 1 file migrates on open") {
  TempDir dir;
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open((dir.path() / "old.sqlite3").c_str(), &raw) == SQLITE_OK);
    const char* v1 = R"sql(
      CREATE TABLE docs(doc_id TEXT NOT NULL PRIMARY KEY, seq INTEGER NOT NULL UNIQUE,
        winner TEXT NOT NULL, deleted INTEGER NOT NULL, tree BLOB NOT NULL) WITHOUT ROWID;
      CREATE INDEX docs_live ON docs(doc_id) WHERE deleted = 0;
      CREATE TABLE revs(doc_id TEXT NOT NULL, rev TEXT NOT NULL, deleted INTEGER NOT NULL,
        body TEXT NOT NULL, UNIQUE(doc_id, rev));
      CREATE TABLE local_docs(id TEXT NOT NULL PRIMARY KEY, rev INTEGER NOT NULL,
        body TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE meta(key TEXT NOT NULL PRIMARY KEY, value) WITHOUT ROWID;
      INSERT INTO meta VALUES('revs_limit', 1000), ('doc_count', 0), ('doc_del_count', 0),
        ('external_size', 0);
      PRAGMA user_version = 1;
    )sql";
    REQUIRE(sqlite3_exec(raw, v1, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  Catalog catalog(options_for(dir));
  auto db = catalog.open("old");
  REQUIRE(db.has_value());
  auto plain = write_one(**db, edit("p", R"({"v":1})")).rev;
  auto w = write_one(**db, with_atts(edit("d", "{}"), {data_att("a", "migrated")}));
  REQUIRE(!w.error);
  CHECK((*db)->read_attachment(md5_digest("migrated"), 0, 100)->value() == "migrated");
  auto snap = (*db)->snapshot();
  CHECK(snap->body("p", rev(plain)) == std::optional<std::string>(R"({"v":1})"));
  CHECK(snap->body("d", rev(w.rev))->find("\"_attachments\"") != std::string::npos);

  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2((dir.path() / "old.sqlite3").c_str(), &raw, SQLITE_OPEN_READONLY,
                          nullptr) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &q, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  CHECK(sqlite3_column_int(q, 0) == schema::kVersion);
  sqlite3_finalize(q);
  sqlite3_close(raw);
}

}  // namespace
}  // namespace divan::engine::test

namespace divan::engine::test {
namespace {

// refs of every body row equals the number of attachment entries naming it over all revs rows,
// and every digest a revision names has its row.
void check_refcounts(const fs::path& file) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(raw, 5000);
  const char* sql = R"sql(
    WITH named AS (
      SELECT json_extract(e.value, '$.digest') AS digest, count(*) AS n
      FROM revs, json_each(revs.atts) AS e WHERE revs.atts IS NOT NULL GROUP BY 1)
    SELECT count(*) FROM (
      SELECT a.digest FROM attachments a LEFT JOIN named USING(digest)
        WHERE a.refs != coalesce(named.n, 0)
      UNION ALL
      SELECT named.digest FROM named LEFT JOIN attachments a USING(digest) WHERE a.digest IS NULL))sql";
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, sql, -1, &q, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  CHECK(sqlite3_column_int64(q, 0) == 0);
  sqlite3_finalize(q);
  sqlite3_close(raw);
}

TEST_CASE("random edits keep every body row's refs equal to the entries naming it") {
  uint64_t seed = test_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("refs");
  const std::vector<std::string> contents = {"one", "two", "three", ""};
  const std::vector<std::string> names = {"a", "b", "c"};
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  int written = 0;
  int missing_stub = 0;

  for (int round = 0; round < 60; ++round) {
    std::vector<WriteOp> ops;
    for (int k = 0; k < 1 + static_cast<int>(pick(4)); ++k) {
      std::string id = "d" + std::to_string(pick(4));
      auto snap = db->snapshot();
      auto doc = snap->doc(id);
      std::optional<std::string> parent;
      if (doc && !doc->tree.winner().deleted) parent = doc->tree.winner().rev.str();
      size_t kind = pick(10);
      if (kind == 0 && parent) {
        ops.push_back(remove_doc(id, *parent));
        continue;
      }
      if (kind == 1) {  // a replicated branch under a random known leaf, or a new root
        std::vector<std::string> ids = {"r" + std::to_string(rng() % 1000000)};
        uint64_t start = 1;
        if (doc && pick(2) == 0) {
          auto leaf = doc->tree.leaves()[pick(doc->tree.leaves().size())].rev;
          ids.push_back(leaf.id);
          start = leaf.pos + 1;
        }
        std::vector<NewAttachment> atts = {data_att(names[pick(3)], contents[pick(4)])};
        // May not resolve; may repeat the name (refused: bad_request).
        if (ids.size() > 1 && pick(2) == 0) atts.push_back(stub_att("a"));
        ops.push_back(with_atts(replicated(id, start, ids), std::move(atts)));
        continue;
      }
      std::vector<NewAttachment> atts;
      for (const auto& name : names) {
        size_t choice = pick(3);
        if (choice == 0) atts.push_back(data_att(name, contents[pick(4)]));
        if (choice == 1 && parent) atts.push_back(stub_att(name));  // may be unknown: missing_stub
      }
      ops.push_back(with_atts(edit(id, R"({"k":)" + std::to_string(pick(3)) + "}", parent),
                              std::move(atts)));
    }
    auto result = db->write(std::move(ops));
    REQUIRE(result.has_value());
    for (const auto& out : *result) {
      if (out.written) ++written;
      if (out.error && out.error->code == Code::kMissingStub) ++missing_stub;
    }
    check_refcounts(dir.path() / "refs.sqlite3");
  }
  // Both paths were exercised (loose bounds: the mix is random).
  MESSAGE(written << " revisions written, " << missing_stub << " missing_stub");
  CHECK(written > 20);
  CHECK(missing_stub > 0);
}

}  // namespace
}  // namespace divan::engine::test

namespace divan::engine::test {
namespace {

// ---- raw SQL behind the engine's back -----------------------------------------------------------

int64_t sql_int(const fs::path& file, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, sql.c_str(), -1, &q, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  int64_t n = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(raw);
  return n;
}

void sql_exec(const fs::path& file, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &raw) == SQLITE_OK);
  sqlite3_busy_timeout(raw, 5000);
  char* err = nullptr;
  int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err);
  CAPTURE(err ? std::string(err) : std::string());
  sqlite3_free(err);
  sqlite3_close(raw);
  REQUIRE(rc == SQLITE_OK);
}

std::shared_ptr<const AttachmentBody> spooled(const fs::path& dir, const std::string& bytes) {
  AttachmentSpool spool(dir, /*memory_limit=*/0);
  for (size_t off = 0; off < bytes.size(); off += 1 << 20) {
    REQUIRE(spool.append(std::string_view(bytes).substr(off, 1 << 20)).has_value());
  }
  auto body = spool.finish();
  REQUIRE(body.has_value());
  return *body;
}

NewAttachment body_att(std::string name, std::shared_ptr<const AttachmentBody> body) {
  NewAttachment a;
  a.name = std::move(name);
  a.content_type = "application/octet-stream";
  a.body = std::move(body);
  return a;
}

// ---- chunked bodies -----------------------------------------------------------------------------

TEST_CASE("chunked bodies: any slice at any offset reads back as the bytes written") {
  uint64_t seed = test_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("chunks");
  constexpr uint64_t kC = attachment_store::kChunkSize;
  const std::vector<size_t> sizes = {0, 1, kC - 1, kC, kC + 1, 2 * kC, 3 * kC + 17};
  for (size_t i = 0; i < sizes.size(); ++i) {
    const size_t size = sizes[i];
    CAPTURE(size);
    std::string bytes = random_bytes(size, seed + i);
    // Odd sizes go through the spool (staged), even ones in memory (inside the group).
    auto body = i % 2 == 1 ? spooled(catalog.spool_dir(), bytes) : AttachmentBody::from_bytes(bytes);
    auto w = write_one(*db, with_atts(edit("d" + std::to_string(i), "{}"), {body_att("b", body)}));
    REQUIRE(!w.error);
    const std::string digest = md5_digest(bytes);
    CHECK(sql_int(dir.path() / "chunks.sqlite3",
                  "SELECT count(*) FROM attachment_chunks c JOIN attachments a ON c.key >> 20 = a.id "
                  "WHERE a.digest = '" + digest + "'") == static_cast<int64_t>((size + kC - 1) / kC));
    auto check = [&](uint64_t offset, size_t max) {
      CAPTURE(offset);
      CAPTURE(max);
      auto got = db->read_attachment(digest, offset, max);
      REQUIRE(got.has_value());
      REQUIRE(got->has_value());
      std::string want = offset >= size ? "" : bytes.substr(offset, max);
      CHECK(**got == want);
    };
    // Every chunk edge, one byte either side, with lengths crossing 0, 1 and 2 edges.
    for (uint64_t edge = 0; edge <= size + kC; edge += kC) {
      for (uint64_t off : {edge, edge > 0 ? edge - 1 : 0, edge + 1}) {
        for (size_t max : {size_t{1}, size_t{2}, size_t{kC}, size_t{kC + 2}, size_t{2 * kC + 1}}) {
          check(off, max);
        }
      }
    }
    for (int k = 0; k < 40; ++k) {
      uint64_t off = size == 0 ? 0 : rng() % (size + 3);
      size_t max = static_cast<size_t>(rng() % (2 * kC + 5));
      check(off, max);
    }
    check(0, SIZE_MAX);
  }
}

// ---- schema 2 → 3 -------------------------------------------------------------------------------

TEST_CASE("a schema version 2 file (one blob per body) migrates to chunks on open") {
  TempDir dir;
  const fs::path file = dir.path() / "v2.sqlite3";
  const std::string big = random_bytes(attachment_store::kChunkSize * 2 + 333, 2);
  const std::string small = "tiny";
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &raw) == SQLITE_OK);
    const char* v2 = R"sql(
      CREATE TABLE docs(doc_id TEXT NOT NULL PRIMARY KEY, seq INTEGER NOT NULL UNIQUE,
        winner TEXT NOT NULL, deleted INTEGER NOT NULL, tree BLOB NOT NULL) WITHOUT ROWID;
      CREATE INDEX docs_live ON docs(doc_id) WHERE deleted = 0;
      CREATE TABLE revs(doc_id TEXT NOT NULL, rev TEXT NOT NULL, deleted INTEGER NOT NULL,
        body TEXT NOT NULL, atts TEXT, UNIQUE(doc_id, rev));
      CREATE TABLE attachments(id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE,
        length INTEGER NOT NULL, refs INTEGER NOT NULL, data BLOB NOT NULL);
      CREATE TABLE local_docs(id TEXT NOT NULL PRIMARY KEY, rev INTEGER NOT NULL,
        body TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE meta(key TEXT NOT NULL PRIMARY KEY, value) WITHOUT ROWID;
      INSERT INTO meta VALUES('revs_limit', 1000), ('doc_count', 0), ('doc_del_count', 0),
        ('external_size', 0);
      PRAGMA user_version = 2;
    )sql";
    REQUIRE(sqlite3_exec(raw, v2, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "INSERT INTO attachments(digest, length, refs, data) "
                                    "VALUES(?1, ?2, ?3, ?4)", -1, &q, nullptr) == SQLITE_OK);
    for (const auto& [bytes, refs] : {std::pair{big, 2}, std::pair{small, 1}}) {
      std::string digest = md5_digest(bytes);
      sqlite3_bind_text(q, 1, digest.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(q, 2, static_cast<int64_t>(bytes.size()));
      sqlite3_bind_int64(q, 3, refs);
      sqlite3_bind_blob(q, 4, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
      REQUIRE(sqlite3_step(q) == SQLITE_DONE);
      sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    sqlite3_close(raw);
  }
  Catalog catalog(options_for(dir));
  auto db = catalog.open("v2");
  REQUIRE(db.has_value());
  CHECK((*db)->read_attachment(md5_digest(big), 0, SIZE_MAX)->value() == big);
  CHECK((*db)->read_attachment(md5_digest(big), attachment_store::kChunkSize - 5, 10)->value() ==
        big.substr(attachment_store::kChunkSize - 5, 10));
  CHECK((*db)->read_attachment(md5_digest(small), 0, 100)->value() == small);
  CHECK(sql_int(file, "PRAGMA user_version") == schema::kVersion);
  CHECK(sql_int(file, "SELECT count(*) FROM sqlite_master WHERE name = 'attachments_v2'") == 0);
  CHECK(sql_int(file, "SELECT refs FROM attachments WHERE digest = '" + md5_digest(big) + "'") == 2);
  CHECK(sql_int(file, "SELECT count(*) FROM attachment_chunks") == 4);
  // The SHA-256 was computed: the same bytes uploaded again share the row, not a collision.
  auto w = write_one(**db, with_atts(edit("d", "{}"), {data_att("a", big)}));
  CHECK_FALSE(w.error);
  CHECK(sql_int(file, "SELECT refs FROM attachments WHERE digest = '" + md5_digest(big) + "'") == 3);
}

// ---- digest collisions --------------------------------------------------------------------------

TEST_CASE("an upload whose MD5 names a row holding other bytes is refused, not shared") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  auto db = *catalog.create("collide");
  const fs::path file = dir.path() / "collide.sqlite3";
  const std::string bytes = random_bytes(3 * attachment_store::kChunkSize / 2, 3);
  const std::string digest = md5_digest(bytes);
  auto first = write_one(*db, with_atts(edit("a", "{}"), {data_att("f", bytes)}));
  REQUIRE(!first.error);
  // Same bytes again: shared.
  auto again = write_one(*db, with_atts(edit("b", "{}"), {data_att("f", bytes)}));
  REQUIRE(!again.error);
  CHECK(attachments_table(file, digest).refs_of_digest == 2);

  // Simulate a collision: the stored row now claims other bytes with the same MD5.
  sql_exec(file, "UPDATE attachments SET sha256 = zeroblob(32) WHERE digest = '" + digest + "'");
  for (bool spool : {false, true}) {
    CAPTURE(spool);
    auto body = spool ? spooled(catalog.spool_dir(), bytes) : AttachmentBody::from_bytes(bytes);
    std::vector<WriteOp> ops;
    ops.push_back(with_atts(edit("c", "{}"), {body_att("f", body)}));
    ops.push_back(edit("plain", "{}"));  // the rest of the batch is unaffected
    auto result = db->write(std::move(ops));
    REQUIRE(result.has_value());
    REQUIRE((*result)[0].error);
    CHECK((*result)[0].error->code == Code::kBadRequest);
    CHECK((*result)[0].error->reason == "attachment digest collision: f");
    CHECK_FALSE((*result)[0].written);
    CHECK((*result)[1].written != spool);  // "plain" exists after the first round
    CHECK(attachments_table(file, digest).refs_of_digest == 2);
    CHECK(attachments_table(file, digest).rows == 1);
  }
  CHECK(all_doc_ids(*db) == std::vector<std::string>{"a", "b", "plain"});
}

// ---- staging ------------------------------------------------------------------------------------

TEST_CASE("staging: a large spooled write does not hold back small writes queued after it") {
  TempDir dir;
  Catalog catalog(options_for(dir, /*fsync=*/true));
  auto db = *catalog.create("stage");
  const fs::path file = dir.path() / "stage.sqlite3";
  const size_t size = 64u << 20;
  const std::string bytes = random_bytes(size, 64);
  auto body = spooled(catalog.spool_dir(), bytes);

  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  std::promise<Clock::time_point> big_done;
  std::vector<WriteOp> big;
  big.push_back(with_atts(edit("big", "{}"), {body_att("big.bin", body)}));
  std::string big_rev;
  db->submit(std::move(big), [&](Result<std::vector<WriteOutcome>> r) {
    REQUIRE(r.has_value());
    REQUIRE(!(*r)[0].error);
    big_rev = (*r)[0].rev;
    big_done.set_value(Clock::now());
  });
  auto big_future = big_done.get_future();
  // Small writes one after another (each waits for its commit) until the big one is done.
  std::vector<Clock::duration> small_latency;
  int before_big = 0;
  for (int i = 0; big_future.wait_for(std::chrono::seconds(0)) != std::future_status::ready; ++i) {
    auto t0 = Clock::now();
    auto w = write_one(*db, with_atts(edit("s" + std::to_string(i), "{}"),
                                      {data_att("t", "small " + std::to_string(i))}));
    REQUIRE(!w.error);
    small_latency.push_back(Clock::now() - t0);
    if (big_future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) ++before_big;
  }
  auto big_at = big_future.get();
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  auto worst = *std::max_element(small_latency.begin(), small_latency.end());
  MESSAGE("64 MiB staged write: " << ms(big_at - start) << " ms; " << before_big
          << " small writes committed meanwhile, worst " << ms(worst) << " ms; WAL after: "
          << (fs::file_size(dir.path() / "stage.sqlite3-wal") >> 20) << " MiB");
  // Without staging the first small write would wait for the whole copy (and fail with it).
  CHECK(before_big >= 2);
  CHECK(worst < (big_at - start) / 2);
  body.reset();

  CHECK(db->read_attachment(md5_digest(bytes), size - 10, 100)->value() == bytes.substr(size - 10));
  CHECK(db->read_attachment(md5_digest(bytes), 0, SIZE_MAX)->value() == bytes);
  CHECK(sql_int(file, "SELECT count(*) FROM attachments WHERE refs <= 0") == 0);
  CHECK(sql_int(file, "SELECT count(*) FROM attachments WHERE digest IS NULL") == 0);
  check_refcounts(file);
}

TEST_CASE("staging: rows of a failed write or of a crash are swept") {
  TempDir dir;
  const fs::path file = dir.path() / "sweep.sqlite3";
  {
    Catalog catalog(options_for(dir));
    auto db = *catalog.create("sweep");
    const std::string bytes = random_bytes(600000, 5);
    // Staged, then its op fails (a stub with no base): the row goes at the end of that group.
    auto w = write_one(*db, with_atts(edit("d", "{}"), {body_att("x", spooled(catalog.spool_dir(), bytes)),
                                                        stub_att("nope")}));
    REQUIRE(w.error);
    CHECK(w.error->code == Code::kMissingStub);
    CHECK(sql_int(file, "SELECT count(*) FROM attachments") == 0);
    CHECK(sql_int(file, "SELECT count(*) FROM attachment_chunks") == 0);
    // The same body twice in one batch: staged once, referenced twice.
    auto body = spooled(catalog.spool_dir(), bytes);
    std::vector<WriteOp> ops;
    ops.push_back(with_atts(edit("a", "{}"), {body_att("x", body)}));
    ops.push_back(with_atts(edit("b", "{}"), {body_att("y", body)}));
    REQUIRE(db->write(std::move(ops)).has_value());
    CHECK(attachments_table(file, md5_digest(bytes)).refs_of_digest == 2);
    check_refcounts(file);
  }
  // A crash mid-staging leaves an unpublished row at refs 0 with some chunks: swept at open.
  sql_exec(file, "INSERT INTO attachments(id, digest, length, sha256, refs) "
                 "VALUES(999, NULL, 10, zeroblob(32), 0);"
                 "INSERT INTO attachment_chunks(key, data) VALUES(999 * 1048576, x'00');");
  Catalog catalog(options_for(dir));
  auto db = catalog.open("sweep");
  REQUIRE(db.has_value());
  CHECK(sql_int(file, "SELECT count(*) FROM attachments WHERE id = 999") == 0);
  CHECK(sql_int(file, "SELECT count(*) FROM attachment_chunks WHERE key >> 20 = 999") == 0);
  CHECK(sql_int(file, "SELECT count(*) FROM attachments") == 1);
}

// ---- check_stubs --------------------------------------------------------------------------------

TEST_CASE("check_stubs agrees with the writer") {
  TempDir dir;
  Catalog catalog(options_for(dir));
  // d: 1 (a) → 2 (a stub, b); `gone`: a tombstone that carries an attachment; r: a held 1-a.
  // Interactive rev ids are content hashes, so every database built this way has the same revs.
  struct Revs {
    std::string r1, r2;
  };
  auto setup = [&](Database& db) {
    Revs revs;
    revs.r1 = write_one(db, with_atts(edit("d", "{}"), {data_att("a", "A")})).rev;
    revs.r2 = write_one(db, with_atts(edit("d", "{}", revs.r1),
                                      {stub_att("a", 1), data_att("b", "B")})).rev;
    auto g1 = write_one(db, with_atts(edit("gone", "{}"), {data_att("k", "K")})).rev;
    REQUIRE(!write_one(db, with_atts(edit("gone", "{}", g1, /*deleted=*/true), {stub_att("k")})).error);
    auto x1 = data_att("x", "X");
    x1.revpos = 1;
    REQUIRE(!write_one(db, with_atts(replicated("r", 1, {"a"}), {x1})).error);
    return revs;
  };
  Revs revs = setup(**catalog.create("fixture"));

  struct Case {
    const char* what;
    DocUpdate update;
    bool missing;  // what both must say
  };
  const std::string& r1 = revs.r1;
  const std::string& r2 = revs.r2;
  std::vector<Case> cases = {
      {"stub kept with its revpos", with_atts(edit("d", "{}", r2), {stub_att("a", 1)}), false},
      {"stub without revpos", with_atts(edit("d", "{}", r2), {stub_att("b")}), false},
      {"wrong revpos", with_atts(edit("d", "{}", r2), {stub_att("a", 2)}), true},
      {"unknown name", with_atts(edit("d", "{}", r2), {stub_att("zz")}), true},
      {"conflict (stale parent)", with_atts(edit("d", "{}", r1), {stub_att("zz")}), false},
      {"new doc with a stub", with_atts(edit("fresh", "{}"), {stub_att("a")}), true},
      {"recreate: base is the deleted winner", with_atts(edit("gone", "{}"), {stub_att("k")}), false},
      {"recreate: unknown name", with_atts(edit("gone", "{}"), {stub_att("a")}), true},
      {"replicated through an unknown rev to a held one",
       with_atts(replicated("r", 3, {"c", "b", "a"}), {stub_att("x", 1)}), false},
      {"replicated, wrong revpos", with_atts(replicated("r", 3, {"c", "b", "a"}), {stub_att("x", 2)}),
       true},
      {"replicated, no held ancestor", with_atts(replicated("r", 5, {"e", "d"}), {stub_att("x")}),
       true},
      {"replicated, already known", with_atts(replicated("r", 1, {"a"}), {stub_att("q")}), false},
      {"replicated, bad path", with_atts(replicated("r", 1, {"a", "z"}), {stub_att("q")}), false},
      {"no stubs", with_atts(edit("d", "{}", r2), {data_att("n", "N")}), false},
  };
  int n = 0;
  for (auto& c : cases) {
    CAPTURE(c.what);
    // Each case against its own copy of the fixture, so a successful write cannot move the next.
    auto db = *catalog.create("case" + std::to_string(n++));
    setup(*db);
    std::optional<Error> checked;
    {
      auto snap = db->snapshot();
      REQUIRE(snap.has_value());
      checked = snap->check_stubs(c.update);
    }
    auto written = write_one(*db, c.update);
    bool writer_missing = written.error && written.error->code == Code::kMissingStub;
    CHECK(writer_missing == c.missing);
    CHECK(checked.has_value() == writer_missing);
    if (checked && written.error) CHECK(checked->reason == written.error->reason);
  }
}

}  // namespace
}  // namespace divan::engine::test
