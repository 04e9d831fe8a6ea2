// The Peer contract (replicator/peer.h), one suite over every Peer implementation
// (DIVAN_PEER_FIXTURES in peer_fixture.h): the same database contents must give the same answers
// through any Peer. Databases are seeded through the engine; everything else goes through the Peer
// interface. spec: replication-protocol.md §3.2–§3.10, §6.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "engine/gzip.h"
#include "peer_fixture.h"
#include "replicator_test_util.h"

namespace divan::replicator::test {
namespace {

std::vector<std::string> revs_text(const std::vector<revtree::RevId>& revs) {
  std::vector<std::string> out;
  for (const auto& r : revs) out.push_back(r.str());
  return out;
}

std::vector<std::string> ids_of(const ChangesPage& page) {
  std::vector<std::string> out;
  for (const auto& row : page.rows) out.push_back(row.id);
  return out;
}

const Change* row_of(const ChangesPage& page, const std::string& id) {
  for (const auto& row : page.rows) {
    if (row.id == id) return &row;
  }
  return nullptr;
}

// The fetched revision `r` of `id`, or null.
const engine::DocUpdate* doc_of(const FetchResult& result, const std::string& id, const char* r) {
  for (const auto& doc : result.docs) {
    if (doc.id() == id && doc.revisions() && doc.revisions()->newest() == rev(r)) return &doc;
  }
  return nullptr;
}

const engine::NewAttachment* att_of(const engine::DocUpdate& doc, const std::string& name) {
  for (const auto& att : doc.attachments()) {
    if (att.name == name) return &att;
  }
  return nullptr;
}

// The identity bytes of a fetched attachment (a text one arrives in its stored form, gzip).
std::string bytes_of(const engine::NewAttachment& att) {
  REQUIRE(att.body);
  auto memory = att.body->memory();
  REQUIRE(memory.has_value());
  if (!att.body->gzip()) return std::string(*memory);
  auto identity = engine::gunzip_bytes(*memory);
  REQUIRE(identity.has_value());
  return *identity;
}

// Bytes no text encoding survives unharmed: every byte value, twice.
std::string binary_bytes() {
  std::string out;
  for (int round = 0; round < 2; ++round) {
    for (int b = 0; b < 256; ++b) out.push_back(static_cast<char>(b));
  }
  return out;
}

template <typename F>
Json all_changes_last_seq(F& f, Peer& peer) {
  ChangesRequest request;
  request.limit = 10000;
  auto page = f.run(peer.changes(request));
  REQUIRE(page.has_value());
  return page->last_seq;
}

}  // namespace

// ---- §3.2 info, create; §3.10 ensure_full_commit -------------------------------------------

TEST_CASE_TEMPLATE("peer §3.2: info of a database; ensure_full_commit names the same instance", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  f.put("src", "a", Json{{"v", 1}});
  auto peer = f.make_peer("src");
  CHECK_FALSE(peer->display_name().empty());
  auto info = f.run(peer->info());
  REQUIRE(info.has_value());
  CHECK_FALSE(info->update_seq.is_null());
  CHECK_FALSE(info->instance_start_time.empty());
  auto commit = f.run(peer->ensure_full_commit());
  REQUIRE(commit.has_value());
  CHECK(*commit == info->instance_start_time);
}

TEST_CASE_TEMPLATE("peer §3.2: a database that does not exist is not_found", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  auto peer = f.make_peer("nothere");
  auto info = f.run(peer->info());
  REQUIRE_FALSE(info.has_value());
  CHECK(info.error().code == Code::kNotFound);
}

TEST_CASE_TEMPLATE("peer §3.2: create makes the database; creating it again is success", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  auto peer = f.make_peer("fresh");
  REQUIRE_FALSE(f.run(peer->info()).has_value());
  REQUIRE(f.run(peer->create(Json::object())).has_value());
  REQUIRE(f.run(peer->info()).has_value());
  auto again = f.run(peer->create(Json::object()));
  CHECK_MESSAGE(again.has_value(), (again ? "" : again.error().reason));
}

// ---- §3.4 / §3.10 checkpoint documents -----------------------------------------------------

TEST_CASE_TEMPLATE("peer §3.4: _local docs are absent, written, read back, rewritten", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  f.db("src");
  auto peer = f.make_peer("src");
  for (const std::string id : {"_local/checkpoint", "_local/a b+c/d?e=f&g#h%"}) {
    CAPTURE(id);
    auto none = f.run(peer->get_local(id));
    REQUIRE(none.has_value());
    CHECK_FALSE(none->has_value());

    Json body{{"session_id", "s1"}, {"source_last_seq", "5-g1AAAA"}, {"history", Json::array()}};
    auto rev1 = f.run(peer->put_local(id, body));
    REQUIRE_MESSAGE(rev1.has_value(), (rev1 ? "" : rev1.error().reason));
    CHECK(*rev1 == "0-1");
    auto got = f.run(peer->get_local(id));
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((**got)["_id"] == id);
    CHECK((**got)["_rev"] == "0-1");
    CHECK((**got)["session_id"] == "s1");
    CHECK((**got)["source_last_seq"] == "5-g1AAAA");

    body["_rev"] = *rev1;
    body["session_id"] = "s2";
    auto rev2 = f.run(peer->put_local(id, body));
    REQUIRE(rev2.has_value());
    CHECK(*rev2 == "0-2");
    got = f.run(peer->get_local(id));
    REQUIRE((got.has_value() && got->has_value()));
    CHECK((**got)["session_id"] == "s2");
  }
  // Never in the changes feed.
  ChangesRequest request;
  auto page = f.run(peer->changes(request));
  REQUIRE(page.has_value());
  CHECK(page->rows.empty());
}

// ---- §3.6 changes -------------------------------------------------------------------------

TEST_CASE_TEMPLATE("peer §3.6: changes in pages of `limit`; seqs and last_seq round-trip as since",
                   F, DIVAN_PEER_FIXTURES) {
  F f;
  for (int i = 0; i < 5; ++i) f.put("src", "d" + std::to_string(i), Json{{"i", i}});
  auto peer = f.make_peer("src");

  ChangesRequest request;
  request.limit = 2;
  std::vector<std::string> ids;
  std::vector<Json> seqs;
  int pages = 0;
  for (; pages < 10; ++pages) {
    auto page = f.run(peer->changes(request));
    REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().reason));
    CHECK(page->rows.size() <= 2);
    if (pages == 0 && page->pending) CHECK(*page->pending == 3);
    for (const auto& row : page->rows) {
      ids.push_back(row.id);
      seqs.push_back(row.seq);
      CHECK(row.revs.size() == 1);
      CHECK_FALSE(row.deleted);
    }
    if (page->rows.empty()) {
      if (page->pending) CHECK(*page->pending == 0);
      break;
    }
    request.since = page->last_seq;
  }
  CHECK(pages == 3);  // 2 + 2 + 1 rows, then an empty page
  CHECK(ids == std::vector<std::string>{"d0", "d1", "d2", "d3", "d4"});

  // A row's seq, handed back, starts the feed right after that row.
  REQUIRE(seqs.size() == 5);
  ChangesRequest from_d2;
  from_d2.since = seqs[2];
  auto rest = f.run(peer->changes(from_d2));
  REQUIRE(rest.has_value());
  CHECK(ids_of(*rest) == std::vector<std::string>{"d3", "d4"});

  // A later write of an earlier doc moves it to the end.
  auto all = f.run(peer->changes(ChangesRequest{}));
  REQUIRE(all.has_value());
  const Change* d1 = row_of(*all, "d1");
  REQUIRE(d1 != nullptr);
  f.replicate("src", "d1", 2, {"bbb", d1->revs[0].id}, Json{{"i", 10}});
  auto moved = f.run(peer->changes(from_d2));
  REQUIRE(moved.has_value());
  CHECK(ids_of(*moved) == std::vector<std::string>{"d3", "d4", "d1"});
  CHECK(revs_text(moved->rows.back().revs) == std::vector<std::string>{"2-bbb"});
}

