// GET/POST /{db}/_changes and GET /_db_updates (http-api.md §13): the normal, longpoll, continuous
// and eventsource feeds. Rows come from changes::read_page page by page, each page on a fresh
// snapshot that is released before any socket write, and are rendered here (changes_json.h);
// between pages a live feed waits on its ResponseStream, which the changes::Notifier wakes the
// moment a commit lands.
#include <chrono>
#include <functional>
#include <limits>
#include <optional>
#include <vector>

#include "base/numbers.h"
#include "changes/feed.h"
#include "changes/notifier.h"
#include "http/server/auth_service.h"
#include "http/server/changes_json.h"
#include "http/server/handlers.h"
#include "http/server/params.h"
#include "http/server/response.h"
#include "http/server/stream.h"

namespace divan::http::server {

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;
using std::chrono::milliseconds;

// Rows per snapshot: big enough that a 100k-row feed opens few snapshots, small enough that a
// page's rows stay a few hundred KiB and the WAL is never pinned for long.
constexpr uint64_t kPageRows = 2000;
// CouchDB's changes_timeout: neither timeout nor heartbeat may exceed a minute.
constexpr uint64_t kMaxWaitMs = 60000;

enum class FeedType { kNormal, kLongpoll, kContinuous, kEventSource };

struct FeedParams {
  FeedType feed = FeedType::kNormal;
  std::optional<uint64_t> heartbeat_ms;  // set: send heartbeats and never time out
  uint64_t timeout_ms = kMaxWaitMs;
  std::optional<uint64_t> limit;
};

Result<FeedType> parse_feed_type(const Request& req) {
  auto feed = req.param("feed");
  if (!feed || *feed == "normal") return FeedType::kNormal;
  if (*feed == "longpoll") return FeedType::kLongpoll;
  if (*feed == "continuous" || *feed == "live") return FeedType::kContinuous;
  if (*feed == "eventsource") return FeedType::kEventSource;
  return fail(Code::kBadRequest,
              "Supported `feed` types: normal, continuous, live, longpoll, eventsource");
}

Result<FeedParams> parse_feed_params(const Request& req) {
  FeedParams params;
  auto feed = parse_feed_type(req);
  if (!feed) return tl::unexpected(feed.error());
  params.feed = *feed;
  if (auto limit = req.param("limit")) {
    params.limit = parse_unsigned<uint64_t>(*limit);
    if (!params.limit) {
      return fail(Code::kBadRequest, "The limit value should be a non-negative integer");
    }
  }
  if (auto heartbeat = req.param("heartbeat")) {
    auto ms = *heartbeat == "true" ? std::optional<uint64_t>(kMaxWaitMs) : parse_unsigned<uint64_t>(*heartbeat);
    if (!ms || *ms == 0) {
      return fail(Code::kBadRequest, "The heartbeat value should be a positive integer (in milliseconds).");
    }
    params.heartbeat_ms = std::min(*ms, kMaxWaitMs);
  }
  if (auto timeout = req.param("timeout")) {
    auto ms = parse_unsigned<uint64_t>(*timeout);
    if (!ms) {
      return fail(Code::kBadRequest, "The timeout value should be a non-negative integer (in milliseconds).");
    }
    params.timeout_ms = std::min(*ms, kMaxWaitMs);
  }
  if (auto interval = req.param("seq_interval")) {
    // Accepted and ignored: every row carries its seq (http-api.md §13.1 allows it).
    auto n = parse_unsigned<uint64_t>(*interval);
    if (!n || *n == 0) return fail(Code::kBadRequest, "invalid_seq_interval");
  }
  return params;
}

// `since`: 0, now, an integer we emitted, or "<int>-…" as CouchDB 3 seqs look (http-api.md §13.4).
Result<uint64_t> parse_since(std::string_view text, uint64_t now) {
  if (text == "now") return now;
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
  size_t dash = text.find('-');
  auto seq = parse_unsigned<uint64_t>(text.substr(0, dash));
  if (!seq) return fail(Code::kBadRequest, "Malformed sequence supplied in 'since' parameter.");
  return *seq;
}

// The filter named by `filter`, with doc ids / selector from the query or the POST body.
Result<changes::Filter> parse_filter(const Request& req, const Json& body) {
  auto name = req.param("filter");
  if (!name) return changes::Filter();
  if (*name == "_doc_ids") {
    Json ids;
    if (auto it = body.find("doc_ids"); it != body.end()) {
      ids = *it;
    } else {
      auto param = json_param(req, "doc_ids");
      if (!param) return tl::unexpected(param.error());
      if (*param) ids = std::move(**param);
    }
    return changes::Filter::doc_ids(ids);
  }
  if (*name == "_selector") {
    auto it = body.find("selector");
    if (it == body.end()) return fail(Code::kBadRequest, "Selector must be specified in POST payload");
    return changes::Filter::selector(*it);
  }
  if (*name == "_design") return changes::Filter::design();
  if (!name->empty() && name->front() == '_' && *name != "_view") {
    return fail(Code::kBadRequest, "unknown builtin filter name");
  }
  // Design-document filter functions and views need a JavaScript engine, which Divan has not.
  return fail(Code::kNotFound, reason::kMissing);
}

Result<Json> parse_body(const Request& req) {
  if (req.method() != bhttp::verb::post || req.body().find_first_not_of(" \t\r\n") == std::string::npos) {
    return Json::object();
  }
  if (auto ok = require_json_content_type(req); !ok) return tl::unexpected(ok.error());
  return parse_json_object(req.body());
}

Result<changes::FeedOptions> parse_feed_options(const Request& req, const FeedParams& params,
                                                uint64_t update_seq) {
  changes::FeedOptions options;
  auto body = parse_body(req);
  if (!body) return tl::unexpected(body.error());
  auto descending = bool_param(req, "descending");
  auto include_docs = bool_param(req, "include_docs");
  auto conflicts = bool_param(req, "conflicts");
  auto attachments = bool_param(req, "attachments");
  auto att_encoding_info = bool_param(req, "att_encoding_info");
  for (auto* flag : {&descending, &include_docs, &conflicts, &attachments, &att_encoding_info}) {
    if (!*flag) return tl::unexpected(flag->error());
  }
  options.descending = *descending;
  options.include_docs = *include_docs;
  options.conflicts = *conflicts;
  options.attachments = *attachments;
  options.att_encoding_info = *att_encoding_info;
  options.limit = params.limit;
  auto style = req.param("style");
  options.style = style == "all_docs" ? changes::Style::kAllDocs : changes::Style::kMainOnly;
  std::optional<std::string_view> since = req.param("since");
  if (auto alias = req.param("last-event-id")) since = alias;
  if (params.feed == FeedType::kEventSource) {
    if (auto header = req.header("Last-Event-ID"); !header.empty()) since = header;
  }
  if (since) {
    auto seq = parse_since(*since, update_seq);
    if (!seq) return tl::unexpected(seq.error());
    options.since = *seq;
  }
  auto filter = parse_filter(req, *body);
  if (!filter) return tl::unexpected(filter.error());
  options.filter = std::move(*filter);
  return options;
}

// Where a feed's bytes go: a chunked stream, or (HEAD, or no connection as in unit tests) a buffer
// that becomes one ordinary response.
class FeedSink {
 public:
  FeedSink(Request& req, std::string_view content_type)
      : req_(req),
        content_type_(content_type),
        stream_(req.connection() && req.method() != bhttp::verb::head
                    ? std::make_unique<ResponseStream>(req)
                    : nullptr) {}

