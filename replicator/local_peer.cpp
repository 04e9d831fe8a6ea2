#include "replicator/local_peer.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/numbers.h"
#include "changes/feed.h"
#include "engine/async_write.h"
#include "engine/doc_json.h"
#include "engine/doc_render.h"
#include "replicator/wakeup.h"

namespace divan::replicator {

namespace asio = boost::asio;
using revtree::RevId;

namespace {

tl::unexpected<PeerError> local_error(Error error) {
  return tl::unexpected(PeerError{PeerError::Kind::kLocal, 0, error.code,
                                  std::string(code_info(error.code).error),
                                  std::move(error.reason)});
}

// A seq this peer handed out ("12"), 0, or CouchDB's "<n>-…" form (a since_seq given by a user):
// the number before any '-'. nullopt for anything else.
std::optional<uint64_t> local_seq(const Json& seq) {
  if (seq.is_number_unsigned()) return seq.get<uint64_t>();
  if (seq.is_number_integer()) {
    if (seq.get<int64_t>() < 0) return std::nullopt;
    return static_cast<uint64_t>(seq.get<int64_t>());
  }
  if (!seq.is_string()) return std::nullopt;
  const std::string& text = seq.get_ref<const std::string&>();
  return parse_unsigned<uint64_t>(std::string_view(text).substr(0, text.find('-')));
}

// Seqs go out as the HTTP API shows them (JSON strings of the decimal seq), so a checkpoint
// written by a local run reads the same as one written over HTTP.
Json seq_value(uint64_t seq) { return Json(std::to_string(seq)); }

// The replication's filter as the changes feed runs it (spec §4): doc ids, a selector or a
// builtin `_design`; the others need a JavaScript engine and never reach a peer
// (check_filter_supported refuses them when the job is made).
Result<changes::Filter> feed_filter(const Filter* filter) {
  if (!filter) return changes::Filter();
  switch (filter->kind) {
    case Filter::Kind::kNone:
      return changes::Filter();
    case Filter::Kind::kDocIds:
      return changes::Filter::doc_ids(Json(filter->doc_ids));
    case Filter::Kind::kSelector:
      return changes::Filter::selector(filter->selector);
    case Filter::Kind::kBuiltin:
      if (filter->name == "_design") return changes::Filter::design();
      if (filter->name == "_doc_ids") {
        auto ids = filter->query_params.find("doc_ids");
        if (ids != filter->query_params.end()) return changes::Filter::doc_ids(*ids);
      }
      break;
    case Filter::Kind::kDesignDoc:
      break;
  }
  return fail(Code::kBadRequest, "filter `" + filter->name + "` is not supported by Divan");
}

// The attachments of a stored revision as a replicated write carries them: the bytes of those
// newer than `since_pos` (none: all), stubs with their description for the others.
Result<std::vector<engine::NewAttachment>> attachments_to_send(
    engine::Snapshot& snapshot, const std::vector<engine::AttachmentInfo>& atts,
    std::optional<uint64_t> since_pos) {
  std::vector<engine::NewAttachment> out;
  out.reserve(atts.size());
  for (const auto& info : atts) {
    engine::NewAttachment att;
    att.name = info.name;
    att.content_type = info.content_type;
    att.revpos = info.revpos;
    if (since_pos && info.revpos <= *since_pos) {
      att.stub = true;
      att.digest = info.digest;
      att.length = info.length;
    } else {
      auto bytes =
          snapshot.read_attachment(info.digest, 0, static_cast<size_t>(info.stored_length()));
      // Every digest a stored revision lists has its row in the same snapshot.
      if (!bytes) return fail(Code::kInternal, "attachment body " + info.digest + " is missing");
      // Copied in its stored form: same bytes, same digest on the target.
      att.body = info.gzip() ? engine::AttachmentBody::from_gzip(std::move(*bytes), info.length)
                             : engine::AttachmentBody::from_bytes(std::move(*bytes));
    }
    out.push_back(std::move(att));
  }
  return out;
}

}  // namespace

LocalPeer::LocalPeer(engine::Catalog& catalog, changes::Notifier& notifier, std::string db_name,
                     engine::Writer writer, std::shared_ptr<http::client::StopToken> stop)
    : catalog_(catalog),
      notifier_(notifier),
      db_name_(std::move(db_name)),
      writer_(std::move(writer)),
      stop_(std::move(stop)) {}

PeerResult<std::shared_ptr<engine::Database>> LocalPeer::database() {
  // Asked each time (a map lookup): a database deleted and created anew is the new one.
  auto db = catalog_.open(db_name_);
  if (!db) return local_error(db.error());
  return *db;
}

PeerTask<PeerInfo> LocalPeer::info() {
  auto db = database();
  if (!db) co_return tl::unexpected(db.error());
  co_return PeerInfo{seq_value((*db)->update_seq()), "0"};
}

PeerTask<void> LocalPeer::create(const Json&) {
  auto created = catalog_.create(db_name_);
  if (!created && created.error().code != Code::kFileExists) {
    co_return local_error(created.error());
  }
  co_return PeerResult<void>();
}

PeerTask<std::optional<Json>> LocalPeer::get_local(std::string_view doc_id) {
  auto db = database();
  if (!db) co_return tl::unexpected(db.error());
  auto snapshot = (*db)->snapshot();
  if (!snapshot) co_return local_error(snapshot.error());
  auto local = snapshot->local(doc_id);
  if (!local) co_return std::optional<Json>();
  Json doc = Json::parse(local->body, nullptr, false);
  if (!doc.is_object()) co_return local_error({Code::kInternal, "corrupt _local doc body"});
  Json out = Json::object();
  out["_id"] = local->id;
  out["_rev"] = "0-" + std::to_string(local->rev_counter);
  for (auto& [key, value] : doc.items()) out[key] = std::move(value);
  co_return std::optional<Json>(std::move(out));
}

PeerTask<std::string> LocalPeer::put_local(std::string_view doc_id, const Json& body) {
  auto db = database();
  if (!db) co_return tl::unexpected(db.error());
  // The same path as PUT /{db}/_local/{id}: the URL's id wins, `_rev` "0-N" guards the update.
  Json doc = body;
  doc["_id"] = std::string(doc_id);
  auto incoming = engine::parse_incoming_doc(std::move(doc));
  if (!incoming) co_return local_error(incoming.error());
  auto update = engine::to_local_update(std::move(*incoming), std::string(doc_id));
  if (!update) co_return local_error(update.error());
  std::vector<engine::WriteOp> ops;
  ops.push_back(std::move(*update));
  auto result = co_await engine::async_write(**db, std::move(ops), writer_);
  if (!result) co_return local_error(result.error());
  engine::WriteOutcome& outcome = result->front();
  if (outcome.error) co_return local_error(std::move(*outcome.error));
  co_return std::move(outcome.rev);
}

PeerTask<std::string> LocalPeer::ensure_full_commit() {
  // Every write answered is already fsynced (the writer commits with synchronous=FULL).
  auto db = database();
  if (!db) co_return tl::unexpected(db.error());
  co_return std::string("0");
}

PeerResult<ChangesPage> LocalPeer::read_changes(engine::Database& db,
                                                const ChangesRequest& request) {
  auto since = local_seq(request.since);
  if (!since) {
    return local_error({Code::kBadRequest, "Malformed sequence supplied in 'since' parameter."});
  }
  auto filter = feed_filter(request.filter);
  if (!filter) return local_error(filter.error());
  changes::FeedOptions options;
  options.since = *since;
  options.limit = request.limit;
  options.style = request.winning_revs_only ? changes::Style::kMainOnly : changes::Style::kAllDocs;
  options.filter = std::move(*filter);
  auto snapshot = db.snapshot();
  if (!snapshot) return local_error(snapshot.error());
  changes::Page page = changes::read_page(*snapshot, options, request.limit);
  ChangesPage out;
  out.rows.reserve(page.rows.size());
  for (auto& row : page.rows) {
    Change change;
    change.seq = seq_value(row.seq);
    change.id = std::move(row.id);
    change.deleted = row.deleted;
    change.revs.reserve(row.changes.size());
    for (auto& leaf : row.changes) change.revs.push_back(std::move(leaf.rev));
    out.rows.push_back(std::move(change));
  }
  out.last_seq = seq_value(page.last_seq);
  out.pending = page.pending;
  return out;
}

PeerTask<ChangesPage> LocalPeer::changes(const ChangesRequest& request) {
  auto db = database();
  if (!db) co_return tl::unexpected(db.error());
  if (!request.live) co_return read_changes(**db, request);

  // Longpoll: subscribe before reading, so a commit between the read and the wait is not missed.
  auto wakeup = Wakeup::make(co_await asio::this_coro::executor);
  auto subscription = notifier_.subscribe(*db, wakeup->callback());
  auto stopped = [&] {
    return (stop_ && stop_->stopped()) || (request.stop && request.stop->stopped());
  };
  http::client::StopToken::Registration on_stop, on_request_stop;
  if (stop_) on_stop = stop_->on_stop(wakeup->callback());
  if (request.stop) on_request_stop = request.stop->on_stop(wakeup->callback());
  auto page = read_changes(**db, request);
  if (!page || !page->rows.empty()) co_return page;
  if (!stopped()) co_await wakeup->wait(request.timeout);
  if (stopped()) {
    co_return tl::unexpected(PeerError{PeerError::Kind::kTransport, 0, Code::kInternal, "",
                                       "cancelled"});
  }
  co_return read_changes(**db, request);
}

PeerTask<std::vector<MissingRevs>> LocalPeer::revs_diff(std::vector<RevsDiffEntry> entries) {
  auto db = database();
  if (!db) co_return tl::unexpected(db.error());
  auto snapshot = (*db)->snapshot();
  if (!snapshot) co_return local_error(snapshot.error());
  // Entries for the same id are merged (as a JSON object's members would be), in the order of
  // each id's first entry.
  std::vector<RevsDiffEntry> merged;
  std::unordered_map<std::string, size_t> index;
  for (auto& entry : entries) {
    auto [it, added] = index.emplace(entry.id, merged.size());
    if (added) {
      merged.push_back(std::move(entry));
      continue;
    }
    auto& revs = merged[it->second].revs;
    for (auto& rev : entry.revs) {
      if (std::find(revs.begin(), revs.end(), rev) == revs.end()) revs.push_back(std::move(rev));
    }
  }
  std::vector<MissingRevs> out;
  for (auto& entry : merged) {
    revtree::RevsDiff diff = snapshot->revs_diff(entry.id, entry.revs);
    if (diff.missing.empty()) continue;
    out.push_back(MissingRevs{std::move(entry.id), std::move(diff.missing),
                              std::move(diff.possible_ancestors)});
  }
  co_return out;
}

PeerTask<FetchResult> LocalPeer::fetch(std::vector<FetchRequest> requests, bool full) {
  auto db = database();
  if (!db) co_return tl::unexpected(db.error());
  auto snapshot = (*db)->snapshot();
  if (!snapshot) co_return local_error(snapshot.error());
  const uint32_t revs_limit = (*db)->revs_limit();
  FetchResult out;
  for (auto& request : requests) {
    auto doc = snapshot->doc(request.id);
    if (!doc) {
      for (auto& rev : request.revs) out.missing.emplace_back(request.id, std::move(rev));
      continue;
    }
    // latest=true, as the replicator always asks (spec §3.8).
    revtree::OpenRevs selected = doc->tree.open_revs(request.revs, true);
    for (auto& rev : selected.missing) out.missing.emplace_back(request.id, std::move(rev));
    for (const auto& leaf : selected.found) {
      auto stored = snapshot->revision(request.id, leaf.rev);
      if (!stored) {
        out.missing.emplace_back(request.id, leaf.rev);
        continue;
      }
      std::optional<uint64_t> since_pos;
      if (!full) since_pos = engine::atts_since_pos(doc->tree, leaf.rev, request.atts_since);
      auto atts = attachments_to_send(*snapshot, engine::parse_stored_attachments(stored->atts),
                                      since_pos);
      if (!atts) co_return local_error(atts.error());
      out.docs.push_back(engine::DocUpdate::replicated_stored(
          request.id, doc->tree.ancestry(leaf.rev, revs_limit), leaf.deleted,
          std::move(stored->body), std::move(*atts)));
    }
  }
  co_return out;
}

PeerTask<std::vector<WriteFailure>> LocalPeer::write(std::vector<engine::DocUpdate> docs) {
  auto db = database();
  if (!db) co_return tl::unexpected(db.error());
  std::vector<engine::WriteOp> ops;
  ops.reserve(docs.size());
  std::vector<std::pair<std::string, std::string>> written;  // id, rev: for failure items
  written.reserve(docs.size());
  for (auto& doc : docs) {
    written.emplace_back(doc.id(), doc.revisions() ? doc.revisions()->newest().str() : "");
    ops.push_back(std::move(doc));
  }
  auto result = co_await engine::async_write(**db, std::move(ops), writer_);
  if (!result) co_return local_error(result.error());
  std::vector<WriteFailure> failures;
  for (size_t i = 0; i < result->size(); ++i) {
    const auto& error = (*result)[i].error;
    if (!error) continue;
    // An unresolvable stub is the whole batch's answer, as CouchDB's _bulk_docs gives it (412):
    // the job refetches with every body.
    if (error->code == Code::kMissingStub) co_return local_error(*error);
    failures.push_back(WriteFailure{written[i].first, written[i].second,
                                    std::string(code_info(error->code).error), error->reason});
  }
  co_return failures;
}

}  // namespace divan::replicator
