// Model-based test (LevelDB's ModelDB): the SQLite engine and an in-memory model take the same
// random interactive and new_edits=false writes, then must agree on every doc's forest, leaves,
// winner, conflicts, leaf bodies, seqs, counts and the _all_docs / by-seq listings.
//
// The model applies revision-trees.md §6.1 straight from the table (not through plan_edit), keeps
// every written body until a compaction (then leaves' only), recomputing the set from the tree
// (not from stem()/drop_internal_bodies() results), applies purges with their records, and
// assigns seqs itself, so those parts of the engine are checked independently.
// Replay a failure with DIVAN_SEED=<seed> (add DIVAN_MODEL_CHECK_EVERY=1 to stop at the first bad
// batch, with its ops); soak with DIVAN_MODEL_SECONDS=<n>.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "engine_test_util.h"

namespace divan::engine::test {
namespace {

struct ModelDoc {
  revtree::RevTree tree;
  std::map<std::string, std::string> bodies;  // rev text -> body, for every rev holding one
  uint64_t seq = 0;
};

struct Model {
  std::map<std::string, ModelDoc> docs;  // std::map<std::string>: byte order, like _all_docs
  std::map<std::string, std::pair<uint64_t, std::string>> locals;
  uint32_t revs_limit = 1000;
  uint64_t update_seq = 0;
  std::set<std::string> written_in_batch;
  // Purge records (purge_seq → doc id, revs), the newest purged_infos_limit of them.
  std::map<uint64_t, std::pair<std::string, std::vector<revtree::RevId>>> purges;
  uint64_t purge_seq = 0;
  uint64_t purged_infos_limit = 1000;

  bool recorded_purge(const std::string& id, const revtree::RevId& rev) const {
    for (const auto& [seq, record] : purges) {
      if (record.first != id) continue;
      for (const auto& r : record.second) {
        if (r == rev) return true;
      }
    }
    return false;
  }

  // Keeps the bodies of the revs `tree` still holds one for.
  static std::map<std::string, std::string> held_bodies(const revtree::RevTree& tree,
                                                        const std::map<std::string, std::string>& old) {
    std::map<std::string, std::string> bodies;
    for (const auto& node : tree.nodes()) {
      if (!node.has_body) continue;
      auto it = old.find(node.rev.str());
      if (it != old.end()) bodies[it->first] = it->second;
    }
    return bodies;
  }

  void bump_seq(ModelDoc& doc, const std::string& id) {
    if (!written_in_batch.count(id)) {
      doc.seq = ++update_seq;
      written_in_batch.insert(id);
    }
  }

  static WriteOutcome conflict() {
    WriteOutcome out;
    out.error = Error{Code::kConflict, reason::kConflict};
    return out;
  }

  // Stores `tree` (already merged) with the new leaf's body, then stems (bodies of stemmed revs go).
  void store(const std::string& id, revtree::RevTree tree, const revtree::RevId& new_rev,
             const std::string& body) {
    ModelDoc& doc = docs[id];
    tree.stem(revs_limit);
    std::map<std::string, std::string> old = doc.bodies;
    old[new_rev.str()] = body;
    // Keep the tree as the engine does: in its stored form. (The engine always merges into a
    // decoded tree; this keeps the comparison about storage, not about in-memory node order.)
    auto stored = revtree::RevTree::decode(tree.encode());
    REQUIRE(stored.has_value());
    doc.tree = std::move(*stored);
    doc.bodies = held_bodies(doc.tree, old);
    bump_seq(doc, id);
  }

  // What a finished compaction leaves: stemmed trees, leaf bodies only. Seqs do not move.
  void compact() {
    for (auto& [id, doc] : docs) {
      revtree::RevTree tree = doc.tree;
      tree.stem(revs_limit);
      tree.drop_internal_bodies();
      auto stored = revtree::RevTree::decode(tree.encode());
      REQUIRE(stored.has_value());
      doc.tree = std::move(*stored);
      doc.bodies = held_bodies(doc.tree, doc.bodies);
    }
  }

