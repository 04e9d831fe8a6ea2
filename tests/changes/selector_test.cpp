// changes::Selector: the Mango operator table, nested and dotted fields, missing fields, negation
// and CouchDB's collation between JSON types.
#include <doctest/doctest.h>

#include "changes/selector.h"

namespace divan::changes::test {
namespace {

using Json = nlohmann::ordered_json;

bool matches(const char* selector, const char* doc) {
  auto s = Selector::parse(Json::parse(selector));
  REQUIRE_MESSAGE(s.has_value(), selector);
  return s->matches(Json::parse(doc));
}

struct Case {
  const char* selector;
  const char* doc;
  bool expected;
};

void check_table(std::initializer_list<Case> cases) {
  for (const auto& c : cases) {
    CAPTURE(c.selector);
    CAPTURE(c.doc);
    CHECK(matches(c.selector, c.doc) == c.expected);
  }
}

TEST_CASE("selector: equality, implicit $and, empty selector") {
  check_table({
      {R"({})", R"({"a":1})", true},
      {R"({"a":1})", R"({"a":1})", true},
      {R"({"a":1})", R"({"a":1.0})", true},  // numbers compare by value
      {R"({"a":1})", R"({"a":"1"})", false},
      {R"({"a":1})", R"({"b":1})", false},
      {R"({"a":null})", R"({"a":null})", true},
      {R"({"a":null})", R"({})", false},  // missing is not null
      {R"({"a":[1,2]})", R"({"a":[1,2]})", true},
      {R"({"a":[1,2]})", R"({"a":[2,1]})", false},
      {R"({"a":[1,2]})", R"({"a":1})", false},
      {R"({"a":1,"b":"x"})", R"({"a":1,"b":"x"})", true},
      {R"({"a":1,"b":"x"})", R"({"a":1,"b":"y"})", false},
      {R"({"a":{"$eq":{"x":1}}})", R"({"a":{"x":1}})", true},
      {R"({"a":{"$eq":{"x":1}}})", R"({"a":{"x":1,"y":2}})", false},
  });
}

TEST_CASE("selector: comparison operators and collation across types") {
  check_table({
      {R"({"n":{"$gt":5}})", R"({"n":6})", true},
      {R"({"n":{"$gt":5}})", R"({"n":5})", false},
      {R"({"n":{"$gte":5}})", R"({"n":5})", true},
      {R"({"n":{"$lt":5}})", R"({"n":4.5})", true},
      {R"({"n":{"$lte":5}})", R"({"n":5.0})", true},
      {R"({"n":{"$lte":5}})", R"({"n":6})", false},
      {R"({"n":{"$gt":-1}})", R"({"n":0})", true},
      {R"({"n":{"$lt":-1}})", R"({"n":-2})", true},
      {R"({"n":{"$gt":18446744073709551615}})", R"({"n":-1})", false},
      {R"({"n":{"$ne":5}})", R"({"n":6})", true},
      {R"({"n":{"$ne":5}})", R"({"n":5})", false},
      {R"({"n":{"$gt":2,"$lt":4}})", R"({"n":3})", true},
      {R"({"n":{"$gt":2,"$lt":4}})", R"({"n":4})", false},
      // null < false < true < numbers < strings < arrays < objects
      {R"({"v":{"$lt":false}})", R"({"v":null})", true},
      {R"({"v":{"$lt":true}})", R"({"v":false})", true},
      {R"({"v":{"$lt":0}})", R"({"v":true})", true},
      {R"({"v":{"$lt":""}})", R"({"v":1e300})", true},
      {R"({"v":{"$lt":[]}})", R"({"v":"zzz"})", true},
      {R"({"v":{"$lt":{}}})", R"({"v":[9,9]})", true},
      {R"({"v":{"$gt":{}}})", R"({"v":{"a":1}})", true},
      {R"({"v":{"$gt":"abc"}})", R"({"v":"abd"})", true},
      {R"({"v":{"$gt":"abc"}})", R"({"v":"ab"})", false},
      {R"({"v":{"$gt":[1,2]}})", R"({"v":[1,2,0]})", true},
      {R"({"v":{"$gt":[1,2]}})", R"({"v":[1,1,9]})", false},
      {R"({"v":{"$gte":null}})", R"({"v":{}})", true},
      // Documented difference from CouchDB (ICU collation): strings compare by code point.
      {R"({"v":{"$lt":"a"}})", R"({"v":"B"})", true},
  });
}

TEST_CASE("selector: $in, $nin, $exists, $type, $size, $mod, $all, $elemMatch, $allMatch") {
  check_table({
      {R"({"t":{"$in":["a","b"]}})", R"({"t":"b"})", true},
      {R"({"t":{"$in":["a","b"]}})", R"({"t":"c"})", false},
      {R"({"t":{"$in":["a","b"]}})", R"({"t":["x","a"]})", true},  // any element
      {R"({"t":{"$in":[]}})", R"({"t":"a"})", false},
      {R"({"t":{"$in":[1]}})", R"({"t":1.0})", true},
      {R"({"t":{"$nin":["a","b"]}})", R"({"t":"c"})", true},
      {R"({"t":{"$nin":["a","b"]}})", R"({"t":"a"})", false},
      {R"({"t":{"$nin":["a","b"]}})", R"({"t":["c","b"]})", false},
      {R"({"t":{"$nin":["a"]}})", R"({})", false},  // the field must exist
      {R"({"t":{"$exists":true}})", R"({"t":null})", true},
      {R"({"t":{"$exists":true}})", R"({})", false},
      {R"({"t":{"$exists":false}})", R"({})", true},
      {R"({"t":{"$exists":false}})", R"({"t":0})", false},
      {R"({"t":{"$type":"string"}})", R"({"t":"x"})", true},
      {R"({"t":{"$type":"number"}})", R"({"t":1.5})", true},
      {R"({"t":{"$type":"boolean"}})", R"({"t":false})", true},
      {R"({"t":{"$type":"null"}})", R"({"t":null})", true},
      {R"({"t":{"$type":"array"}})", R"({"t":{}})", false},
      {R"({"t":{"$size":2}})", R"({"t":[1,[2]]})", true},
      {R"({"t":{"$size":2}})", R"({"t":"ab"})", false},
      {R"({"t":{"$mod":[3,1]}})", R"({"t":7})", true},
      {R"({"t":{"$mod":[3,1]}})", R"({"t":-7})", false},  // rem takes the dividend's sign
      {R"({"t":{"$mod":[3,-1]}})", R"({"t":-7})", true},
      {R"({"t":{"$mod":[3,1]}})", R"({"t":7.0})", false},
      {R"({"t":{"$all":["a","b"]}})", R"({"t":["b","c","a"]})", true},
      {R"({"t":{"$all":["a","b"]}})", R"({"t":["b","c"]})", false},
      {R"({"t":{"$all":[["a","b"]]}})", R"({"t":["a","b"]})", true},
      {R"({"t":{"$elemMatch":{"$gte":80,"$lt":85}}})", R"({"t":[70,82]})", true},
      {R"({"t":{"$elemMatch":{"$gte":80,"$lt":85}}})", R"({"t":[70,90]})", false},
      {R"({"t":{"$elemMatch":{"name":"x"}}})", R"({"t":[{"name":"y"},{"name":"x"}]})", true},
      {R"({"t":{"$allMatch":{"$gt":0}}})", R"({"t":[1,2]})", true},
      {R"({"t":{"$allMatch":{"$gt":0}}})", R"({"t":[1,0]})", false},
      {R"({"t":{"$allMatch":{"$gt":0}}})", R"({"t":[]})", false},
  });
}

TEST_CASE("selector: nested objects, dotted paths, escaped dots, array indexes") {
  check_table({
      {R"({"a":{"b":1}})", R"({"a":{"b":1}})", true},
      {R"({"a":{"b":1}})", R"({"a":{"b":2}})", false},
      {R"({"a.b":1})", R"({"a":{"b":1}})", true},
      {R"({"a":{"b":{"c":{"$gt":1}}}})", R"({"a":{"b":{"c":2}}})", true},
      {R"({"a.b.c":{"$gt":1}})", R"({"a":{"b":{"c":0}}})", false},
      {R"({"a":{"$exists":true,"b":1}})", R"({"a":{"b":1}})", true},  // operators and fields mixed
      {R"({"a\\.b":1})", R"({"a.b":1})", true},
      {R"({"a\\.b":1})", R"({"a":{"b":1}})", false},
      {R"({"a.1":"y"})", R"({"a":["x","y"]})", true},
      {R"({"a.1.k":2})", R"({"a":[{"k":1},{"k":2}]})", true},
      {R"({"a":{}})", R"({"a":5})", true},  // an empty sub-selector: the field exists
      {R"({"a":{}})", R"({})", false},
      // A path through a non-object matches nothing, not even $exists:false (mango's bad_path).
      {R"({"a.b":{"$exists":false}})", R"({"a":"str"})", false},
      {R"({"a.b":{"$exists":false}})", R"({"a":{}})", true},
      {R"({"a.5":{"$exists":false}})", R"({"a":[1]})", false},
  });
}

TEST_CASE("selector: $and, $or, $nor, $not and missing fields") {
  check_table({
      {R"({"$and":[{"a":1},{"b":2}]})", R"({"a":1,"b":2})", true},
      {R"({"$and":[{"a":1},{"b":2}]})", R"({"a":1,"b":3})", false},
      {R"({"$or":[{"a":1},{"b":2}]})", R"({"a":0,"b":2})", true},
      {R"({"$or":[{"a":1},{"b":2}]})", R"({"a":0})", false},
      {R"({"$or":[]})", R"({"a":0})", false},
      {R"({"$and":[]})", R"({"a":0})", true},
      {R"({"$nor":[{"a":1},{"b":2}]})", R"({"a":0,"b":0})", true},
      {R"({"$nor":[{"a":1},{"b":2}]})", R"({"a":1,"b":0})", false},
      {R"({"a":{"$not":{"$gt":5}}})", R"({"a":5})", true},
      {R"({"a":{"$not":{"$gt":5}}})", R"({"a":6})", false},
      {R"({"a":{"$or":[{"$lt":0},{"$gt":10}]}})", R"({"a":11})", true},
      {R"({"a":{"$or":[{"$lt":0},{"$gt":10}]}})", R"({"a":5})", false},
      {R"({"$not":{"$and":[{"a":1},{"b":2}]}})", R"({"a":1,"b":3})", true},
      {R"({"$not":{"$or":[{"a":1},{"b":2}]}})", R"({"a":0,"b":0})", true},
      {R"({"$not":{"$not":{"a":1}}})", R"({"a":1})", true},
      {R"({"$not":{"a":{"$type":"string"}}})", R"({"a":1})", true},
      // CouchDB: every condition but $exists:false needs the field, also negated ones
      // ($not pushes down to $ne). $ne on a missing field does not match.
      {R"({"a":{"$ne":1}})", R"({})", false},
      {R"({"$not":{"a":1}})", R"({})", false},
      {R"({"$nor":[{"a":1}]})", R"({})", false},
      {R"({"$not":{"a":{"$type":"string"}}})", R"({})", false},
      {R"({"$not":{"a":{"$exists":true}}})", R"({})", true},
      {R"({"a":{"$not":{"$exists":false}}})", R"({"a":1})", true},
  });
}

TEST_CASE("selector: malformed selectors are 400 bad_request") {
  for (const char* bad : {
           R"([])",
           R"("x")",
           R"({"a":{"$in":1}})",
           R"({"a":{"$nin":{}}})",
           R"({"a":{"$exists":"yes"}})",
           R"({"a":{"$size":-1}})",
           R"({"a":{"$mod":[0,1]}})",
           R"({"a":{"$mod":[2]}})",
           R"({"a":{"$type":1}})",
           R"({"a":{"$elemMatch":1}})",
           R"({"$and":{"a":1}})",
           R"({"$or":[1]})",
           R"({"$not":[]})",
           R"({"a":{"$bogus":1}})",
           R"({"a":{"$regex":"^x"}})",
           R"({"$gt":1})",  // no field name
       }) {
    CAPTURE(bad);
    auto s = Selector::parse(Json::parse(bad));
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().code == Code::kBadRequest);
  }
  CHECK(Selector::parse(Json::parse(R"({"a":{"$bogus":1}})")).error().reason ==
        "Invalid operator: $bogus");
  CHECK(Selector::parse(Json::parse(R"({"a":{"$in":1}})")).error().reason ==
        "Bad argument for operator $in: 1");
}

}  // namespace
}  // namespace divan::changes::test
