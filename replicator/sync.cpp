#include "replicator/sync.h"

#include <string>
#include <tuple>

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace divan::replicator {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using ReplicateAnswer = Scheduler::ReplicateAnswer;

std::pair<ReplicationSpec, ReplicationSpec> split_bidirectional(const ReplicationSpec& spec) {
  ReplicationSpec forward = spec;
  forward.bidirectional = false;
  ReplicationSpec reverse = forward;
  std::swap(reverse.source, reverse.target);
  std::swap(reverse.source_proxy, reverse.target_proxy);
  reverse.create_target = false;  // its target is our source: it must exist already
  reverse.create_target_params = Json::object();
  reverse.since_seq.reset();  // a seq of the source, meaningless on the target
  return {std::move(forward), std::move(reverse)};
}

namespace {

// One direction's answer, its errors prefixed with which direction it was.
Result<ReplicateAnswer> named(Result<ReplicateAnswer> answer, const char* direction) {
  if (answer) return answer;
  Error e = answer.error();
  e.reason = std::string(direction) + ": " + e.reason;
  return tl::unexpected(std::move(e));
}

// Both one-shot answers as one: the first error, else both summaries.
Result<ReplicateAnswer> merge_one_shot(Result<ReplicateAnswer> forward,
                                       Result<ReplicateAnswer> reverse) {
  forward = named(std::move(forward), "source to target");
  if (!forward) return forward;
  reverse = named(std::move(reverse), "target to source");
  if (!reverse) return reverse;
  Json body = Json::object();
  body["ok"] = true;
  body["source_to_target"] = std::move(forward->body);
  body["target_to_source"] = std::move(reverse->body);
  return ReplicateAnswer{std::move(body), false};
}

// Both continuous (or cancel) answers as one. A start needs both directions; a cancel is ok when
// either direction was running.
Result<ReplicateAnswer> merge_ids(Result<ReplicateAnswer> forward, Result<ReplicateAnswer> reverse,
                                  bool cancel) {
  if (!forward && (!cancel || !reverse)) return named(std::move(forward), "source to target");
  if (!reverse && !cancel) return named(std::move(reverse), "target to source");
  Json ids = Json::array();
  bool accepted = false;
  for (auto* answer : {&forward, &reverse}) {
    if (!*answer) continue;
    ids.push_back((*answer)->body.value("_local_id", ""));
    accepted = accepted || (*answer)->accepted;
  }
  Json body = Json::object();
  body["ok"] = true;
  body["_local_id"] = ids.front();
  body["_local_ids"] = std::move(ids);
  return ReplicateAnswer{std::move(body), accepted};
}

}  // namespace

asio::awaitable<Result<ReplicateAnswer>> replicate_both(Scheduler& scheduler, ReplicationSpec spec,
                                                        engine::Writer writer) {
  if (spec.cancel && spec.replication_id) {  // names one job: that one
    spec.bidirectional = false;
    co_return co_await scheduler.replicate(std::move(spec), std::move(writer));
  }
  auto [forward, reverse] = split_bidirectional(spec);
  if (spec.cancel) {
    auto f = co_await scheduler.replicate(std::move(forward), writer);
    auto r = co_await scheduler.replicate(std::move(reverse), writer);
    co_return merge_ids(std::move(f), std::move(r), /*cancel=*/true);
  }
  if (spec.create_target) {
    auto created = co_await scheduler.create_database(spec.target, spec, writer);
    if (!created) co_return tl::unexpected(created.error());
  }
  const bool continuous = spec.continuous;
  auto [f, r] = co_await (scheduler.replicate(std::move(forward), writer) &&
                          scheduler.replicate(std::move(reverse), writer));
  if (continuous) co_return merge_ids(std::move(f), std::move(r), /*cancel=*/false);
  co_return merge_one_shot(std::move(f), std::move(r));
}

}  // namespace divan::replicator