  WriteOutcome apply(const DocUpdate& u) {
    auto it = docs.find(u.id());
    revtree::RevTree tree = it != docs.end() ? it->second.tree : revtree::RevTree();
    WriteOutcome out;
    if (u.revisions()) {
      revtree::RevId newest = u.revisions()->newest();
      out.rev = newest.str();
      bool was_leaf = tree.is_leaf(newest);
      tree.merge(*u.revisions(), u.deleted());
      if (was_leaf || !tree.is_leaf(newest)) return out;
      if (recorded_purge(u.id(), newest)) return out;  // a purged rev does not come back
      store(u.id(), std::move(tree), newest, u.body());
      out.written = true;
      return out;
    }
    // spec §6.1, row by row.
    std::optional<revtree::RevId> parent;
    if (tree.empty()) {
      if (u.parent()) return conflict();
    } else if (!tree.winner().deleted) {
      if (!u.parent()) return conflict();
      auto leaves = tree.leaves();
      bool is_leaf = std::any_of(leaves.begin(), leaves.end(),
                                 [&](const revtree::Leaf& l) { return l.rev == *u.parent(); });
      if (!is_leaf) return conflict();
      parent = u.parent();
    } else {
      if (u.parent() || u.deleted()) return conflict();
      parent = tree.winner().rev;
    }
    std::string new_id = hash_for(u.deleted(), parent, u.canonical_body());
    revtree::RevPath path = parent ? revtree::RevPath{parent->pos + 1, {new_id, parent->id}}
                                   : revtree::RevPath{1, {new_id}};
    if (tree.merge(path, u.deleted()) != revtree::MergeResult::kNewLeaf) return conflict();
    revtree::RevId new_rev{path.start, new_id};
    store(u.id(), std::move(tree), new_rev, u.body());
    out.rev = new_rev.str();
    out.written = true;
    return out;
  }

  WriteOutcome apply(const LocalUpdate& u) {
    WriteOutcome out;
    if (u.deleted) {
      if (!locals.erase(u.id)) {
        out.error = Error{Code::kNotFound, reason::kMissing};
        return out;
      }
      out.rev = "0-0";
    } else {
      locals[u.id] = {u.rev_counter + 1, u.body};
      out.rev = "0-" + std::to_string(u.rev_counter + 1);
    }
    out.written = true;
    return out;
  }

  WriteOutcome apply(const SetRevsLimit& op) {
    revs_limit = op.limit;
    WriteOutcome out;
    out.written = true;
    return out;
  }

  WriteOutcome apply(const SetSecurity&) {
    WriteOutcome out;
    out.written = true;
    return out;
  }

  WriteOutcome apply(const PurgeDoc& op) {
    WriteOutcome out;
    auto it = docs.find(op.id);
    if (it == docs.end()) return out;
    // RevTree::remove_leaves has its own table-driven tests (revtree/purge_test.cpp); the model
    // checks what storage does around it: rows, seqs, counts, records.
    revtree::RevTree tree = it->second.tree;
    out.purged = tree.remove_leaves(op.revs);
    if (out.purged.empty()) return out;
    bump_seq(it->second, op.id);
    if (tree.empty()) {
      docs.erase(it);
    } else {
      auto stored = revtree::RevTree::decode(tree.encode());
      REQUIRE(stored.has_value());
      it->second.bodies = held_bodies(*stored, it->second.bodies);
      it->second.tree = std::move(*stored);
    }
    purges[++purge_seq] = {op.id, out.purged};
    while (!purges.empty() && purges.begin()->first + purged_infos_limit <= purge_seq) {
      purges.erase(purges.begin());
    }
    out.written = true;
    return out;
  }

  WriteOutcome apply(const SetPurgedInfosLimit& op) {
    purged_infos_limit = op.limit;
    WriteOutcome out;
    out.written = true;
    return out;
  }

  std::vector<WriteOutcome> apply_batch(const std::vector<WriteOp>& ops) {
    written_in_batch.clear();
    std::vector<WriteOutcome> outs;
    for (const auto& op : ops) outs.push_back(std::visit([&](const auto& o) { return apply(o); }, op));
    return outs;
  }
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  std::vector<WriteOp> batch(const Model& model) {
    std::vector<WriteOp> ops;
    int n = pick(1, 6);
    for (int i = 0; i < n; ++i) ops.push_back(op(model));
    return ops;
  }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(int percent) { return pick(1, 100) <= percent; }