TEST_CASE_TEMPLATE("peer §3.6: all_docs lists every leaf, winner first; deleted; main_only", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  f.replicate("src", "c", 2, {"bbb", "aaa"}, Json{{"v", "b"}});
  f.replicate("src", "c", 2, {"xxx", "aaa"}, Json{{"v", "x"}});  // conflict: 2-xxx wins
  f.replicate("src", "gone", 2, {"ddd", "aaa"}, Json::object(), true);
  f.replicate("src", "plain", 1, {"ppp"});
  auto peer = f.make_peer("src");

  auto page = f.run(peer->changes(ChangesRequest{}));
  REQUIRE(page.has_value());
  CHECK(ids_of(*page) == std::vector<std::string>{"c", "gone", "plain"});
  CHECK(revs_text(row_of(*page, "c")->revs) == std::vector<std::string>{"2-xxx", "2-bbb"});
  CHECK_FALSE(row_of(*page, "c")->deleted);
  CHECK(row_of(*page, "gone")->deleted);
  CHECK(revs_text(row_of(*page, "gone")->revs) == std::vector<std::string>{"2-ddd"});

  ChangesRequest main_only;
  main_only.winning_revs_only = true;
  auto winners = f.run(peer->changes(main_only));
  REQUIRE(winners.has_value());
  CHECK(revs_text(row_of(*winners, "c")->revs) == std::vector<std::string>{"2-xxx"});
}

