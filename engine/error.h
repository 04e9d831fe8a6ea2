// Expected failures as values: every fallible engine/handler call returns Result<T>.
//
// Codes are named as CouchDB names them; http/server/errors.cpp is the one place that maps a code to
// {status, "error", "reason"}. Exceptions are reserved for what no caller can handle on the spot
// (SQLite I/O errors, corruption, bad_alloc).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace divan {

enum class Code {
  kBadRequest,             // 400 bad_request
  kQueryParseError,        // 400 query_parse_error
  kIllegalDatabaseName,    // 400 illegal_database_name
  kIllegalDocId,           // 400 illegal_docid
  kDocValidation,          // 400 doc_validation
  kUnauthorized,           // 401 unauthorized
  kForbidden,              // 403 forbidden
  kNotFound,               // 404 not_found
  kMethodNotAllowed,       // 405 method_not_allowed
  kNotAcceptable,          // 406 not_acceptable
  kConflict,               // 409 conflict
  kFileExists,             // 412 file_exists
  kPreconditionFailed,     // 412 precondition_failed
  kMissingStub,            // 412 missing_stub
  kTooLarge,               // 413 too_large
  kDocumentTooLarge,       // 413 document_too_large
  kBadContentType,         // 415 bad_content_type
  kRangeNotSatisfiable,    // 416 requested_range_not_satisfiable
  kContentMd5Mismatch,     // 400 content_md5_mismatch (an attachment's bytes and digest differ)
  kDbNotFound,             // 500 db_not_found (a replication endpoint could not be opened)
  kInternal,               // 500 unknown_error
};

struct Error {
  Code code = Code::kInternal;
  std::string reason;
};

// CouchDB's HTTP status and "error" string of a code (http-api.md §1.3; chttpd error_info): the
// one table. http/server answers with it; the replicator reads remote answers back through it.
struct CodeInfo {
  unsigned status;
  std::string_view error;
};
CodeInfo code_info(Code code);
// The code of a remote CouchDB answer: by its "error" string when it is one of ours, else by the
// status (kInternal for an unknown 5xx, kBadRequest for an unknown 4xx).
Code code_from_http(unsigned status, std::string_view error);

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(Code code, std::string reason) {
  return tl::unexpected<Error>(Error{code, std::move(reason)});
}

// CouchDB's most common reasons, spelled once.
namespace reason {
inline constexpr const char* kMissing = "missing";
inline constexpr const char* kDeleted = "deleted";
inline constexpr const char* kNoDatabase = "Database does not exist.";
inline constexpr const char* kConflict = "Document update conflict.";
inline constexpr const char* kBadRev = "Invalid rev format";
}  // namespace reason

}  // namespace divan
