// Mango selectors: parse into a tree with negations pushed down to the fields, then match.
//
// spec: http-api.md §13.1 (filter=_selector). Reference behaviour is CouchDB's mango_selector.erl:
// - A selector is an implicit $and of its members. A member whose value is an object is either an
//   operator object (`{"a": {"$gt": 1}}`) or nested fields (`{"a": {"b": 1}}` = `{"a.b": 1}`);
//   both may mix (`{"a": {"$exists": true, "b": 1}}`). Any other value means `$eq`.
// - Field names split on '.', and "\." is a literal dot.
// - A field condition needs the field to exist: only `$exists: false` matches a missing field.
//   `$not`/`$nor` are pushed down to the fields before matching (De Morgan, `$eq`⇄`$ne`, `$in`⇄`$nin`,
//   `$gt`⇄`$lte`…), as mango normalises them, so `{"$not": {"a": 1}}` does NOT match a doc without
//   `a` (it becomes `{"a": {"$ne": 1}}`), while `{"$not": {"a": {"$exists": true}}}` does.
// - A path through a non-object (or an array index out of range) matches nothing, not even
//   `$exists: false` (mango's bad_path).
// - Comparisons use CouchDB's collation of JSON types: null < false < true < numbers < strings <
//   arrays < objects; 1 == 1.0. Difference from CouchDB: strings compare by code point (UTF-8
//   bytes), not by ICU/UCA collation as mango does for fields other than `_id`, so "B" < "a" here.
#include "changes/selector.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace divan::changes {

namespace {

using Json = nlohmann::ordered_json;

enum class Op {
  kEq, kNe, kGt, kGte, kLt, kLte, kIn, kNin, kExists,  // negatable: each has an opposite
  kType, kSize, kMod, kAll, kElemMatch, kAllMatch,     // negated with a flag
  kAny,  // `{"field": {}}`: the field exists (mango's empty sub-selector)
};

struct OpName {
  std::string_view name;
  Op op;
};
constexpr OpName kOps[] = {
    {"$eq", Op::kEq},       {"$ne", Op::kNe},     {"$gt", Op::kGt},     {"$gte", Op::kGte},
    {"$lt", Op::kLt},       {"$lte", Op::kLte},   {"$in", Op::kIn},     {"$nin", Op::kNin},
    {"$exists", Op::kExists}, {"$type", Op::kType}, {"$size", Op::kSize}, {"$mod", Op::kMod},
    {"$all", Op::kAll},     {"$elemMatch", Op::kElemMatch}, {"$allMatch", Op::kAllMatch},
};

// Known to mango but not implemented here: a clear 400 rather than "Invalid operator".
constexpr std::string_view kUnsupported[] = {"$regex", "$text", "$where", "$geoWithin",
                                             "$geoIntersects", "$near", "$nearSphere", "$keyMapMatch",
                                             "$beginsWith"};

// The opposite of a negatable operator (mango_selector:negate/1).
Op opposite(Op op) {
  switch (op) {
    case Op::kEq: return Op::kNe;
    case Op::kNe: return Op::kEq;
    case Op::kGt: return Op::kLte;
    case Op::kLte: return Op::kGt;
    case Op::kGte: return Op::kLt;
    case Op::kLt: return Op::kGte;
    case Op::kIn: return Op::kNin;
    case Op::kNin: return Op::kIn;
    default: return op;
  }
}

bool negatable(Op op) { return op <= Op::kExists; }

// ---- Collation ------------------------------------------------------------------------------------

int type_rank(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return 0;
    case Json::value_t::boolean: return v.get<bool>() ? 2 : 1;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return 3;
    case Json::value_t::string: return 4;
    case Json::value_t::array: return 5;
    case Json::value_t::object: return 6;
    default: return 7;  // binary/discarded: never produced by the JSON parser
  }
}

