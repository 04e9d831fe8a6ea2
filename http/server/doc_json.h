// The engine's document vocabulary as the handlers use it: the rules for incoming documents
// (engine/doc_json.h: ids, `_` members, attachments, the writes they become) and the rendering of
// stored revisions (engine/doc_render.h), named in the server's namespace. Both live in the engine
// because the replicator applies the very same rules to documents it reads from a peer.
#pragma once

#include "engine/doc_json.h"
#include "engine/doc_render.h"

namespace divan::http::server {

using engine::Json;

using engine::kDesignPrefix;
using engine::kLocalPrefix;
using engine::kMaxDocumentSize;

using engine::attachment_content_type;
using engine::follows_entries;
using engine::IncomingDoc;
using engine::parse_atts_since;
using engine::parse_incoming_doc;
using engine::ReceivedAttachment;
using engine::to_doc_update;
using engine::to_local_update;
using engine::validate_attachment_name;
using engine::validate_doc_id;
using engine::validate_json_doc_id;

using engine::append_json_string;
using engine::json_string;
using engine::read_revision;
using engine::ReadOptions;
using engine::render_doc;
using engine::render_extras;

}  // namespace divan::http::server
