// errors.cpp: the one table from Code to {status, "error"} (http-api.md §1.3), and the error body.
#include "http/server/errors.h"

#include <algorithm>
#include <iterator>

#include <doctest/doctest.h>

#include "http/server/response.h"
#include "http_test_util.h"

namespace divan::http::server::test {
namespace {

using bhttp::status;

TEST_CASE("§1.3 status codes and canonical errors, every code") {
  struct Row {
    Code code;
    status http_status;
    std::string_view error;
  };
  const Row table[] = {
      {Code::kBadRequest, status::bad_request, "bad_request"},
      {Code::kQueryParseError, status::bad_request, "query_parse_error"},
      {Code::kIllegalDatabaseName, status::bad_request, "illegal_database_name"},
      {Code::kIllegalDocId, status::bad_request, "illegal_docid"},
      {Code::kDocValidation, status::bad_request, "doc_validation"},
      {Code::kUnauthorized, status::unauthorized, "unauthorized"},
      {Code::kForbidden, status::forbidden, "forbidden"},
      {Code::kNotFound, status::not_found, "not_found"},
      {Code::kMethodNotAllowed, status::method_not_allowed, "method_not_allowed"},
      {Code::kNotAcceptable, status::not_acceptable, "not_acceptable"},
      {Code::kConflict, status::conflict, "conflict"},
      {Code::kFileExists, status::precondition_failed, "file_exists"},
      {Code::kPreconditionFailed, status::precondition_failed, "precondition_failed"},
      {Code::kMissingStub, status::precondition_failed, "missing_stub"},
      {Code::kTooLarge, status::payload_too_large, "too_large"},
      {Code::kDocumentTooLarge, status::payload_too_large, "document_too_large"},
      {Code::kBadContentType, status::unsupported_media_type, "bad_content_type"},
      {Code::kRangeNotSatisfiable, status::range_not_satisfiable,
       "requested_range_not_satisfiable"},
      {Code::kContentMd5Mismatch, status::bad_request, "content_md5_mismatch"},
      {Code::kDbNotFound, status::internal_server_error, "db_not_found"},
      {Code::kInternal, status::internal_server_error, "unknown_error"},
  };
  for (const Row& row : table) {
    CAPTURE(row.error);
    ErrorInfo info = error_info(row.code);
    CHECK(info.status == row.http_status);
    CHECK(info.error == row.error);
    // The replicator reads a remote's answer back through the same table.
    CHECK(code_from_http(static_cast<unsigned>(row.http_status), row.error) == row.code);
  }
  // Every code has its row here: a new code cannot slip in without the spec's status.
  for (int c = 0; c <= static_cast<int>(Code::kInternal); ++c) {
    CAPTURE(c);
    CHECK(std::any_of(std::begin(table), std::end(table),
                      [&](const Row& row) { return static_cast<int>(row.code) == c; }));
  }
}

TEST_CASE("§1.2 error body: {\"error\",\"reason\"} only, JSON headers, trailing newline") {
  Response res = error_response({Code::kConflict, "Document update conflict."});
  CHECK(res.result() == status::conflict);
  CHECK(res.body() == "{\"error\":\"conflict\",\"reason\":\"Document update conflict.\"}\n");
  CHECK(res[bhttp::field::content_type] == "application/json");
  CHECK(res[bhttp::field::cache_control] == "must-revalidate");
  // Reasons are escaped like any JSON string.
  Response quoted =
      error_response({Code::kBadRequest, "\"rev\" query parameter is not acceptable"});
  CHECK(
      quoted.body() ==
      "{\"error\":\"bad_request\",\"reason\":\"\\\"rev\\\" query parameter is not acceptable\"}\n");
}

TEST_CASE("405 carries Allow and CouchDB's reason") {
  Response res = method_not_allowed("GET,HEAD,POST");
  CHECK(res.result() == status::method_not_allowed);
  CHECK(res[bhttp::field::allow] == "GET,HEAD,POST");
  CHECK(res.body() ==
        "{\"error\":\"method_not_allowed\",\"reason\":\"Only GET,HEAD,POST allowed\"}\n");
}

TEST_CASE("append_json_string: escapes, control characters, UTF-8 passes through") {
  CHECK(json_string("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json_string("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(json_string(std::string_view("\x01\x1f", 2)) == R"("\u0001\u001f")");
  CHECK(json_string("\xC3\xA9/") == "\"\xC3\xA9/\"");
  CHECK(json_string("") == "\"\"");
}

}  // namespace
}  // namespace divan::http::server::test