template <typename T>
int three_way(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

int compare_numbers(const Json& a, const Json& b) {
  if (a.is_number_float() || b.is_number_float()) {
    return three_way(a.get<double>(), b.get<double>());
  }
  // Both integers: exact, across the signed/unsigned split nlohmann makes (negatives are signed).
  bool a_neg = a.is_number_integer() && !a.is_number_unsigned() && a.get<int64_t>() < 0;
  bool b_neg = b.is_number_integer() && !b.is_number_unsigned() && b.get<int64_t>() < 0;
  if (a_neg != b_neg) return a_neg ? -1 : 1;
  if (a_neg) return three_way(a.get<int64_t>(), b.get<int64_t>());
  return three_way(a.get<uint64_t>(), b.get<uint64_t>());
}

int compare(const Json& a, const Json& b) {
  int ra = type_rank(a), rb = type_rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (a.type()) {
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return compare_numbers(a, b);
    case Json::value_t::string:
      return three_way(a.get_ref<const std::string&>(), b.get_ref<const std::string&>());
    case Json::value_t::array: {
      size_t n = std::min(a.size(), b.size());
      for (size_t i = 0; i < n; ++i) {
        if (int c = compare(a[i], b[i])) return c;
      }
      return three_way(a.size(), b.size());
    }
    case Json::value_t::object: {
      // couch_ejson_compare: member by member in document order (key, then value), then size.
      auto ia = a.items().begin(), ib = b.items().begin();
      for (; ia != a.items().end() && ib != b.items().end(); ++ia, ++ib) {
        if (int c = three_way(ia.key(), ib.key())) return c;
        if (int c = compare(ia.value(), ib.value())) return c;
      }
      return three_way(a.size(), b.size());
    }
    default: return 0;  // null, or booleans of the same rank
  }
}

std::string_view type_name(const Json& v) {
  switch (type_rank(v)) {
    case 0: return "null";
    case 1:
    case 2: return "boolean";
    case 3: return "number";
    case 4: return "string";
    case 5: return "array";
    default: return "object";
  }
}

// ---- Field paths ----------------------------------------------------------------------------------

using Path = std::vector<std::string>;

// "a.b\.c" -> {"a", "b.c"} (mango_util:parse_field).
void append_field(Path& path, std::string_view field) {
  std::string part;
  for (size_t i = 0; i < field.size(); ++i) {
    char c = field[i];
    if (c == '\\' && i + 1 < field.size() && field[i + 1] == '.') {
      part.push_back('.');
      ++i;
    } else if (c == '.') {
      path.push_back(std::move(part));
      part.clear();
    } else {
      part.push_back(c);
    }
  }
  path.push_back(std::move(part));
}

enum class Lookup { kFound, kMissing, kBadPath };

// mango_doc:get_field: objects by key, arrays by decimal index; anything else is a bad path.
Lookup get_field(const Json& root, const Path& path, const Json*& out) {
  const Json* v = &root;
  for (const auto& name : path) {
    if (v->is_object()) {
      auto it = v->find(name);
      if (it == v->end()) return Lookup::kMissing;
      v = &*it;
    } else if (v->is_array()) {
      if (name.empty() || name.size() > 9 ||
          !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return Lookup::kBadPath;
      }
      size_t index = std::stoul(name);
      if (index >= v->size()) return Lookup::kBadPath;
      v = &(*v)[index];
    } else {
      return Lookup::kBadPath;
    }
  }
  out = v;
  return Lookup::kFound;
}

}  // namespace

// ---- The tree ---------------------------------------------------------------------------------------

struct Selector::Node {
  enum class Kind { kAnd, kOr, kField };
  Kind kind = Kind::kAnd;
  std::vector<Node> children;            // kAnd / kOr
  Path path;                             // kField; empty inside $elemMatch: the element itself
  Op op = Op::kEq;
  bool negated = false;                  // kField with an operator that has no opposite
  Json arg;                              // kField operand
  std::shared_ptr<const Node> sub;       // $elemMatch / $allMatch sub-selector
};

