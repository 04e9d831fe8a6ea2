// `divan replicate SOURCE TARGET`: one replication from the command line, between any
// CouchDB-compatible endpoints (URLs) or databases of a local data directory, with a progress bar
// on a terminal (plain progress lines otherwise), a summary at the end, and a one-line reason and
// a non-zero exit on failure. Ctrl-C stops it gracefully: batches in flight finish and the
// checkpoint is written, so the next run resumes there; a second Ctrl-C stops at once.
//
// Exit codes: 0 done; 1 the replication failed; 2 bad arguments; 130 stopped by Ctrl-C/SIGTERM.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace divan::tools {

struct ReplicateFlags {
  std::string source;
  std::string target;
  bool continuous = false;
  bool bidirectional = false;
  bool create_target = false;
  std::vector<std::string> doc_ids;
  std::string selector;  // JSON
  std::string data_dir;  // for local database names; empty: "data" if one is named
  std::string ca_file;
  std::string log_level = "error";
};

void add_replicate_flags(CLI::App& cmd, ReplicateFlags& flags);
int run_replicate(const ReplicateFlags& flags);

}  // namespace divan::tools