  ResponseStream* stream() { return stream_.get(); }

  Task<bool> begin() {
    if (!stream_) co_return true;
    Response header{bhttp::status::ok, 11};
    header.set(bhttp::field::content_type, content_type_);
    header.set(bhttp::field::cache_control,
               content_type_ == "text/event-stream" ? "no-cache" : "must-revalidate");
    add_auth_headers(req_, header);  // CORS and a refreshed session cookie, as on any response
    co_return co_await stream_->begin(header);
  }

  Task<bool> emit(std::string data) {
    if (!stream_) {
      buffer_ += data;
      co_return true;
    }
    co_return co_await stream_->write(data);
  }

  // The handler's return value; marks the request streamed when it was.
  Task<Response> end(Request& req) {
    if (!stream_) {
      Response res{bhttp::status::ok, 11};
      res.set(bhttp::field::content_type, content_type_);
      res.set(bhttp::field::cache_control, "must-revalidate");
      res.body() = std::move(buffer_);
      co_return res;
    }
    bool clean = co_await stream_->finish();
    req.mark_streamed(clean);
    co_return Response{bhttp::status::ok, 11};
  }

 private:
  Request& req_;
  std::string content_type_;
  std::unique_ptr<ResponseStream> stream_;
  std::string buffer_;
};

// Reads the next page into `page`, reusing its rows' storage; false when the database is gone
// (deleted while the feed was open).
bool next_page(engine::Database& db, changes::FeedOptions options, uint64_t since, uint64_t sent,
               changes::Page& page) {
  auto snapshot = db.snapshot();
  if (!snapshot) return false;
  options.since = since;
  if (options.limit) options.limit = *options.limit - std::min(*options.limit, sent);
  // A descending feed cannot resume from a seq (read_page ignores `since` then): read it whole.
  uint64_t max_rows = options.descending ? std::numeric_limits<uint64_t>::max() : kPageRows;
  changes::read_page_into(*snapshot, options, max_rows, page);
  return true;
}

std::string pending_field(std::optional<uint64_t> pending) {
  return pending ? ",\"pending\":" + std::to_string(*pending) : std::string();
}

// One page of node-wide database events, for _db_updates.
struct DbEventsPage {
  std::vector<changes::DbEvent> rows;
  uint64_t last_seq = 0;
  uint64_t pending = 0;  // never reported
};

// What a feed reads: changes of one database (changes::Page), or the node's database events
// (DbEventsPage). Rows are rendered by append_row_json (changes_json.h) and carry their `seq`.
template <typename Page>
struct FeedSource {
  // Fills `page` with the rows after `since`; false when the source is gone.
  std::function<bool(uint64_t since, uint64_t sent, Page& page)> next_page;
  std::function<std::shared_ptr<changes::Notifier::Subscription>(std::function<void()>)> subscribe;
  uint64_t since = 0;
  std::optional<uint64_t> limit;
  bool descending = false;
  bool report_pending = true;
};

// How each feed type frames its rows (http-api.md §13.3).
struct Framing {
  enum class Rows { kEnvelope, kLines, kEvents } rows;
  std::string_view content_type;
  std::string_view begin;
  std::string_view heartbeat;
  std::string (*end)(uint64_t last_seq, std::optional<uint64_t> pending);
};

const Framing kEnvelope{
    Framing::Rows::kEnvelope, "application/json", "{\"results\":[\n", "\n",
    [](uint64_t last_seq, std::optional<uint64_t> pending) {
      return "\n],\n\"last_seq\":" + changes::seq_json(last_seq) + pending_field(pending) + "}\n";
    }};
const Framing kLines{
    Framing::Rows::kLines, "application/json", "", "\n",
    [](uint64_t last_seq, std::optional<uint64_t> pending) {
      return "{\"last_seq\":" + changes::seq_json(last_seq) + pending_field(pending) + "}\n";
    }};
const Framing kEventSource{
    Framing::Rows::kEvents, "text/event-stream", "", "event: heartbeat\ndata: \n\n",
    [](uint64_t, std::optional<uint64_t>) { return std::string(); }};

const Framing& framing_of(FeedType feed) {
  switch (feed) {
    case FeedType::kContinuous: return kLines;
    case FeedType::kEventSource: return kEventSource;
    default: return kEnvelope;
  }
}

// Appends one row as `framing` frames it. Eventsource's `id:` is the row's seq as JSON, as
// CouchDB's (a client sends it back as Last-Event-ID).
template <typename Row>
void append_framed(std::string& out, const Framing& framing, const Row& row, bool first) {
  switch (framing.rows) {
    case Framing::Rows::kLines:
      append_row_json(out, row);
      out.push_back('\n');
      break;
    case Framing::Rows::kEvents:
      out += "data: ";
      append_row_json(out, row);
      out += "\nid: ";
      changes::append_seq(out, row.seq);
      out += "\n\n";
      break;
    case Framing::Rows::kEnvelope:
      if (!first) out += ",\r\n";
      append_row_json(out, row);
      break;
  }
}

// Every feed type: send what is there, then (live feeds) wait for commits, heartbeats or the
// timeout. normal ends after the first scan, longpoll after the first rows, continuous and
// eventsource at the limit or after `timeout` without a change (never, with heartbeats).
template <typename Page>
Task<Response> run_feed(Request& req, const FeedSource<Page>& source, const FeedParams& params) {
  const Framing& framing = framing_of(params.feed);
  FeedSink sink(req, framing.content_type);
  ResponseStream* stream = sink.stream();
  const bool live = params.feed != FeedType::kNormal && stream && !source.descending;
  // Subscribe before the first read, so a commit between that read and the wait is not missed.
  auto subscription = live ? source.subscribe(stream->waker()) : nullptr;
  if (!co_await sink.begin()) co_return co_await sink.end(req);
  co_await sink.emit(std::string(framing.begin));

  uint64_t since = source.since, sent = 0, pending = 0;
  const auto timeout = milliseconds(params.timeout_ms);
  auto deadline = Clock::now() + timeout;
  auto next_heartbeat = Clock::now() + milliseconds(params.heartbeat_ms.value_or(0));
  Page page;  // reused while pages follow one another at once, emptied before a wait
  for (;;) {
    if (!source.next_page(since, sent, page)) break;  // the database was deleted: end cleanly
    // One chunk per page, not per row: a 100k-row feed is then ~50 socket writes.
    std::string chunk;
    for (const auto& row : page.rows) append_framed(chunk, framing, row, sent++ == 0);
    if (!co_await sink.emit(std::move(chunk))) co_return co_await sink.end(req);
    since = page.last_seq;
    pending = page.pending;
    if ((source.limit && sent >= *source.limit) || source.descending) break;
    if (page.rows.size() == kPageRows) continue;  // more to read right away
    if (!live || (params.feed == FeedType::kLongpoll && sent > 0)) break;
    if (!page.rows.empty()) deadline = Clock::now() + timeout;  // timeout counts idle time
    page = Page{};  // an idle feed holds no rows

    auto result = co_await stream->wait(params.heartbeat_ms ? next_heartbeat : deadline);
    if (result == ResponseStream::WaitResult::kClientGone) co_return co_await sink.end(req);
    if (result == ResponseStream::WaitResult::kDeadline) {
      if (!params.heartbeat_ms) break;  // idle for `timeout`: end normally
      co_await sink.emit(std::string(framing.heartbeat));
      next_heartbeat = Clock::now() + milliseconds(*params.heartbeat_ms);
    }
  }
  co_await sink.emit(framing.end(since, source.report_pending ? std::optional(pending) : std::nullopt));
  co_return co_await sink.end(req);
}

}  // namespace