namespace {

using Node = Selector::Node;

bool match(const Node& node, const Json& value);

bool contains(const Json& list, const Json& v) {
  return std::any_of(list.begin(), list.end(), [&](const Json& a) { return compare(v, a) == 0; });
}

// An operator applied to a field that exists (mango_selector:match/3 clauses).
bool apply(const Node& n, const Json& v) {
  switch (n.op) {
    case Op::kEq: return compare(v, n.arg) == 0;
    case Op::kNe: return compare(v, n.arg) != 0;
    case Op::kGt: return compare(v, n.arg) > 0;
    case Op::kGte: return compare(v, n.arg) >= 0;
    case Op::kLt: return compare(v, n.arg) < 0;
    case Op::kLte: return compare(v, n.arg) <= 0;
    case Op::kIn:
      // An array field matches when any of its elements is in the list.
      if (v.is_array()) {
        return std::any_of(v.begin(), v.end(), [&](const Json& e) { return contains(n.arg, e); });
      }
      return contains(n.arg, v);
    case Op::kNin:
      if (v.is_array()) {
        return std::none_of(v.begin(), v.end(), [&](const Json& e) { return contains(n.arg, e); });
      }
      return !contains(n.arg, v);
    case Op::kExists: return n.arg.get<bool>();
    case Op::kType: return type_name(v) == n.arg.get_ref<const std::string&>();
    case Op::kSize: return v.is_array() && v.size() == n.arg.get<uint64_t>();
    case Op::kMod: {
      if (!v.is_number_integer()) return false;
      // Erlang `rem`, like C++ %, takes the sign of the dividend.
      int64_t d = n.arg[0].get<int64_t>(), r = n.arg[1].get<int64_t>();
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        uint64_t magnitude = d < 0 ? static_cast<uint64_t>(-(d + 1)) + 1 : static_cast<uint64_t>(d);
        return r >= 0 && v.get<uint64_t>() % magnitude == static_cast<uint64_t>(r);
      }
      if (d == -1) return r == 0;  // INT64_MIN % -1 overflows
      return v.get<int64_t>() % d == r;
    }
    case Op::kAll: {
      if (!v.is_array()) return false;
      bool has_all = std::all_of(n.arg.begin(), n.arg.end(), [&](const Json& a) { return contains(v, a); });
      // mango: `{"$all": [[…]]}` also matches a field equal to that one array.
      bool is_arg = n.arg.size() == 1 && n.arg[0].is_array() && compare(n.arg[0], v) == 0;
      return has_all || is_arg;
    }
    case Op::kElemMatch:
      return v.is_array() &&
             std::any_of(v.begin(), v.end(), [&](const Json& e) { return match(*n.sub, e); });
    case Op::kAllMatch:
      return v.is_array() && !v.empty() &&
             std::all_of(v.begin(), v.end(), [&](const Json& e) { return match(*n.sub, e); });
    case Op::kAny: return true;
  }
  return false;
}

bool match(const Node& node, const Json& value) {
  switch (node.kind) {
    case Node::Kind::kAnd:
      return std::all_of(node.children.begin(), node.children.end(),
                         [&](const Node& c) { return match(c, value); });
    case Node::Kind::kOr:
      return std::any_of(node.children.begin(), node.children.end(),
                         [&](const Node& c) { return match(c, value); });
    case Node::Kind::kField: {
      const Json* field = nullptr;
      switch (get_field(value, node.path, field)) {
        case Lookup::kMissing: return node.op == Op::kExists && !node.arg.get<bool>();
        case Lookup::kBadPath: return false;
        case Lookup::kFound: break;
      }
      bool result = apply(node, *field);
      return node.negated ? !result : result;
    }
  }
  return false;
}

// ---- Parsing ----------------------------------------------------------------------------------------

tl::unexpected<Error> bad_arg(std::string_view op, const Json& arg) {
  return fail(Code::kBadRequest, "Bad argument for operator " + std::string(op) + ": " + arg.dump());
}

class Parser {
 public:
  // `selector` at `path`; `negate`: inside an odd number of $not/$nor.
  // `in_elem`: inside $elemMatch/$allMatch, where an operator may apply to the element itself.
  Result<Node> parse_object(const Json& selector, const Path& path, bool negate, bool in_elem) {
    if (!selector.is_object()) {
      return fail(Code::kBadRequest, "Invalid selector: expected a JSON object, got " + selector.dump());
    }
    // NOT(a AND b) = NOT a OR NOT b.
    Node node;
    node.kind = negate ? Node::Kind::kOr : Node::Kind::kAnd;
    for (const auto& [key, value] : selector.items()) {
      auto child = parse_member(key, value, path, negate, in_elem);
      if (!child) return child;
      node.children.push_back(std::move(*child));
    }
    if (node.children.size() == 1) return std::move(node.children.front());
    return node;
  }

 private:
  Result<Node> parse_list(std::string_view op, const Json& args, const Path& path, bool negate,
                          bool in_elem, Node::Kind kind) {
    if (!args.is_array()) return bad_arg(op, args);
    Node node;
    node.kind = kind;
    for (const auto& arg : args) {
      if (!arg.is_object()) return bad_arg(op, args);
      auto child = parse_object(arg, path, negate, in_elem);
      if (!child) return child;
      node.children.push_back(std::move(*child));
    }
    return node;
  }

