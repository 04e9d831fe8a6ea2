// What to replicate: a ReplicationSpec, parsed from a `POST /_replicate` body or a `_replicator`
// document, with CouchDB's validation and CouchDB's error texts.
//
// spec: replication-protocol.md §4 (options, filters, mutual exclusion, type errors), §8 (the
// `_replicate` body, cancel), §9.1 (`_replicator` docs: same fields, no `cancel`, invalid → 403).
// CouchDB reference: couch_replicator_parse (convert_options, check_options, parse_rep_db),
// couch_replicator_filters:parse/view_type, couch_replicator_httpd_util:validate_rep_props,
// couch_replicator_docs:before_doc_update.
//
// The two parsers differ only in how they answer a bad value: `_replicate` with 400 bad_request,
// a `_replicator` doc write with 403 forbidden; the reason text is the same. (CouchDB 3.5 wraps most
// doc reasons in Erlang term syntax, e.g. `{throw,{bad_request,<<"parameter `continuous` must be a
// boolean">>}}`; we answer the plain text, as spec §9.1 shows it.) Checks run in CouchDB's order, so
// a body with several faults gets CouchDB's first reason: query_params values, proxies, each option
// in the order the body lists them, mutual exclusion, source, target, filter.
//
// Design-document filters (`"filter": "ddoc/name"`) and `_view` need a JavaScript engine / views,
// which Divan does not have: they parse (so their errors match CouchDB's) and the caller refuses
// them with check_filter_supported().
//
// Immutable values; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "replicator/endpoint.h"
#include "replicator/tuning.h"

namespace divan::replicator {

// Which changes are replicated (spec §4; mutually exclusive in the input).
struct Filter {
  enum class Kind {
    kNone,
    kDocIds,     // `doc_ids`: only these documents
    kSelector,   // `selector`: a Mango selector evaluated by the source
    kBuiltin,    // `filter: "_…"`, a filter of the source server itself (`_design`, `_view`, …)
    kDesignDoc,  // `filter: "ddoc/name"`: a JavaScript function in the source's _design/ddoc
  };
  Kind kind = Kind::kNone;
  // kDocIds: each id percent-decoded (CouchDB accepts percent-encoded ids), sorted, unique.
  std::vector<std::string> doc_ids;
  // kSelector: the object as given (validated by changes::Selector).
  Json selector;
  // kBuiltin / kDesignDoc: the filter as given; for kDesignDoc split at its first '/'.
  std::string name;
  std::string ddoc;
  std::string function;
  // kBuiltin / kDesignDoc: extra query arguments of the changes request; values are strings.
  Json query_params = Json::object();
};

// The identity local writes are made as (spec §9.1: meaningful for local endpoints only).
struct UserCtx {
  std::optional<std::string> name;  // null / absent → nullopt
  std::vector<std::string> roles;
};

struct ReplicationSpec {
  // Unset (default-constructed) only for a cancel by replication id (`cancel` + `replication_id`).
  Endpoint source;
  Endpoint target;

  bool continuous = false;
  bool create_target = false;
  Json create_target_params = Json::object();  // query args of the PUT that creates the target
  Filter filter;
  std::optional<Json> since_seq;  // opaque, verbatim; used only when no checkpoint matches (§3.5)
  bool winning_revs_only = false;

  // Tuning, defaults from tuning.h (spec §4 table).
  bool use_checkpoints = tuning::kUseCheckpoints;
  std::chrono::milliseconds checkpoint_interval = tuning::kCheckpointInterval;
  unsigned worker_batch_size = tuning::kWorkerBatchSize;  // `batch_size` (PouchDB's name) too
  unsigned worker_processes = tuning::kWorkerProcesses;
  unsigned http_connections = tuning::kHttpConnections;
  std::chrono::milliseconds connection_timeout = tuning::kConnectionTimeout;
  unsigned retries_per_request = tuning::kRetriesPerRequest;
  bool use_bulk_get = tuning::kUseBulkGet;

  // Proxy URLs (`proxy` sets both). Parsed and checked for CouchDB's mutual exclusion only: using
  // them is up to the HTTP client.
  std::string source_proxy;
  std::string target_proxy;

  std::optional<UserCtx> user_ctx;
  std::optional<std::string> owner;  // `owner`: the user who wrote the _replicator doc

  // `_replicate` only: cancel the replication this body describes, or the one named by
  // `replication_id` (also spelt `_local_id` or `id`; "base+ext" as _scheduler/jobs shows it).
  bool cancel = false;

  // Ours (sync.h): both directions, source→target and target→source: two jobs, for `_replicate`
  // and for a `_replicator` document (shown as one document with both in _scheduler/docs).
  bool bidirectional = false;
  std::optional<std::string> replication_id;

  // `_replicator` only: the document's `_id`.
  std::string doc_id;
};

// A `POST /_replicate` body. 400 bad_request with CouchDB's reason for a bad option or endpoint
// (illegal_database_name for a bad local name). `source`/`target` may be absent only for a cancel
// by id.
[[nodiscard]] Result<ReplicationSpec> parse_replicate_body(const Json& body);

// A `_replicator` document being written interactively. 403 forbidden with the reason for
// anything parse_replicate_body would refuse, and for `cancel: true`. The `_replication_*` state
// fields (written by the replicator itself), `_rev` and other `_` fields are ignored. The caller
// skips validation for deletions, design docs and `_local` docs, and for docs written with
// new_edits=false (spec §9.1).
[[nodiscard]] Result<ReplicationSpec> parse_replicator_doc(const Json& doc);

// True for filters only a JavaScript engine (design-doc functions) or map/reduce views (`_view`)
// can run; Divan has neither.
bool needs_javascript(const Filter& filter);

// OK when the source can run the spec's filter for us; otherwise bad_request saying which filter
// and why, for `_replicate` (400) or to fail a `_replicator` doc with. Supported: no filter,
// doc_ids, selector, and the built-in `_design`, `_doc_ids`, `_selector`.
[[nodiscard]] Result<void> check_filter_supported(const ReplicationSpec& spec);

}  // namespace divan::replicator