TEST_CASE_TEMPLATE("peer §3.6 §4: doc_ids and selector filters", F, DIVAN_PEER_FIXTURES) {
  F f;
  f.put("src", "a", Json{{"type", "keep"}});
  f.put("src", "b", Json{{"type", "drop"}});
  f.put("src", "c/with slash+plus", Json{{"type", "keep"}});
  f.put("src", "d", Json{{"type", "drop"}});
  auto peer = f.make_peer("src");

  Filter doc_ids;
  doc_ids.kind = Filter::Kind::kDocIds;
  doc_ids.doc_ids = {"c/with slash+plus", "d", "nope"};
  ChangesRequest by_id;
  by_id.filter = &doc_ids;
  auto page = f.run(peer->changes(by_id));
  REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().reason));
  CHECK(ids_of(*page) == std::vector<std::string>{"c/with slash+plus", "d"});

  Filter selector;
  selector.kind = Filter::Kind::kSelector;
  selector.selector = Json{{"type", "keep"}};
  ChangesRequest by_selector;
  by_selector.filter = &selector;
  page = f.run(peer->changes(by_selector));
  REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().reason));
  CHECK(ids_of(*page) == std::vector<std::string>{"a", "c/with slash+plus"});
  // last_seq moves past the filtered-out changes: nothing more to read from there.
  by_selector.since = page->last_seq;
  auto after = f.run(peer->changes(by_selector));
  REQUIRE(after.has_value());
  CHECK(after->rows.empty());
}

TEST_CASE_TEMPLATE("peer §6: a live read waits for a change and is woken by the commit", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  f.put("src", "before", Json::object());
  auto peer = f.make_peer("src");
  ChangesRequest live;
  live.since = all_changes_last_seq(f, *peer);
  live.live = true;
  live.timeout = 10s;
  auto future = f.start(peer->changes(live));
  // Let the read reach its wait; a slower one finds the write at once, which is fine too.
  std::this_thread::sleep_for(300ms);
  CHECK(future.wait_for(0s) == std::future_status::timeout);
  const auto written = Clock::now();
  f.put("src", "after", Json::object());
  auto page = F::wait(future);
  const auto waited = Clock::now() - written;
  REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().reason));
  CHECK(ids_of(*page) == std::vector<std::string>{"after"});
  MESSAGE("woken " << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                   << " ms after the write");
  // Typically a few ms; the bound is for a loaded machine, far below the 10 s timeout.
  CHECK(waited < 1500ms);
}

