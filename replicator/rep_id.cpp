// Replication ids. spec: replication-protocol.md §3.3 "Ours". FROZEN: see rep_id.h.
#include "replicator/rep_id.h"

#include "revtree/rev_hash.h"

namespace divan::replicator {
namespace {

// CouchDB trims the fetched function text, so re-indenting the design doc keeps the id.
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

Json filter_part(const Filter& f, std::string_view filter_source) {
  switch (f.kind) {
    case Filter::Kind::kNone:
      return nullptr;
    case Filter::Kind::kDocIds:
      return Json{{"doc_ids", f.doc_ids}};  // already sorted and unique (spec.cpp)
    case Filter::Kind::kSelector:
      return Json{{"selector", f.selector}};
    case Filter::Kind::kBuiltin:
      return Json{{"filter", f.name}, {"query_params", f.query_params}};
    case Filter::Kind::kDesignDoc:
      return Json{{"filter", f.name},
                  {"source", std::string(trim(filter_source))},
                  {"query_params", f.query_params}};
  }
  return nullptr;
}

}  // namespace

Json replication_id_input(std::string_view server_uuid, const ReplicationSpec& spec,
                          std::string_view filter_source) {
  return Json::array({std::string(server_uuid), spec.source.id_key(), spec.target.id_key(),
                      filter_part(spec.filter, filter_source), spec.winning_revs_only,
                      spec.since_seq ? *spec.since_seq : Json(nullptr)});
}

ReplicationId replication_id(std::string_view server_uuid, const ReplicationSpec& spec,
                             std::string_view filter_source) {
  ReplicationId id;
  id.base = revtree::md5_hex(
      revtree::canonical_json(replication_id_input(server_uuid, spec, filter_source)));
  if (spec.continuous) id.extension += "+continuous";
  if (spec.create_target) id.extension += "+create_target";
  return id;
}

}  // namespace divan::replicator
