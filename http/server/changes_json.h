// The rows of the _changes and _db_updates feeds as CouchDB's JSON (http-api.md §13.2): the
// structured rows of changes::read_page and the notifier's database events, appended in place, so
// a page of rows becomes one chunk without a string per row.
//
// Pure functions; thread-safe.
#pragma once

#include <string>

#include "changes/feed.h"
#include "changes/notifier.h"

namespace divan::http::server {

// {"seq":"N","id":…,"changes":[{"rev":…},…]} then ,"deleted":true for a deleted winner, then
// ,"doc":… for include_docs, in CouchDB's member order. The seq as changes::append_seq writes it.
void append_row_json(std::string& out, const changes::ChangeRow& row);

// {"seq":"N","db_name":…,"type":"created"|"updated"|"deleted"}
void append_row_json(std::string& out, const changes::DbEvent& event);

}  // namespace divan::http::server