TEST_CASE_TEMPLATE("peer §6: an idle live read ends after its timeout with no rows", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  f.put("src", "a", Json::object());
  auto peer = f.make_peer("src");
  ChangesRequest live;
  live.since = all_changes_last_seq(f, *peer);
  live.live = true;
  live.timeout = 300ms;
  const auto started = Clock::now();
  auto page = f.run(peer->changes(live));
  const auto took = Clock::now() - started;
  REQUIRE_MESSAGE(page.has_value(), (page ? "" : page.error().reason));
  CHECK(page->rows.empty());
  CHECK(took >= 250ms);
  CHECK(took < 5s);
  // Its last_seq is a place to go on from.
  f.put("src", "b", Json::object());
  ChangesRequest next;
  next.since = page->last_seq;
  auto more = f.run(peer->changes(next));
  REQUIRE(more.has_value());
  CHECK(ids_of(*more) == std::vector<std::string>{"b"});
}

// ---- §3.7 revs_diff -----------------------------------------------------------------------

TEST_CASE_TEMPLATE("peer §3.7: revs_diff lists only what is missing, with possible_ancestors", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  f.replicate("dst", "d", 2, {"bbb", "aaa"});
  f.replicate("dst", "same", 1, {"sss"});
  auto peer = f.make_peer("dst");
  std::vector<RevsDiffEntry> entries{{"d", {rev("2-bbb"), rev("3-ccc")}},
                                     {"new", {rev("1-xxx")}},
                                     {"same", {rev("1-sss")}},
                                     {"d", {rev("4-eee")}}};  // a second entry for d: merged
  auto diff = f.run(peer->revs_diff(entries));
  REQUIRE_MESSAGE(diff.has_value(), (diff ? "" : diff.error().reason));
  REQUIRE(diff->size() == 2);
  CHECK((*diff)[0].id == "d");
  auto d_missing = revs_text((*diff)[0].missing);
  CHECK(std::set<std::string>(d_missing.begin(), d_missing.end()) ==
        std::set<std::string>{"3-ccc", "4-eee"});
  CHECK(revs_text((*diff)[0].possible_ancestors) == std::vector<std::string>{"2-bbb"});
  CHECK((*diff)[1].id == "new");
  CHECK(revs_text((*diff)[1].missing) == std::vector<std::string>{"1-xxx"});
  CHECK((*diff)[1].possible_ancestors.empty());

  auto nothing = f.run(peer->revs_diff({{"same", {rev("1-sss")}}}));
  REQUIRE(nothing.has_value());
  CHECK(nothing->empty());
  auto empty = f.run(peer->revs_diff({}));
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
}

// ---- §3.8 fetch ---------------------------------------------------------------------------