  std::string doc_id() {
    static const std::vector<std::string> kIds = {"a", "b", "c", "d", "e", "f", "_design/x",
                                                  "\xc3\xa9"};
    return kIds[pick(0, static_cast<int>(kIds.size()) - 1)];
  }
  // A small alphabet so independently generated paths share revs and prefixes.
  std::string short_rev_id() { return std::string(1, static_cast<char>('p' + pick(0, 5))); }
  std::string body() { return R"({"v":)" + std::to_string(pick(0, 9)) + "}"; }

  const revtree::RevTree* tree_of(const Model& model, const std::string& id) {
    auto it = model.docs.find(id);
    return it == model.docs.end() ? nullptr : &it->second.tree;
  }

  WriteOp op(const Model& model) {
    int kind = pick(1, 100);
    if (kind <= 45) return interactive(model);
    if (kind <= 90) return replicated_write(model);
    if (kind <= 96) {
      std::string id = "_local/" + std::string(1, static_cast<char>('a' + pick(0, 2)));
      if (chance(30)) return local_delete(id);
      return local_put(id, static_cast<uint64_t>(pick(0, 3)), body());
    }
    if (kind <= 98) return purge(model);
    if (kind <= 99) return SetPurgedInfosLimit{static_cast<uint64_t>(pick(1, 4))};
    static const uint32_t kLimits[] = {1, 2, 3, 5, 1000};
    return SetRevsLimit{kLimits[pick(0, 4)]};
  }

  // Purges one or two revs of a doc: usually leaves, sometimes an inner or an unknown rev.
  WriteOp purge(const Model& model) {
    PurgeDoc op{doc_id(), {}, "u"};
    const revtree::RevTree* tree = tree_of(model, op.id);
    for (int n = pick(1, 2), i = 0; i < n; ++i) {
      if (tree && chance(80)) {
        const auto& nodes = tree->nodes();
        auto leaves = tree->leaves();
        op.revs.push_back(chance(80) ? leaves[pick(0, static_cast<int>(leaves.size()) - 1)].rev
                                     : nodes[pick(0, static_cast<int>(nodes.size()) - 1)].rev);
      } else {
        op.revs.push_back(revtree::RevId{static_cast<uint64_t>(pick(1, 4)), short_rev_id()});
      }
    }
    return op;
  }

  WriteOp interactive(const Model& model) {
    std::string id = doc_id();
    bool deleted = chance(25);
    std::optional<std::string> parent;
    const revtree::RevTree* tree = tree_of(model, id);
    int p = pick(1, 100);
    if (tree && p <= 45) {
      auto leaves = tree->leaves();
      parent = leaves[pick(0, static_cast<int>(leaves.size()) - 1)].rev.str();
    } else if (tree && p <= 60) {
      const auto& nodes = tree->nodes();
      parent = nodes[pick(0, static_cast<int>(nodes.size()) - 1)].rev.str();  // often stale
    } else if (p <= 70) {
      parent = std::to_string(pick(1, 4)) + "-" + short_rev_id();  // usually unknown
    }
    return edit(id, deleted ? "{}" : body(), parent, deleted);
  }

  WriteOp replicated_write(const Model& model) {
    std::string id = doc_id();
    bool deleted = chance(20);
    const revtree::RevTree* tree = tree_of(model, id);
    std::vector<std::string> ids;
    uint64_t start;
    if (tree && chance(60)) {
      // Extend (or re-send) a known node's history, possibly truncated on the old end.
      const auto& nodes = tree->nodes();
      const auto& from = nodes[pick(0, static_cast<int>(nodes.size()) - 1)].rev;
      revtree::RevPath history = tree->ancestry(from, static_cast<size_t>(pick(1, 6)));
      int fresh = pick(0, 3);
      for (int i = 0; i < fresh; ++i) ids.push_back(short_rev_id());
      ids.insert(ids.end(), history.ids.begin(), history.ids.end());
      start = history.start + static_cast<uint64_t>(fresh);
      if (chance(20)) {
        // Also claim ancestors beyond what we know (re-rooting, §12 case 7).
        int extra = std::min<int>(pick(1, 3), static_cast<int>(start - ids.size()));
        for (int i = 0; i < extra; ++i) ids.push_back(short_rev_id());
      }
    } else {
      start = static_cast<uint64_t>(pick(1, 7));
      int len = pick(1, static_cast<int>(start));
      for (int i = 0; i < len; ++i) ids.push_back(short_rev_id());
    }
    return replicated(id, start, std::move(ids), deleted, deleted ? "{}" : body());
  }