  Result<Node> parse_member(const std::string& key, const Json& value, const Path& path,
                            bool negate, bool in_elem) {
    using Kind = Node::Kind;
    if (key == "$and") return parse_list(key, value, path, negate, in_elem, negate ? Kind::kOr : Kind::kAnd);
    if (key == "$or") return parse_list(key, value, path, negate, in_elem, negate ? Kind::kAnd : Kind::kOr);
    // $nor = AND of negations; negated, OR of the originals.
    if (key == "$nor") return parse_list(key, value, path, !negate, in_elem, negate ? Kind::kOr : Kind::kAnd);
    if (key == "$not") {
      if (!value.is_object()) return bad_arg(key, value);
      return parse_object(value, path, !negate, in_elem);
    }
    if (!key.empty() && key.front() == '$') return parse_condition(key, value, path, negate, in_elem);
    Path sub = path;
    append_field(sub, key);
    if (value.is_object()) {
      if (value.empty()) return field(std::move(sub), Op::kAny, Json(), negate);
      return parse_object(value, sub, negate, in_elem);
    }
    return field(std::move(sub), Op::kEq, value, negate);
  }

  Result<Node> parse_condition(const std::string& key, const Json& arg, const Path& path,
                               bool negate, bool in_elem) {
    auto known = std::find_if(std::begin(kOps), std::end(kOps),
                              [&](const OpName& o) { return o.name == key; });
    if (known == std::end(kOps)) {
      bool unsupported = std::find(std::begin(kUnsupported), std::end(kUnsupported), key) !=
                         std::end(kUnsupported);
      return fail(Code::kBadRequest, unsupported ? "Unsupported operator in a changes selector: " + key
                                                 : "Invalid operator: " + key);
    }
    if (path.empty() && !in_elem) {
      return fail(Code::kBadRequest, "One or more conditions is missing a field name.");
    }
    Op op = known->op;
    switch (op) {
      case Op::kIn:
      case Op::kNin:
      case Op::kAll:
        if (!arg.is_array()) return bad_arg(key, arg);
        break;
      case Op::kExists:
        if (!arg.is_boolean()) return bad_arg(key, arg);
        break;
      case Op::kType:
        if (!arg.is_string()) return bad_arg(key, arg);
        break;
      case Op::kSize:
        if (!arg.is_number_unsigned()) return bad_arg(key, arg);
        break;
      case Op::kMod:
        if (!arg.is_array() || arg.size() != 2 || !arg[0].is_number_integer() ||
            !arg[1].is_number_integer() || arg[0].get<int64_t>() == 0 ||
            (arg[0].is_number_unsigned() && arg[0].get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) ||
            (arg[1].is_number_unsigned() && arg[1].get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
          return bad_arg(key, arg);
        }
        break;
      case Op::kElemMatch:
      case Op::kAllMatch: {
        if (!arg.is_object()) return bad_arg(key, arg);
        // The sub-selector applies to each element, with paths relative to it.
        auto sub = parse_object(arg, Path{}, false, true);
        if (!sub) return sub;
        auto node = field(path, op, Json(), negate);
        node.sub = std::make_shared<const Node>(std::move(*sub));
        return node;
      }
      default: break;
    }
    return field(path, op, arg, negate);
  }

  static Node field(Path path, Op op, Json arg, bool negate) {
    Node node;
    node.kind = Node::Kind::kField;
    node.path = std::move(path);
    if (negate) {
      if (op == Op::kExists) {
        arg = !arg.get<bool>();
      } else if (negatable(op)) {
        op = opposite(op);
      } else {
        node.negated = true;
      }
    }
    node.op = op;
    node.arg = std::move(arg);
    return node;
  }
};

}  // namespace

Result<Selector> Selector::parse(const nlohmann::ordered_json& selector) {
  if (!selector.is_object()) return fail(Code::kBadRequest, "Selector must be a JSON object");
  auto root = Parser().parse_object(selector, Path{}, false, false);
  if (!root) return tl::unexpected(root.error());
  Selector s;
  s.root_ = std::make_shared<const Node>(std::move(*root));
  return s;
}

bool Selector::matches(const nlohmann::ordered_json& doc) const {
  return !root_ || match(*root_, doc);
}

}  // namespace divan::changes