TEST_CASE_TEMPLATE("peer §3.8: fetch returns revisions with ancestry, conflicts, deletions, "
                   "latest leaves, and what is missing",
                   F, DIVAN_PEER_FIXTURES) {
  F f;
  f.replicate("src", "doc", 3, {"ccc", "bbb", "aaa"}, Json{{"v", 3}, {"nested", {{"k", "é"}}}});
  f.replicate("src", "doc", 2, {"xxx", "aaa"}, Json{{"v", "x"}});
  f.replicate("src", "del", 2, {"ddd", "aaa"}, Json{{"last", "words"}}, true);
  f.replicate("src", "_design/app", 1, {"ggg"}, Json{{"language", "query"}});
  auto peer = f.make_peer("src");

  std::vector<FetchRequest> requests{{"doc", {rev("3-ccc"), rev("2-xxx")}, {}},
                                     {"del", {rev("2-ddd")}, {}},
                                     {"_design/app", {rev("1-ggg")}, {}},
                                     {"doc", {rev("9-zzz")}, {}},
                                     {"ghost", {rev("1-qqq")}, {}}};
  auto got = f.run(peer->fetch(requests, false));
  REQUIRE_MESSAGE(got.has_value(), (got ? "" : got.error().reason));
  CHECK(got->docs.size() == 4);

  const auto* c = doc_of(*got, "doc", "3-ccc");
  REQUIRE(c != nullptr);
  CHECK(c->revisions()->start == 3);
  CHECK(c->revisions()->ids == std::vector<std::string>{"ccc", "bbb", "aaa"});
  CHECK(Json::parse(c->body()) == Json{{"v", 3}, {"nested", {{"k", "é"}}}});
  CHECK_FALSE(c->deleted());
  CHECK(c->attachments().empty());

  const auto* x = doc_of(*got, "doc", "2-xxx");
  REQUIRE(x != nullptr);
  CHECK(x->revisions()->ids == std::vector<std::string>{"xxx", "aaa"});
  CHECK(Json::parse(x->body()) == Json{{"v", "x"}});

  const auto* d = doc_of(*got, "del", "2-ddd");
  REQUIRE(d != nullptr);
  CHECK(d->deleted());
  CHECK(Json::parse(d->body()) == Json{{"last", "words"}});

  const auto* g = doc_of(*got, "_design/app", "1-ggg");
  REQUIRE(g != nullptr);
  CHECK(Json::parse(g->body()) == Json{{"language", "query"}});

  std::set<std::pair<std::string, std::string>> missing;
  for (const auto& [id, r] : got->missing) missing.emplace(id, r.str());
  CHECK(missing == std::set<std::pair<std::string, std::string>>{{"doc", "9-zzz"},
                                                                  {"ghost", "1-qqq"}});

  // latest=true: an inner revision gives the leaves descending from it, each once.
  auto latest = f.run(peer->fetch({{"doc", {rev("2-bbb")}, {}}}, false));
  REQUIRE(latest.has_value());
  REQUIRE(latest->docs.size() == 1);
  CHECK(latest->docs[0].revisions()->newest() == rev("3-ccc"));
  auto both = f.run(peer->fetch({{"doc", {rev("1-aaa"), rev("2-bbb")}, {}}}, false));
  REQUIRE(both.has_value());
  CHECK(both->docs.size() == 2);
  CHECK(doc_of(*both, "doc", "3-ccc") != nullptr);
  CHECK(doc_of(*both, "doc", "2-xxx") != nullptr);
  CHECK(both->missing.empty());

  auto none = f.run(peer->fetch({}, false));
  REQUIRE(none.has_value());
  CHECK(none->docs.empty());
}

TEST_CASE_TEMPLATE("peer §3.8: a gzip-stored attachment arrives stored the same, same digest", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  const std::string text(4000, 't');
  engine::NewAttachment att = data_att("t.txt", "text/plain", "", 1);
  att.body = engine::AttachmentBody::for_storage(text, "text/plain");
  REQUIRE(att.body->gzip());
  const std::string digest = att.body->digest();
  f.replicate("src", "gz", 1, {"aaa"}, Json{{"v", 1}}, false, {att});
  auto peer = f.make_peer("src");
  auto fetched = f.run(peer->fetch({{"gz", {rev("1-aaa")}, {}}}, false));
  REQUIRE_MESSAGE(fetched.has_value(), (fetched ? "" : fetched.error().reason));
  REQUIRE(fetched->docs.size() == 1);
  const auto* got = att_of(fetched->docs[0], "t.txt");
  REQUIRE(got != nullptr);
  REQUIRE(got->body);
  // The local peer copies the stored bytes; over HTTP they come decoded (inline data) and the
  // target's compression makes the same bytes again.
  CHECK(got->body->gzip());
  CHECK(got->body->digest() == digest);
  CHECK(got->body->identity_length() == text.size());
  CHECK(bytes_of(*got) == text);
}

