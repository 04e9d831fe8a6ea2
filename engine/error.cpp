#include "engine/error.h"

namespace divan {

namespace {

constexpr Code kAllCodes[] = {
    Code::kBadRequest,     Code::kQueryParseError,    Code::kIllegalDatabaseName,
    Code::kIllegalDocId,   Code::kDocValidation,      Code::kUnauthorized,
    Code::kForbidden,      Code::kNotFound,           Code::kMethodNotAllowed,
    Code::kNotAcceptable,  Code::kConflict,           Code::kFileExists,
    Code::kPreconditionFailed, Code::kMissingStub,    Code::kTooLarge,
    Code::kDocumentTooLarge,   Code::kBadContentType, Code::kRangeNotSatisfiable,
    Code::kContentMd5Mismatch, Code::kInternal,  // before kDbNotFound: the general 500
    Code::kDbNotFound,
};

}  // namespace

// spec: http-api.md §1.3.
CodeInfo code_info(Code code) {
  switch (code) {
    case Code::kBadRequest:          return {400, "bad_request"};
    case Code::kQueryParseError:     return {400, "query_parse_error"};
    case Code::kIllegalDatabaseName: return {400, "illegal_database_name"};
    case Code::kIllegalDocId:        return {400, "illegal_docid"};
    case Code::kDocValidation:       return {400, "doc_validation"};
    case Code::kUnauthorized:        return {401, "unauthorized"};
    case Code::kForbidden:           return {403, "forbidden"};
    case Code::kNotFound:            return {404, "not_found"};
    case Code::kMethodNotAllowed:    return {405, "method_not_allowed"};
    case Code::kNotAcceptable:       return {406, "not_acceptable"};
    case Code::kConflict:            return {409, "conflict"};
    case Code::kFileExists:          return {412, "file_exists"};
    case Code::kPreconditionFailed:  return {412, "precondition_failed"};
    case Code::kMissingStub:         return {412, "missing_stub"};
    case Code::kTooLarge:            return {413, "too_large"};
    case Code::kDocumentTooLarge:    return {413, "document_too_large"};
    case Code::kBadContentType:      return {415, "bad_content_type"};
    case Code::kRangeNotSatisfiable: return {416, "requested_range_not_satisfiable"};
    case Code::kContentMd5Mismatch:  return {400, "content_md5_mismatch"};
    // spec: replication-protocol.md §8: POST /_replicate whose endpoint cannot be opened.
    case Code::kDbNotFound:          return {500, "db_not_found"};
    case Code::kInternal:            return {500, "unknown_error"};
  }
  return {500, "unknown_error"};
}

Code code_from_http(unsigned status, std::string_view error) {
  for (Code code : kAllCodes) {
    CodeInfo info = code_info(code);
    if (info.status == status && info.error == error) return code;
  }
  for (Code code : kAllCodes) {  // the first code of that status: the general one
    if (code_info(code).status == status) return code;
  }
  return status >= 500 ? Code::kInternal : Code::kBadRequest;
}

}  // namespace divan