  std::mt19937_64 rng_;
};

std::string describe(const std::vector<WriteOp>& ops) {
  std::string text;
  for (const auto& op : ops) {
    if (const auto* u = std::get_if<DocUpdate>(&op)) {
      text += u->id() + (u->deleted() ? " deleted" : "") + " body=" + u->body();
      if (u->parent()) text += " parent=" + u->parent()->str();
      if (u->revisions()) {
        text += " revisions=" + std::to_string(u->revisions()->start) + "[";
        for (const auto& id : u->revisions()->ids) text += id + " ";
        text += "]";
      }
    } else if (const auto* l = std::get_if<LocalUpdate>(&op)) {
      text += l->id + (l->deleted ? " deleted" : " put");
    } else if (const auto* r = std::get_if<SetRevsLimit>(&op)) {
      text += "revs_limit=" + std::to_string(r->limit);
    } else if (const auto* p = std::get_if<PurgeDoc>(&op)) {
      text += "purge " + p->id;
      for (const auto& rev : p->revs) text += " " + rev.str();
    } else if (const auto* l = std::get_if<SetPurgedInfosLimit>(&op)) {
      text += "purged_infos_limit=" + std::to_string(l->limit);
    } else {
      text += "security";
    }
    text += "\n";
  }
  return text;
}

void check_outcome(const WriteOutcome& engine, const WriteOutcome& model) {
  CHECK(engine.error.has_value() == model.error.has_value());
  if (engine.error && model.error) {
    CHECK(engine.error->code == model.error->code);
    CHECK(engine.error->reason == model.error->reason);
  }
  CHECK(engine.rev == model.rev);
  CHECK(engine.written == model.written);
  CHECK(engine.purged == model.purged);
}

void check_same(Database& db, const Model& model) {
  auto snap_r = db.snapshot();
  REQUIRE(snap_r.has_value());
  Snapshot& snap = *snap_r;

  uint64_t live = 0;
  for (const auto& entry : model.docs) {
    // Not a structured binding: CAPTURE's lambda cannot capture one before clang 16.
    const std::string& id = entry.first;
    const ModelDoc& doc = entry.second;
    CAPTURE(id);
    auto rec = snap.doc(id);
    REQUIRE(rec.has_value());
    const revtree::RevTree& t = rec->tree;
    CAPTURE(t.to_string());
    CAPTURE(doc.tree.to_string());
    CHECK(t == doc.tree);
    CHECK(t.leaves() == doc.tree.leaves());
    CHECK(t.winner() == doc.tree.winner());
    CHECK(t.conflicts() == doc.tree.conflicts());
    CHECK(t.deleted_conflicts() == doc.tree.deleted_conflicts());
    CHECK(rec->seq == doc.seq);
    for (const auto& node : t.nodes()) {
      std::string r = node.rev.str();
      auto stored = snap.body(id, node.rev);
      auto want = doc.bodies.find(r);
      if (want == doc.bodies.end()) {
        CHECK_MESSAGE(!stored.has_value(), "unexpected body for " << r);
      } else {
        CHECK_MESSAGE(stored == std::optional<std::string>(want->second), "body of " << r);
      }
    }
    if (!doc.tree.winner().deleted) ++live;
  }

  // _all_docs (live winners) and the full listing, in byte order, with winners and flags.
  std::vector<std::string> want_live;
  std::vector<std::string> want_all;
  for (const auto& [id, doc] : model.docs) {
    want_all.push_back(id);
    if (!doc.tree.winner().deleted) want_live.push_back(id);
  }
  CHECK(all_doc_ids(db) == want_live);
  CHECK(all_doc_ids(db, true) == want_all);
  IdRange all;
  all.include_deleted = true;
  snap.scan_by_id(all, [&](const DocRow& row) {
    const ModelDoc& doc = model.docs.at(std::string(row.id));
    CHECK(row.winner == doc.tree.winner().rev.str());
    CHECK(row.deleted == doc.tree.winner().deleted);
    CHECK(row.seq == doc.seq);
    return true;
  });

  // By seq: every doc once, in the order of its latest change.
  std::vector<std::pair<uint64_t, std::string>> by_seq;
  for (const auto& [id, doc] : model.docs) by_seq.emplace_back(doc.seq, id);
  std::sort(by_seq.begin(), by_seq.end());
  std::vector<std::pair<uint64_t, std::string>> got;
  snap.scan_by_seq(0, false, [&](const DocRow& row) {
    got.emplace_back(row.seq, std::string(row.id));
    return true;
  });
  CHECK(got == by_seq);

  std::vector<std::pair<std::string, std::pair<uint64_t, std::string>>> locals;
  snap.scan_local({}, [&](const LocalDoc& d) {
    locals.push_back({d.id, {d.rev_counter, d.body}});
    return true;
  });
  CHECK(locals == std::vector<std::pair<std::string, std::pair<uint64_t, std::string>>>(
                      model.locals.begin(), model.locals.end()));

  DbInfo info = db.info();
  CHECK(info.update_seq == model.update_seq);
  CHECK(db.update_seq() == model.update_seq);
  CHECK(info.doc_count == live);
  CHECK(info.doc_del_count == model.docs.size() - live);
  CHECK(db.revs_limit() == model.revs_limit);
  CHECK(info.purge_seq == model.purge_seq);
  // sizes.external counts the leaves' bodies; the rest is history, dropped by compaction.
  uint64_t leaf_bytes = 0;
  for (const auto& [id, doc] : model.docs) {
    for (const auto& [r, b] : doc.bodies) {
      auto leaves = doc.tree.leaves();  // a rev sitting in two trees is a leaf if any copy is
      bool leaf = std::any_of(leaves.begin(), leaves.end(),
                              [&](const revtree::Leaf& l) { return l.rev.str() == r; });
      if (leaf) leaf_bytes += b.size();
    }
  }
  CHECK(info.external_size == leaf_bytes);
}

TEST_CASE("model: random interactive and replicated writes agree with an in-memory model") {
  uint64_t seed = test_seed();
  CAPTURE(seed);
  TempDir dir;
  Model model;
  Generator gen(seed);
  auto catalog = std::make_unique<Catalog>(options_for(dir));
  std::shared_ptr<Database> db = *catalog->create("model");

  // Bounded to a few seconds; DIVAN_MODEL_SECONDS=<n> soaks longer (and lifts the batch cap).
  const char* soak = std::getenv("DIVAN_MODEL_SECONDS");
  const int seconds = soak ? std::atoi(soak) : 3;
  const int max_batches = soak ? INT32_MAX : 3000;
  const bool check_every = std::getenv("DIVAN_MODEL_CHECK_EVERY") != nullptr;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int batches = 0;
  for (; batches < max_batches && std::chrono::steady_clock::now() < deadline; ++batches) {
    CAPTURE(batches);
    std::vector<WriteOp> ops = gen.batch(model);
    auto engine = db->write(ops);
    REQUIRE(engine.has_value());
    std::vector<WriteOutcome> expected = model.apply_batch(ops);
    REQUIRE(engine->size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      CAPTURE(i);
      check_outcome((*engine)[i], expected[i]);
    }
    // Every 10th batch by default; DIVAN_MODEL_CHECK_EVERY=1 checks (and describes) every batch.
    if (check_every) {
      std::string ops_text = describe(ops);
      CAPTURE(ops_text);
      check_same(*db, model);
    } else if (batches % 10 == 0) {
      check_same(*db, model);
    }
    if (batches % 150 == 149) {
      // Compaction: drops history while the model does the same.
      db->compact();
      for (int i = 0; i < 10000 && db->compaction().running; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      REQUIRE_FALSE(db->compaction().running);
      CHECK(db->compaction().error == "");
      model.compact();
      check_same(*db, model);
    }
    if (batches % 400 == 399) {
      // Persistence: close everything and reopen from disk.
      db.reset();
      catalog = std::make_unique<Catalog>(options_for(dir));
      db = *catalog->open("model");
      check_same(*db, model);
    }
  }
  check_same(*db, model);
  MESSAGE("model test: " << batches << " batches, " << model.update_seq << " seqs, seed " << seed);
}

}  // namespace
}  // namespace divan::engine::test