TEST_CASE_TEMPLATE("peer §3.8: attachments inline, and as stubs for what atts_since covers", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  const std::string binary = binary_bytes();
  f.replicate("src", "att", 1, {"aaa"}, Json{{"v", 1}}, false,
              {data_att("a.txt", "text/plain", "hello", 1)});
  f.replicate("src", "att", 2, {"bbb", "aaa"}, Json{{"v", 2}}, false,
              {stub_att("a.txt", 1), data_att("b.bin", "application/octet-stream", binary, 2)});
  auto peer = f.make_peer("src");

  // The target has 1-aaa: a.txt (revpos 1) travels as a stub, b.bin (revpos 2) as data.
  auto since = f.run(peer->fetch({{"att", {rev("2-bbb")}, {rev("1-aaa")}}}, false));
  REQUIRE_MESSAGE(since.has_value(), (since ? "" : since.error().reason));
  REQUIRE(since->docs.size() == 1);
  const auto& doc = since->docs[0];
  REQUIRE(doc.attachments().size() == 2);
  const auto* a = att_of(doc, "a.txt");
  REQUIRE(a != nullptr);
  CHECK(a->stub);
  CHECK(a->revpos == 1u);
  CHECK(a->digest == engine::md5_digest("hello"));
  CHECK(a->length == 5u);
  CHECK(a->content_type == "text/plain");
  const auto* b = att_of(doc, "b.bin");
  REQUIRE(b != nullptr);
  CHECK_FALSE(b->stub);
  CHECK(b->revpos == 2u);
  CHECK(b->content_type == "application/octet-stream");
  CHECK(bytes_of(*b) == binary);
  CHECK(b->body->digest() == engine::md5_digest(binary));

  // full: every body inline, whatever atts_since says; and without atts_since likewise.
  for (bool full : {true, false}) {
    CAPTURE(full);
    std::vector<revtree::RevId> atts_since;
    if (full) atts_since.push_back(rev("1-aaa"));
    auto all = f.run(peer->fetch({{"att", {rev("2-bbb")}, atts_since}}, full));
    REQUIRE(all.has_value());
    REQUIRE(all->docs.size() == 1);
    const auto* a2 = att_of(all->docs[0], "a.txt");
    REQUIRE(a2 != nullptr);
    CHECK_FALSE(a2->stub);
    CHECK(bytes_of(*a2) == "hello");
    CHECK(a2->revpos == 1u);
    CHECK(bytes_of(*att_of(all->docs[0], "b.bin")) == binary);
  }
}

// ---- §3.9 write ---------------------------------------------------------------------------

