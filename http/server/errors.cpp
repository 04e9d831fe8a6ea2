#include "http/server/errors.h"

namespace divan::http::server {

using boost::beast::http::status;

// spec: http-api.md §1.3.
ErrorInfo error_info(Code code) {
  switch (code) {
    case Code::kBadRequest:          return {status::bad_request, "bad_request"};
    case Code::kQueryParseError:     return {status::bad_request, "query_parse_error"};
    case Code::kIllegalDatabaseName: return {status::bad_request, "illegal_database_name"};
    case Code::kIllegalDocId:        return {status::bad_request, "illegal_docid"};
    case Code::kDocValidation:       return {status::bad_request, "doc_validation"};
    case Code::kUnauthorized:        return {status::unauthorized, "unauthorized"};
    case Code::kForbidden:           return {status::forbidden, "forbidden"};
    case Code::kNotFound:            return {status::not_found, "not_found"};
    case Code::kMethodNotAllowed:    return {status::method_not_allowed, "method_not_allowed"};
    case Code::kNotAcceptable:       return {status::not_acceptable, "not_acceptable"};
    case Code::kConflict:            return {status::conflict, "conflict"};
    case Code::kFileExists:          return {status::precondition_failed, "file_exists"};
    case Code::kPreconditionFailed:  return {status::precondition_failed, "precondition_failed"};
    case Code::kMissingStub:         return {status::precondition_failed, "missing_stub"};
    case Code::kTooLarge:            return {status::payload_too_large, "too_large"};
    case Code::kDocumentTooLarge:    return {status::payload_too_large, "document_too_large"};
    case Code::kBadContentType:      return {status::unsupported_media_type, "bad_content_type"};
    case Code::kRangeNotSatisfiable:
      return {status::range_not_satisfiable, "requested_range_not_satisfiable"};
    case Code::kContentMd5Mismatch:  return {status::bad_request, "content_md5_mismatch"};
    case Code::kInternal:            return {status::internal_server_error, "unknown_error"};
  }
  return {status::internal_server_error, "unknown_error"};
}

}  // namespace divan::http::server