Task<Response> handle_changes(Request& req, ServerContext& ctx) {
  auto db = open_database(req, ctx);
  if (!db) co_return error_response(db.error());
  auto params = parse_feed_params(req);
  if (!params) co_return error_response(params.error());
  auto options = parse_feed_options(req, *params, (*db)->update_seq());
  if (!options) co_return error_response(options.error());
  FeedSource<changes::Page> source;
  source.since = options->since;
  source.limit = options->limit;
  source.descending = options->descending;
  source.next_page = [db = *db, options = std::move(*options)](uint64_t since, uint64_t sent,
                                                                changes::Page& page) {
    return next_page(*db, options, since, sent, page);
  };
  source.subscribe = [db = *db, &notifier = ctx.notifier](std::function<void()> wake) {
    return notifier.subscribe(db, std::move(wake));
  };
  co_return co_await run_feed(req, source, *params);
}

namespace {

// One page of node-wide database events as _db_updates rows.
DbEventsPage db_events_page(const changes::Notifier& notifier, uint64_t since,
                            std::optional<uint64_t> limit) {
  DbEventsPage page;
  page.last_seq = since;
  page.rows = notifier.db_events_since(since, std::min(kPageRows, limit.value_or(kPageRows)));
  if (!page.rows.empty()) page.last_seq = page.rows.back().seq;
  return page;
}

}  // namespace

// GET /_db_updates: created/updated/deleted events of this node's databases since it started.
Task<Response> handle_db_updates(Request& req, ServerContext& ctx) {
  auto params = parse_feed_params(req);
  if (!params) co_return error_response(params.error());
  FeedSource<DbEventsPage> source;
  source.limit = params->limit;
  source.report_pending = false;
  if (auto since = req.param("since")) {
    auto seq = parse_since(*since, ctx.notifier.last_db_event_seq());
    if (!seq) co_return error_response(seq.error());
    source.since = *seq;
  }
  source.next_page = [&notifier = ctx.notifier, limit = params->limit](uint64_t since, uint64_t sent,
                                                                      DbEventsPage& page) {
    std::optional<uint64_t> left;
    if (limit) left = *limit - std::min(*limit, sent);
    page = db_events_page(notifier, since, left);
    return true;
  };
  source.subscribe = [&notifier = ctx.notifier](std::function<void()> wake) {
    return notifier.subscribe_db_events(std::move(wake));
  };
  co_return co_await run_feed(req, source, *params);
}

}  // namespace divan::http::server