TEST_CASE_TEMPLATE("peer §3.9: fetched revisions written with new_edits=false arrive whole", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  const std::string binary = binary_bytes();
  f.replicate("src", "doc", 3, {"ccc", "bbb", "aaa"}, Json{{"v", 3}});
  f.replicate("src", "doc", 2, {"xxx", "aaa"}, Json{{"v", "x"}});
  f.replicate("src", "del", 2, {"ddd", "aaa"}, Json::object(), true);
  f.replicate("src", "att", 1, {"aaa"}, Json{{"v", 1}}, false,
              {data_att("a.txt", "text/plain", "hello", 1)});
  f.db("dst");
  auto source = f.make_peer("src");
  auto target = f.make_peer("dst");

  // First round: everything but att's second revision, attachments in full.
  auto first = f.run(source->fetch({{"doc", {rev("3-ccc"), rev("2-xxx")}, {}},
                                    {"del", {rev("2-ddd")}, {}},
                                    {"att", {rev("1-aaa")}, {}}},
                                   false));
  REQUIRE(first.has_value());
  REQUIRE(first->docs.size() == 4);
  auto failures = f.run(target->write(std::move(first->docs)));
  REQUIRE_MESSAGE(failures.has_value(), (failures ? "" : failures.error().reason));
  CHECK(failures->empty());

  // att's second revision comes later (before it, latest=true would turn 1-aaa into 2-bbb).
  f.replicate("src", "att", 2, {"bbb", "aaa"}, Json{{"v", 2}}, false,
              {stub_att("a.txt", 1), data_att("b.bin", "image/png", binary, 2)});

  // Second round as a job does it: revs_diff gives 1-aaa as possible ancestor, so a.txt comes as
  // a stub the target resolves from its own 1-aaa.
  auto diff = f.run(target->revs_diff({{"att", {rev("2-bbb")}}}));
  REQUIRE(diff.has_value());
  REQUIRE(diff->size() == 1);
  CHECK(revs_text((*diff)[0].possible_ancestors) == std::vector<std::string>{"1-aaa"});
  auto second = f.run(source->fetch({{"att", {rev("2-bbb")}, (*diff)[0].possible_ancestors}}, false));
  REQUIRE(second.has_value());
  REQUIRE(second->docs.size() == 1);
  CHECK(att_of(second->docs[0], "a.txt")->stub);
  failures = f.run(target->write(std::move(second->docs)));
  REQUIRE_MESSAGE(failures.has_value(), (failures ? "" : failures.error().reason));
  CHECK(failures->empty());

  // The target now answers as the source does.
  std::vector<FetchRequest> everything{{"doc", {rev("3-ccc"), rev("2-xxx")}, {}},
                                       {"del", {rev("2-ddd")}, {}},
                                       {"att", {rev("2-bbb")}, {}}};
  auto from_source = f.run(source->fetch(everything, true));
  auto from_target = f.run(target->fetch(everything, true));
  REQUIRE(from_source.has_value());
  REQUIRE(from_target.has_value());
  REQUIRE(from_target->docs.size() == from_source->docs.size());
  for (const auto& s : from_source->docs) {
    CAPTURE(s.id());
    const auto* t = doc_of(*from_target, s.id(), s.revisions()->newest().str().c_str());
    REQUIRE(t != nullptr);
    CHECK(t->body() == s.body());
    CHECK(t->deleted() == s.deleted());
    CHECK(t->revisions()->ids == s.revisions()->ids);
    REQUIRE(t->attachments().size() == s.attachments().size());
    for (const auto& sa : s.attachments()) {
      const auto* ta = att_of(*t, sa.name);
      REQUIRE(ta != nullptr);
      CHECK(bytes_of(*ta) == bytes_of(sa));
      CHECK(ta->content_type == sa.content_type);
      CHECK(ta->revpos == sa.revpos);
    }
  }
  // And its feed lists the same leaves.
  auto feed = f.run(target->changes(ChangesRequest{}));
  REQUIRE(feed.has_value());
  CHECK(revs_text(row_of(*feed, "doc")->revs) == std::vector<std::string>{"3-ccc", "2-xxx"});
  CHECK(row_of(*feed, "del")->deleted);

  // Writing what the target has is a silent success.
  auto again = f.run(source->fetch(everything, true));
  REQUIRE(again.has_value());
  failures = f.run(target->write(std::move(again->docs)));
  REQUIRE(failures.has_value());
  CHECK(failures->empty());
  auto empty = f.run(target->write({}));
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
}

TEST_CASE_TEMPLATE("peer §3.9: a stub the target cannot resolve is missing_stub", F,
                   DIVAN_PEER_FIXTURES) {
  F f;
  f.db("dst");
  auto target = f.make_peer("dst");
  auto update = engine::DocUpdate::replicated("att", revtree::RevPath{2, {"bbb", "aaa"}}, false,
                                              Json{{"v", 2}}, {stub_att("a.txt", 1)});
  REQUIRE(update.has_value());
  std::vector<engine::DocUpdate> docs;
  docs.push_back(std::move(*update));
  auto result = f.run(target->write(std::move(docs)));
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == Code::kMissingStub);
}

}  // namespace divan::replicator::test
