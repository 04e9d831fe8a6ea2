// Server-generated document ids and /_uuids, as CouchDB's default "sequential" algorithm makes them:
// a random 26-hex prefix plus a 6-hex suffix that grows by a random step, so ids created close in
// time sort close together (cheap appends to the id-ordered B-tree) yet stay unguessable.
// Thread-safe.
#pragma once

#include <string>

namespace divan::http::server {

std::string next_uuid();

}  // namespace divan::http::server
