// Capability names, globs and the constraint algebra (§10, §11).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/capability.hpp"
#include "handshake/json.hpp"
#include "handshake/time.hpp"

namespace cap = handshake::capability;
namespace htime = handshake::time;
using cap::ConstraintSet;
using cap::ConstraintType;
using cap::Violation;
using handshake::ErrorCode;
using handshake::Json;
using handshake::Timestamp;

namespace {

Timestamp at(std::string_view text) {
  INFO("parsing " << text);
  auto r = htime::parse_rfc3339(text);
  REQUIRE(r.ok());
  return *r;
}

// Every constraint type, under names that do not follow the max_/min_ inference.
const char* const kSchemaText = R"({"capabilities": [
  {"name": "billing.invoices.read", "description": "Read invoices",
   "constraints": {
     "limit": {"type": "numeric_max", "description": "most invoices"},
     "floor": {"type": "numeric_min"},
     "currency": {"type": "enum"},
     "date_range": {"type": "time_window"},
     "memo": {"type": "string_pattern"},
     "path": {"type": "resource_path"},
     "rate": {"type": "rate_limit"},
     "account": {"type": "exact"},
     "max_as_enum": {"type": "enum"}}},
  {"name": "files.write:/projects/*", "constraints": {"path": {"type": "resource_path"}}},
  {"name": "files.write", "constraints": {"quota": {"type": "numeric_max"}}}
]})";

const cap::CapabilitySchemaSet& schemas() {
  static const cap::CapabilitySchemaSet set = [] {
    auto doc = handshake::json::parse_strict(kSchemaText);
    REQUIRE(doc.ok());
    auto r = cap::CapabilitySchemaSet::from_json(*doc);
    if (!r.ok()) FAIL(r.error().to_string());
    return *r;
  }();
  return set;
}

constexpr const char* kCap = "billing.invoices.read";

ConstraintSet root(const Json& constraints, std::string_view name = kCap) {
  auto r = ConstraintSet::from_link(constraints, name, schemas());
  if (auto* v = std::get_if<Violation>(&r)) FAIL("unexpected violation: " << v->detail);
  return std::get<ConstraintSet>(std::move(r));
}

Violation root_violation(const Json& constraints, std::string_view name = kCap) {
  auto r = ConstraintSet::from_link(constraints, name, schemas());
  REQUIRE(std::holds_alternative<Violation>(r));
  return std::get<Violation>(r);
}

// Narrows `set` by `child` and expects a violation of `kind` on `constraint`, leaving it unchanged.
void expect_narrow_violation(ConstraintSet& set, const Json& child, Violation::Kind kind,
                             const std::string& constraint) {
  INFO("child " << child.dump());
  const Json before = set.to_json();
  auto v = set.narrow(child);
  REQUIRE(v.has_value());
  CHECK(v->kind == kind);
  CHECK(v->constraint == constraint);
  CHECK(v->detail.find(constraint) != std::string::npos);
  CHECK(set.to_json() == before);
}

void expect_narrow_ok(ConstraintSet& set, const Json& child) {
  INFO("child " << child.dump());
  auto v = set.narrow(child);
  if (v) FAIL("unexpected violation: " << v->detail);
}

const Timestamp kNow = Timestamp{} + std::chrono::hours{24 * 20'000};  // 2024-10-04, far from test windows

void expect_request_ok(const ConstraintSet& set, const Json& request, Timestamp now = kNow) {
  INFO("request " << request.dump());
  auto v = set.check_request(request, now);
  if (v) FAIL("unexpected violation: " << v->detail);
}

void expect_request_violation(const ConstraintSet& set, const Json& request, Violation::Kind kind,
                              const std::string& constraint, Timestamp now = kNow) {
  INFO("request " << request.dump());
  auto v = set.check_request(request, now);
  REQUIRE(v.has_value());
  CHECK(v->kind == kind);
  CHECK(v->constraint == constraint);
  if (!constraint.empty()) CHECK(v->detail.find(constraint) != std::string::npos);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Names

TEST_CASE("capability names follow the §10 grammar", "[capability][name]") {
  for (const char* good : {"billing.invoices.read", "email.send", "files.write:/projects/*", "pay.transfer:bank.acme",
                           "a", "a1.b_c-d", "a-.b_", "x1.y", "xy", "handshakes.ping", "handshakex", "files.write:/a:b",
                           "files.write:~!@#$%^&*()[]{}|\\;'\",<>?", "a:b"}) {
    INFO(good);
    CHECK(cap::validate_name(good).ok());
  }
  const std::string max_len = std::string(250, 'a') + ".bcdef";
  REQUIRE(max_len.size() == 256);
  CHECK(cap::validate_name(max_len).ok());
  CHECK(cap::validate_name(max_len + "g").error().reason == "capability.name");
  CHECK_FALSE(cap::validate_name("a:" + std::string(255, 'r')).ok());

  for (const char* bad : {"", "Billing.read", "billing.Read", "1abc", "a..b", ".a", "a.", "a.1b", "a._b", "a.-b",
                          "a b", "a:b c", "a:", ":res", ".:x", "a:\t", "a.b!", "a/b", "\xc3\xa9t\xc3\xa9", "a:\xc3\xa9",
                          "a:\x7f", "_a", "a,b"}) {
    INFO("\"" << bad << "\"");
    auto st = cap::validate_name(bad);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == ErrorCode::kInvalidArgument);
    CHECK(st.error().reason == "capability.name");
  }
  CHECK_FALSE(cap::validate_name(std::string_view("a\0b", 3)).ok());
}

TEST_CASE("handshake.* and x.* are reserved", "[capability][name]") {
  for (const char* reserved : {"handshake", "handshake.ping", "handshake.a.b:res", "x", "x.test", "x.test:res", "x:r",
                               "handshake:r"}) {
    INFO(reserved);
    auto st = cap::validate_name(reserved);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == ErrorCode::kInvalidArgument);
    CHECK(st.error().reason == "capability.reserved");
    CHECK(cap::validate_name(reserved, cap::NameOptions{true}).ok());
  }
  // Grammar errors win over the reserved check, and allow_reserved does not relax the grammar.
  CHECK(cap::validate_name("x..y").error().reason == "capability.name");
  CHECK_FALSE(cap::validate_name("X.test", cap::NameOptions{true}).ok());
}

TEST_CASE("base_name and name_covers", "[capability][name]") {
  CHECK(cap::base_name("files.write:/projects/*") == "files.write");
  CHECK(cap::base_name("billing.invoices.read") == "billing.invoices.read");
  CHECK(cap::base_name("a:b:c") == "a");

  struct Case {
    const char* granted;
    const char* requested;
    bool covers;
  };
  const Case cases[] = {
      {"billing.invoices.read", "billing.invoices.read", true},
      {"billing.invoices.read", "billing.invoices.write", false},
      {"billing.invoices", "billing.invoices.read", false},  // no hierarchical implication
      {"files.write:/projects/*", "files.write:/projects/a.txt", true},
      {"files.write:/projects/*", "files.write:/projects/a/b.txt", false},
      {"files.write:/projects/**", "files.write:/projects/a/b.txt", true},
      {"files.write:/projects/*", "files.write:/other/a.txt", false},
      {"files.write:/projects/*", "files.read:/projects/a.txt", false},
      {"files.write:/projects/*", "files.writer:/projects/a.txt", false},
      {"files.write:/projects/*", "files.write", false},
      {"files.write", "files.write:/projects/a.txt", false},
      {"pay.transfer:bank.acme", "pay.transfer:bank.acme", true},
      {"pay.transfer:bank.*", "pay.transfer:bank.acme", true},
      {"pay.transfer:bank.acme", "pay.transfer:bank.other", false},
      {"files.write:/p/[a-c]?.txt", "files.write:/p/b1.txt", true},
      {"files.write:/p/[a-c]?.txt", "files.write:/p/d1.txt", false},
      // A requested resource with metacharacters is a set of resources; it must fit entirely.
      {"files.write:/projects/*", "files.write:/projects/*", true},
      {"files.write:/projects/*", "files.write:/projects/*.txt", true},
      {"files.write:/projects/*", "files.write:/projects/**", false},
      {"files.write:/projects/*", "files.write:/projects/*/x", false},
      {"files.write:/projects/**", "files.write:/projects/*/x", true},
      {"files.write:/projects/**", "files.write:/projects/**", true},
      {"files.write:/projects/?", "files.write:/projects/*", false},
      {"files.write:/projects/*", "files.write:/projects/?", true},
      {"files.write:/projects/[ab]", "files.write:/projects/[a]", true},
      {"files.write:/projects/[ab]", "files.write:/projects/[abc]", false},
      {"files.write:/projects/a", "files.write:/projects/[a]", true},
      {"files.write:/projects/a", "files.write:/projects/?", false},
      {"files.write:/projects/\\*", "files.write:/projects/*", false},
  };
  for (const Case& c : cases) {
    INFO(c.granted << " covers " << c.requested);
    CHECK(cap::name_covers(c.granted, c.requested) == c.covers);
  }
}

// ---------------------------------------------------------------------------------------------
// Globs

TEST_CASE("glob_match", "[capability][glob]") {
  struct Case {
    const char* pattern;
    const char* path;
    bool match;
  };
  const Case cases[] = {
      {"", "", true},
      {"", "a", false},
      {"abc", "abc", true},
      {"abc", "abcd", false},
      {"abc", "ab", false},
      {"*", "", true},
      {"*", "abc", true},
      {"*", "a/b", false},
      {"*", "/", false},
      {"/projects/*", "/projects/a.txt", true},
      {"/projects/*", "/projects/", true},
      {"/projects/*", "/projects/a/b.txt", false},
      {"/projects/*.txt", "/projects/a.txt", true},
      {"/projects/*.txt", "/projects/a.md", false},
      {"**", "", true},
      {"**", "a/b/c", true},
      {"/projects/**", "/projects/a/b/c.txt", true},
      {"/projects/**", "/projects/", true},
      {"/projects/**", "/projects", false},
      {"/projects/**/*.txt", "/projects/a/b/c.txt", true},
      {"/projects/**/*.txt", "/projects/c.txt", false},  // the '/' after ** is literal
      {"/projects/**.txt", "/projects/a/b.txt", true},
      {"/a/***", "/a/b/c", true},  // runs of stars collapse to **
      {"?", "a", true},
      {"?", "", false},
      {"?", "/", false},
      {"??", "ab", true},
      {"a?c", "abc", true},
      {"a?c", "a/c", false},
      {"[abc]", "b", true},
      {"[abc]", "d", false},
      {"[a-z]", "q", true},
      {"[a-z]", "Q", false},
      {"[a-z0-9_]x", "7x", true},
      {"[!a]", "b", true},
      {"[!a]", "a", false},
      {"[^a]", "b", true},
      {"[!a]", "/", false},  // a class never matches '/'
      {"[/]", "/", false},
      {"[]a]", "]", true},
      {"[]a]", "a", true},
      {"[!]]", "]", false},
      {"[!]]", "x", true},
      {"[a-]", "-", true},
      {"[z-a]", "m", false},  // reversed range is empty
      {"[abc", "[abc", true},  // unterminated class: literal '['
      {"[abc", "a", false},
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"\\?", "?", true},
      {"\\?", "a", false},
      {"\\[a]", "[a]", true},
      {"\\[a]", "a", false},
      {"a\\\\b", "a\\b", true},
      {"a\\", "a\\", true},  // a trailing backslash is literal
      {"[\\]]", "]", true},
      {"[a\\-z]", "-", true},
      {"[a\\-z]", "m", false},
      {"*.*", "a.b", true},
      {"*.*", "ab", false},
      {"*a*b*c*", "xxaxxbxxcxx", true},
      {"*a*b*c*", "xxaxxcxxbxx", false},
  };
  for (const Case& c : cases) {
    INFO("\"" << c.pattern << "\" vs \"" << c.path << "\"");
    CHECK(cap::glob_match(c.pattern, c.path) == c.match);
  }
}

TEST_CASE("glob_match is bounded on hostile input", "[capability][glob]") {
  const auto start = std::chrono::steady_clock::now();
  const std::string as(4096, 'a');
  CHECK_FALSE(cap::glob_match("*a*a*a*a*a*a*a*b", as));
  CHECK_FALSE(cap::glob_match("**a**a**a**a**a**a**a**b", as));
  CHECK(cap::glob_match("*a*a*a*a*a*a*a*a", as));
  std::string many_stars;
  for (int i = 0; i < 200; ++i) many_stars += "*a";
  many_stars += "b";
  REQUIRE(many_stars.size() <= 1024);
  CHECK_FALSE(cap::glob_match(many_stars, as));
  std::string deep_path;
  while (deep_path.size() + 2 <= 4096) deep_path += "/a";
  CHECK(cap::glob_match("/**/a", deep_path));
  CHECK_FALSE(cap::glob_match("/**/**/**/**/**/**/**/b", deep_path));
  CHECK_FALSE(cap::name_covers("files.write:" + std::string("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"),
                               "files.write:" + std::string(200, 'a')));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed < std::chrono::seconds(2));

  // Limits: long patterns and long paths never match.
  CHECK(cap::glob_match(std::string(1024, 'a'), std::string(1024, 'a')));
  CHECK_FALSE(cap::glob_match(std::string(1025, 'a'), std::string(1025, 'a')));
  CHECK(cap::glob_match("**", std::string(4096, 'a')));
  CHECK_FALSE(cap::glob_match("**", std::string(4097, 'a')));
}

// ---------------------------------------------------------------------------------------------
// Constraint types and schemas

TEST_CASE("constraint type names round-trip", "[capability][schema]") {
  const std::pair<ConstraintType, const char*> all[] = {
      {ConstraintType::kNumericMax, "numeric_max"},       {ConstraintType::kNumericMin, "numeric_min"},
      {ConstraintType::kStringPattern, "string_pattern"}, {ConstraintType::kEnum, "enum"},
      {ConstraintType::kTimeWindow, "time_window"},       {ConstraintType::kRateLimit, "rate_limit"},
      {ConstraintType::kResourcePath, "resource_path"},   {ConstraintType::kExact, "exact"}};
  for (const auto& [type, name] : all) {
    CHECK(cap::to_string(type) == name);
    auto parsed = cap::parse_constraint_type(name);
    REQUIRE(parsed.ok());
    CHECK(*parsed == type);
  }
  for (const char* bad : {"", "Numeric_max", "numeric-max", "regex", "numeric_max "}) {
    auto r = cap::parse_constraint_type(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
    CHECK(r.error().reason == "capability.constraint_type");
  }
}

TEST_CASE("capability schema documents", "[capability][schema]") {
  const auto& set = schemas();
  CHECK_FALSE(set.empty());
  CHECK(cap::CapabilitySchemaSet{}.empty());

  const cap::CapabilitySchema* s = set.find(kCap);
  REQUIRE(s != nullptr);
  CHECK(s->name == kCap);
  CHECK(s->description == "Read invoices");
  CHECK(s->constraints.size() == 9);
  // A resource-qualified name falls back to its base name's schema.
  REQUIRE(set.find("billing.invoices.read:acct-7") != nullptr);
  CHECK(set.find("billing.invoices.read:acct-7")->name == kCap);
  // Exact names first, then a covering glob, then the base name.
  CHECK(set.find("files.write:/projects/*")->name == "files.write:/projects/*");
  CHECK(set.find("files.write:/projects/a.txt")->name == "files.write:/projects/*");
  CHECK(set.find("files.write:/other/a.txt")->name == "files.write");
  CHECK(set.find("files.write")->name == "files.write");
  CHECK(set.find("billing.invoices") == nullptr);
  CHECK(set.find("email.send") == nullptr);

  CHECK(set.type_of(kCap, "limit") == ConstraintType::kNumericMax);
  CHECK(set.type_of(kCap, "floor") == ConstraintType::kNumericMin);
  CHECK(set.type_of(kCap, "currency") == ConstraintType::kEnum);
  CHECK(set.type_of(kCap, "date_range") == ConstraintType::kTimeWindow);
  CHECK(set.type_of(kCap, "memo") == ConstraintType::kStringPattern);
  CHECK(set.type_of(kCap, "path") == ConstraintType::kResourcePath);
  CHECK(set.type_of(kCap, "rate") == ConstraintType::kRateLimit);
  CHECK(set.type_of(kCap, "account") == ConstraintType::kExact);
  CHECK(set.type_of(kCap, "max_as_enum") == ConstraintType::kEnum);  // the schema wins over inference
  CHECK(set.type_of(kCap, "max_invoices") == ConstraintType::kNumericMax);
  CHECK(set.type_of(kCap, "min_amount") == ConstraintType::kNumericMin);
  CHECK(set.type_of(kCap, "region") == ConstraintType::kExact);
  CHECK(set.type_of(kCap, "maximum") == ConstraintType::kExact);
  CHECK(set.type_of("email.send", "max_recipients") == ConstraintType::kNumericMax);
  CHECK(set.type_of("email.send", "to") == ConstraintType::kExact);
  CHECK(set.type_of("files.write:/projects/a", "path") == ConstraintType::kResourcePath);
  CHECK(set.type_of("files.write:/other", "quota") == ConstraintType::kNumericMax);
  CHECK(set.type_of("files.write:/other", "path") == ConstraintType::kExact);

  // to_json round-trips.
  const Json j = set.to_json();
  auto again = cap::CapabilitySchemaSet::from_json(j);
  REQUIRE(again.ok());
  CHECK(again->to_json() == j);
  CHECK(j["capabilities"][0]["constraints"]["limit"]["type"] == "numeric_max");
  CHECK(j["capabilities"][0]["description"] == "Read invoices");

  // Unknown optional members are tolerated (§15).
  auto extra = cap::CapabilitySchemaSet::from_json(
      Json::parse(R"({"capabilities": [{"name": "a.b", "future": 1,
                       "constraints": {"c": {"type": "enum", "unit": "x"}}}], "generated": "now"})"));
  REQUIRE(extra.ok());
  CHECK(extra->type_of("a.b", "c") == ConstraintType::kEnum);

  // add() replaces a schema of the same name.
  cap::CapabilitySchemaSet built;
  built.add({"a.b", "first", {{"n", ConstraintType::kEnum}}});
  built.add({"a.b", "second", {{"n", ConstraintType::kNumericMin}}});
  built.add({"a.c", "", {}});
  CHECK(built.find("a.b")->description == "second");
  CHECK(built.type_of("a.b", "n") == ConstraintType::kNumericMin);
  CHECK(built.to_json()["capabilities"].size() == 2);
}

TEST_CASE("malformed capability schema documents are refused", "[capability][schema]") {
  const char* bad_documents[] = {
      R"([])",
      R"({})",
      R"({"capabilities": {}})",
      R"({"capabilities": [1]})",
      R"({"capabilities": [{}]})",
      R"({"capabilities": [{"name": 5}]})",
      R"({"capabilities": [{"name": "Bad.Name"}]})",
      R"({"capabilities": [{"name": "handshake.ping"}]})",
      R"({"capabilities": [{"name": "a.b", "description": 1}]})",
      R"({"capabilities": [{"name": "a.b", "constraints": []}]})",
      R"({"capabilities": [{"name": "a.b", "constraints": {"c": "numeric_max"}}]})",
      R"({"capabilities": [{"name": "a.b", "constraints": {"c": {}}}]})",
      R"({"capabilities": [{"name": "a.b", "constraints": {"c": {"type": 1}}}]})",
      R"({"capabilities": [{"name": "a.b", "constraints": {"c": {"type": "regex"}}}]})",
      R"({"capabilities": [{"name": "a.b", "constraints": {"c": {"type": "enum", "description": []}}}]})",
      R"({"capabilities": [{"name": "a.b"}, {"name": "a.b"}]})",
  };
  for (const char* text : bad_documents) {
    INFO(text);
    auto r = cap::CapabilitySchemaSet::from_json(Json::parse(text));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kSchema);
    CHECK(r.error().reason == "capability.schema");
  }
  // The path names the offending member.
  auto r = cap::CapabilitySchemaSet::from_json(
      Json::parse(R"({"capabilities": [{"name": "a.b"}, {"name": "a.c", "constraints": {"q": {"type": "x"}}}]})"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("/capabilities/1/constraints/q/type") != std::string::npos);
  // Reserved names pass with allow_reserved.
  CHECK(cap::CapabilitySchemaSet::from_json(Json::parse(R"({"capabilities": [{"name": "x.test"}]})"),
                                            cap::NameOptions{true})
            .ok());
}

// ---------------------------------------------------------------------------------------------
// The constraint algebra, type by type

TEST_CASE("the spec's reference example: 500 invoices under a maximum of 100", "[capability][constraints]") {
  const cap::CapabilitySchemaSet no_schema;
  auto r = ConstraintSet::from_link(Json{{"max_invoices", 100}}, kCap, no_schema);
  REQUIRE(std::holds_alternative<ConstraintSet>(r));
  const auto& set = std::get<ConstraintSet>(r);
  auto v = set.check_request(Json{{"max_invoices", 500}}, kNow);
  REQUIRE(v.has_value());
  CHECK(v->kind == Violation::Kind::kExceeded);
  CHECK(v->constraint == "max_invoices");
  CHECK(v->detail.find("max_invoices") != std::string::npos);
  CHECK(v->detail.find("500") != std::string::npos);
  CHECK(v->detail.find("100") != std::string::npos);
  CHECK_FALSE(set.check_request(Json{{"max_invoices", 100}}, kNow).has_value());
  CHECK_FALSE(set.check_request(Json{{"max_invoices", 50}}, kNow).has_value());
  CHECK(set.narrowed_by_request(Json{{"max_invoices", 50}}).to_json() == Json{{"max_invoices", 50}});
  CHECK(set.narrowed_by_request(Json{{"max_invoices", 100}}).to_json() == Json{{"max_invoices", 100}});
}

TEST_CASE("untyped names: max_* and min_* are inferred numeric, the rest exact", "[capability][constraints]") {
  const cap::CapabilitySchemaSet no_schema;
  auto r = ConstraintSet::from_link(Json{{"max_amount", 10.5}, {"min_amount", 2}, {"region", "eu"}}, "pay.send",
                                    no_schema);
  REQUIRE(std::holds_alternative<ConstraintSet>(r));
  auto set = std::get<ConstraintSet>(r);
  expect_request_ok(set, Json{{"max_amount", 10.5}, {"min_amount", 2.0}, {"region", "eu"}});
  expect_request_violation(set, Json{{"max_amount", 10.50001}}, Violation::Kind::kExceeded, "max_amount");
  expect_request_violation(set, Json{{"min_amount", 1}}, Violation::Kind::kExceeded, "min_amount");
  expect_request_violation(set, Json{{"region", "us"}}, Violation::Kind::kExceeded, "region");
  expect_request_violation(set, Json{{"max_amount", "10"}}, Violation::Kind::kMalformed, "max_amount");
  expect_narrow_ok(set, Json{{"max_amount", 10}, {"min_amount", 3}, {"region", "eu"}});
  expect_narrow_violation(set, Json{{"max_amount", 11}}, Violation::Kind::kWidened, "max_amount");
  expect_narrow_violation(set, Json{{"min_amount", 2}}, Violation::Kind::kWidened, "min_amount");
  expect_narrow_violation(set, Json{{"region", "us"}}, Violation::Kind::kWidened, "region");
  expect_narrow_violation(set, Json{{"max_amount", "9"}}, Violation::Kind::kMalformed, "max_amount");
  CHECK(set.to_json() == Json{{"max_amount", 10}, {"min_amount", 3}, {"region", "eu"}});
  // A name the chain does not bound is not a violation, but an inferred-numeric one must be a number.
  expect_request_ok(set, Json{{"max_other", 1e9}, {"anything", Json::array({1, "x"})}});
  expect_request_violation(set, Json{{"max_other", "lots"}}, Violation::Kind::kMalformed, "max_other");
  expect_request_violation(set, Json{{"min_other", Json::object()}}, Violation::Kind::kMalformed, "min_other");
}

TEST_CASE("numeric_max", "[capability][constraints]") {
  auto set = root(Json{{"limit", 100}});
  CHECK(set.to_json()["limit"].is_number_integer());
  CHECK(set.to_json().dump() == R"({"limit":100})");
  expect_narrow_ok(set, Json{{"limit", 100.0}});  // equal
  CHECK(set.to_json().dump() == R"({"limit":100})");
  expect_narrow_ok(set, Json{{"limit", 80}});
  expect_narrow_violation(set, Json{{"limit", 80.5}}, Violation::Kind::kWidened, "limit");
  expect_narrow_violation(set, Json{{"limit", 1000}}, Violation::Kind::kWidened, "limit");
  for (const Json& bad : {Json("80"), Json(true), Json(nullptr), Json::array({80}), Json::object()}) {
    expect_narrow_violation(set, Json{{"limit", bad}}, Violation::Kind::kMalformed, "limit");
  }
  expect_narrow_ok(set, Json{{"limit", 79.5}});
  CHECK(set.to_json() == Json{{"limit", 79.5}});
  expect_request_ok(set, Json{{"limit", 79.5}});
  expect_request_ok(set, Json{{"limit", -3}});
  expect_request_violation(set, Json{{"limit", 80}}, Violation::Kind::kExceeded, "limit");
  expect_request_violation(set, Json{{"limit", "79"}}, Violation::Kind::kMalformed, "limit");
  expect_request_violation(set, Json{{"limit", nullptr}}, Violation::Kind::kMalformed, "limit");
  CHECK(set.narrowed_by_request(Json{{"limit", 10}}).to_json() == Json{{"limit", 10}});
  CHECK(set.narrowed_by_request(Json::object()).to_json() == Json{{"limit", 79.5}});
  auto v = root_violation(Json{{"limit", "100"}});
  CHECK(v.kind == Violation::Kind::kMalformed);
  CHECK(v.constraint == "limit");
}

TEST_CASE("numeric_min", "[capability][constraints]") {
  auto set = root(Json{{"floor", 10}});
  expect_narrow_ok(set, Json{{"floor", 10.0}});
  expect_narrow_ok(set, Json{{"floor", 20}});
  expect_narrow_violation(set, Json{{"floor", 19.99}}, Violation::Kind::kWidened, "floor");
  expect_narrow_violation(set, Json{{"floor", "25"}}, Violation::Kind::kMalformed, "floor");
  CHECK(set.to_json().dump() == R"({"floor":20})");
  expect_request_ok(set, Json{{"floor", 20}});
  expect_request_ok(set, Json{{"floor", 1e6}});
  expect_request_violation(set, Json{{"floor", 15}}, Violation::Kind::kExceeded, "floor");
  expect_request_violation(set, Json{{"floor", "x"}}, Violation::Kind::kMalformed, "floor");
  CHECK(set.narrowed_by_request(Json{{"floor", 30}}).to_json() == Json{{"floor", 30}});
  CHECK(set.narrowed_by_request(Json{{"floor", 20}}).to_json().dump() == R"({"floor":20})");
}

TEST_CASE("enum", "[capability][constraints]") {
  auto set = root(Json{{"currency", {"usd", "eur", 100, Json{{"k", 1}}}}});
  CHECK(set.to_json()["currency"] == Json::array({"usd", "eur", 100, Json{{"k", 1}}}));
  expect_narrow_ok(set, Json{{"currency", {"usd", "eur", 100, Json{{"k", 1.0}}}}});  // equal, numbers by value
  expect_narrow_violation(set, Json{{"currency", {"usd", "gbp"}}}, Violation::Kind::kWidened, "currency");
  expect_narrow_violation(set, Json{{"currency", {"USD"}}}, Violation::Kind::kWidened, "currency");
  expect_narrow_violation(set, Json{{"currency", {100.5}}}, Violation::Kind::kWidened, "currency");
  for (const Json& bad : {Json("usd"), Json::array(), Json(1), Json::object()}) {
    expect_narrow_violation(set, Json{{"currency", bad}}, Violation::Kind::kMalformed, "currency");
  }
  Json too_many = Json::array();
  for (int i = 0; i < 1025; ++i) too_many.push_back(i);
  CHECK(root_violation(Json{{"currency", too_many}}).kind == Violation::Kind::kMalformed);
  expect_narrow_ok(set, Json{{"currency", {"usd", 100.0}}});
  CHECK(set.to_json()["currency"].size() == 2);

  expect_request_ok(set, Json{{"currency", "usd"}});
  expect_request_ok(set, Json{{"currency", 100}});
  expect_request_ok(set, Json{{"currency", {"usd", 100}}});
  expect_request_violation(set, Json{{"currency", "eur"}}, Violation::Kind::kExceeded, "currency");
  expect_request_violation(set, Json{{"currency", {"usd", "eur"}}}, Violation::Kind::kExceeded, "currency");
  expect_request_violation(set, Json{{"currency", Json{{"k", 1}}}}, Violation::Kind::kExceeded, "currency");
  expect_request_violation(set, Json{{"currency", Json::array()}}, Violation::Kind::kMalformed, "currency");
  CHECK(set.narrowed_by_request(Json{{"currency", "usd"}}).to_json() == Json{{"currency", {"usd"}}});
  CHECK(set.narrowed_by_request(Json{{"currency", {100, "usd"}}}).to_json() == Json{{"currency", {100, "usd"}}});
  // An array that is itself an allowed value may be requested as that value.
  auto nested = root(Json{{"currency", Json::array({Json::array({1, 2}), 3})}});
  expect_request_ok(nested, Json{{"currency", Json::array({1, 2})}});
  expect_request_ok(nested, Json{{"currency", Json::array({3})}});
  expect_request_violation(nested, Json{{"currency", Json::array({1})}}, Violation::Kind::kExceeded, "currency");
  expect_request_violation(nested, Json{{"currency", Json::array({2, 1})}}, Violation::Kind::kExceeded, "currency");
  CHECK(nested.narrowed_by_request(Json{{"currency", Json::array({1, 2})}}).to_json() ==
        Json{{"currency", Json::array({Json::array({1, 2})})}});
  // A typed enum the chain does not have: any value, but not an empty array.
  auto other = root(Json::object());
  expect_request_ok(other, Json{{"currency", "chf"}});
  expect_request_violation(other, Json{{"currency", Json::array()}}, Violation::Kind::kMalformed, "currency");
  CHECK(other.narrowed_by_request(Json{{"currency", "chf"}}).to_json() == Json{{"currency", {"chf"}}});
}

TEST_CASE("time_window", "[capability][constraints]") {
  auto set = root(Json{{"date_range", {"2026-01-01", "2026-04-29"}}});
  CHECK(set.to_json() == Json{{"date_range", {"2026-01-01", "2026-04-29"}}});
  expect_narrow_ok(set, Json{{"date_range", {"2026-01-01T00:00:00Z", "2026-04-29T23:59:59.999999Z"}}});  // equal
  expect_narrow_violation(set, Json{{"date_range", {"2025-12-31T23:59:59Z", "2026-04-29"}}}, Violation::Kind::kWidened,
                          "date_range");
  expect_narrow_violation(set, Json{{"date_range", {"2026-01-01", "2026-04-30T00:00:00Z"}}}, Violation::Kind::kWidened,
                          "date_range");
  expect_narrow_violation(set, Json{{"date_range", {"2026-01-01", "2026-04-30"}}}, Violation::Kind::kWidened,
                          "date_range");
  // An offset moves the instant: 01:00+02:00 is 23:00Z of the previous day.
  expect_narrow_violation(set, Json{{"date_range", {"2026-01-01T01:00:00+02:00", "2026-04-29"}}},
                          Violation::Kind::kWidened, "date_range");
  for (const Json& bad : {Json("2026-01-01"), Json::array({"2026-04-29", "2026-01-01"}),
                          Json::array({"2026-13-01", "2026-04-29"}), Json::array({"2026-01-01"}),
                          Json::array({"2026-01-01", "2026-02-01", "2026-03-01"}), Json::array({1, 2}),
                          Json::array({"2026-01-01T00:00:00", "2026-02-01"}), Json::array({"2026-1-01", "2026-02-01"}),
                          Json::array({"2026-02-30", "2026-03-01"})}) {
    expect_narrow_violation(set, Json{{"date_range", bad}}, Violation::Kind::kMalformed, "date_range");
  }
  expect_narrow_ok(set, Json{{"date_range", {"2026-02-01T00:00:00Z", "2026-04-29"}}});
  CHECK(set.to_json() == Json{{"date_range", {"2026-02-01T00:00:00Z", "2026-04-29"}}});
  // A one-day window is fine (a date as start and end covers that whole day).
  CHECK(std::holds_alternative<ConstraintSet>(
      ConstraintSet::from_link(Json{{"date_range", {"2026-03-01", "2026-03-01"}}}, kCap, schemas())));

  // Requests: a time, a date (its whole day) or a window must lie inside.
  expect_request_ok(set, Json{{"date_range", "2026-03-01T12:00:00Z"}});
  expect_request_ok(set, Json{{"date_range", "2026-04-29"}});
  expect_request_ok(set, Json{{"date_range", "2026-04-29T23:59:59.999999Z"}});
  expect_request_ok(set, Json{{"date_range", {"2026-02-01", "2026-04-29"}}});
  expect_request_violation(set, Json{{"date_range", "2026-04-30T00:00:00Z"}}, Violation::Kind::kExceeded, "date_range");
  expect_request_violation(set, Json{{"date_range", "2026-01-31"}}, Violation::Kind::kExceeded, "date_range");
  expect_request_violation(set, Json{{"date_range", {"2026-03-01", "2026-05-01"}}}, Violation::Kind::kExceeded,
                           "date_range");
  expect_request_violation(set, Json{{"date_range", 5}}, Violation::Kind::kMalformed, "date_range");
  expect_request_violation(set, Json{{"date_range", {"2026-03-02", "2026-03-01"}}}, Violation::Kind::kMalformed,
                           "date_range");
  expect_request_violation(set, Json{{"date_range", "yesterday"}}, Violation::Kind::kMalformed, "date_range");
  // No request value: now must lie inside.
  expect_request_ok(set, Json::object(), at("2026-03-01T00:00:00Z"));
  expect_request_ok(set, Json::object(), at("2026-02-01T00:00:00Z"));
  expect_request_ok(set, Json::object(), at("2026-04-29T23:59:59.999999Z"));
  expect_request_violation(set, Json::object(), Violation::Kind::kExceeded, "date_range", at("2026-01-31T23:59:59Z"));
  expect_request_violation(set, Json::object(), Violation::Kind::kExceeded, "date_range", at("2026-04-30T00:00:00Z"));
  expect_request_violation(set, Json{{"other", 1}}, Violation::Kind::kExceeded, "date_range", at("2027-01-01T00:00:00Z"));
  // With a request value, the request's window is what is checked.
  expect_request_ok(set, Json{{"date_range", "2026-03-01"}}, at("2027-01-01T00:00:00Z"));

  CHECK(set.narrowed_by_request(Json{{"date_range", {"2026-03-01", "2026-03-31"}}}).to_json() ==
        Json{{"date_range", {"2026-03-01", "2026-03-31"}}});
  CHECK(set.narrowed_by_request(Json{{"date_range", "2026-03-01"}}).to_json() ==
        Json{{"date_range", {"2026-03-01", "2026-03-01"}}});
  CHECK(set.narrowed_by_request(Json{{"date_range", {"2026-03-01", "2026-04-29"}}}).to_json() ==
        Json{{"date_range", {"2026-03-01", "2026-04-29"}}});
}

TEST_CASE("string_pattern", "[capability][constraints]") {
  auto set = root(Json{{"memo", "[a-z]+"}});
  CHECK(set.to_json() == Json{{"memo", "[a-z]+"}});
  expect_request_ok(set, Json{{"memo", "abc"}});
  expect_request_violation(set, Json{{"memo", "abc1"}}, Violation::Kind::kExceeded, "memo");  // anchored
  expect_request_violation(set, Json{{"memo", "1abc"}}, Violation::Kind::kExceeded, "memo");
  expect_request_violation(set, Json{{"memo", ""}}, Violation::Kind::kExceeded, "memo");
  expect_request_violation(set, Json{{"memo", 5}}, Violation::Kind::kMalformed, "memo");
  expect_narrow_ok(set, Json{{"memo", "[a-z]+"}});  // the same pattern does not accumulate twice
  CHECK(set.to_json() == Json{{"memo", "[a-z]+"}});
  expect_narrow_ok(set, Json{{"memo", "a.*"}});  // patterns accumulate: both must match
  CHECK(set.to_json() == Json{{"memo", {"[a-z]+", "a.*"}}});
  expect_request_ok(set, Json{{"memo", "abc"}});
  expect_request_violation(set, Json{{"memo", "bcd"}}, Violation::Kind::kExceeded, "memo");
  expect_request_violation(set, Json{{"memo", "a1"}}, Violation::Kind::kExceeded, "memo");
  // Even a "wider" pattern cannot widen.
  expect_narrow_ok(set, Json{{"memo", ".*"}});
  expect_request_violation(set, Json{{"memo", "zzz"}}, Violation::Kind::kExceeded, "memo");
  for (const Json& bad : {Json("("), Json("a{2,1}"), Json("(?P<n>a"), Json(std::string(1025, 'a')), Json(5),
                          Json::array(), Json::array({"a", 1})}) {
    expect_narrow_violation(set, Json{{"memo", bad}}, Violation::Kind::kMalformed, "memo");
  }
  CHECK(std::holds_alternative<ConstraintSet>(
      ConstraintSet::from_link(Json{{"memo", std::string(1024, 'a')}}, kCap, schemas())));
  // Pathological patterns are linear in RE2.
  auto evil = root(Json{{"memo", "(a+)+$"}});
  const auto start = std::chrono::steady_clock::now();
  expect_request_violation(evil, Json{{"memo", std::string(50'000, 'a') + "!"}}, Violation::Kind::kExceeded, "memo");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  // Accumulation is bounded.
  auto many = root(Json{{"memo", "a*"}});
  for (int i = 0; i < 63; ++i) expect_narrow_ok(many, Json{{"memo", "a*" + std::string(static_cast<std::size_t>(i + 1), 'a') + "*"}});
  expect_narrow_violation(many, Json{{"memo", "b*"}}, Violation::Kind::kMalformed, "memo");
  CHECK(many.to_json()["memo"].size() == 64);
  // A chain can add a pattern its parent lacked; the request need not declare it.
  auto fresh = root(Json::object());
  expect_narrow_ok(fresh, Json{{"memo", {"x+", "x{2}"}}});
  expect_request_ok(fresh, Json{{"memo", "xx"}});
  expect_request_violation(fresh, Json{{"memo", "x"}}, Violation::Kind::kExceeded, "memo");
  CHECK(fresh.narrowed_by_request(Json{{"memo", "xx"}}).to_json() == fresh.to_json());
}

TEST_CASE("resource_path", "[capability][constraints]") {
  auto set = root(Json{{"path", "/projects/**"}});
  CHECK(set.to_json() == Json{{"path", "/projects/**"}});
  expect_request_ok(set, Json{{"path", "/projects/a/b/c.txt"}});
  expect_request_violation(set, Json{{"path", "/etc/passwd"}}, Violation::Kind::kExceeded, "path");
  expect_narrow_ok(set, Json{{"path", "/projects/*/docs/*"}});
  CHECK(set.to_json() == Json{{"path", {"/projects/**", "/projects/*/docs/*"}}});
  expect_request_ok(set, Json{{"path", "/projects/a/docs/x.txt"}});
  expect_request_violation(set, Json{{"path", "/projects/a/b/docs/x.txt"}}, Violation::Kind::kExceeded, "path");
  expect_request_violation(set, Json{{"path", "/projects/a/docs/x/y"}}, Violation::Kind::kExceeded, "path");
  expect_request_violation(set, Json{{"path", "/projects/a/docs/" + std::string(5000, 'x')}},
                           Violation::Kind::kExceeded, "path");
  expect_request_violation(set, Json{{"path", Json::array({"/projects/a/docs/x"})}}, Violation::Kind::kMalformed,
                           "path");
  expect_narrow_ok(set, Json{{"path", "/**"}});  // cannot widen: it accumulates
  expect_request_violation(set, Json{{"path", "/other"}}, Violation::Kind::kExceeded, "path");
  for (const Json& bad : {Json(1), Json(std::string(1025, '*')), Json::array(), Json::array({"/a", nullptr})}) {
    expect_narrow_violation(set, Json{{"path", bad}}, Violation::Kind::kMalformed, "path");
  }
}

TEST_CASE("rate_limit", "[capability][constraints]") {
  auto set = root(Json{{"rate", {{"count", 10}, {"per_seconds", 60}}}});
  CHECK(set.to_json() == Json{{"rate", {{"count", 10}, {"per_seconds", 60}}}});
  REQUIRE(set.rate_limits().size() == 1);
  CHECK(set.rate_limits()[0].constraint == "rate");
  CHECK(set.rate_limits()[0].count == 10);
  CHECK(set.rate_limits()[0].per_seconds == 60);
  expect_narrow_ok(set, Json{{"rate", {{"count", 10}, {"per_seconds", 60}}}});  // equal
  expect_narrow_violation(set, Json{{"rate", {{"count", 11}, {"per_seconds", 60}}}}, Violation::Kind::kWidened,
                          "rate");
  expect_narrow_ok(set, Json{{"rate", {{"count", 5}, {"per_seconds", 60}}}});
  expect_narrow_ok(set, Json{{"rate", {{"count", 100}, {"per_seconds", 3600}}}});  // another window accumulates
  CHECK(set.to_json() == Json{{"rate", Json::array({Json{{"count", 5}, {"per_seconds", 60}},
                                                    Json{{"count", 100}, {"per_seconds", 3600}}})}});
  const auto limits = set.rate_limits();
  REQUIRE(limits.size() == 2);
  CHECK(limits[0].count == 5);
  CHECK(limits[1].count == 100);
  CHECK(limits[1].per_seconds == 3600);
  expect_narrow_violation(set,
                          Json{{"rate", Json::array({Json{{"count", 1}, {"per_seconds", 60}},
                                                     Json{{"count", 101}, {"per_seconds", 3600}}})}},
                          Violation::Kind::kWidened, "rate");
  for (const Json& bad :
       {Json(10), Json("10/60"), Json::array(), Json{{"count", 0}, {"per_seconds", 60}},
        Json{{"count", -1}, {"per_seconds", 60}}, Json{{"count", 1.5}, {"per_seconds", 60}},
        Json{{"count", 1}, {"per_seconds", 0}}, Json{{"count", 1}}, Json{{"count", 1}, {"per_seconds", 60}, {"x", 1}},
        Json{{"count", "1"}, {"per_seconds", 60}}, Json::array({Json{{"count", 1}, {"per_seconds", 60}}, 5}),
        Json{{"count", std::uint64_t{0}}, {"per_seconds", 60}},
        Json{{"count", std::uint64_t{1} << 63}, {"per_seconds", 60}},
        Json::parse(R"({"count": 0, "per_seconds": 60})"), Json::parse(R"({"count": 1e1, "per_seconds": 60})")}) {
    expect_narrow_violation(set, Json{{"rate", bad}}, Violation::Kind::kMalformed, "rate");
  }
  // Within one value, the same window keeps the lowest count.
  auto dup = root(Json{{"rate", Json::array({Json{{"count", 9}, {"per_seconds", 1}},
                                             Json{{"count", 3}, {"per_seconds", 1}}})}});
  CHECK(dup.to_json() == Json{{"rate", {{"count", 3}, {"per_seconds", 1}}}});
  // Requests: a declared rate for a delegated window must not exceed it.
  expect_request_ok(set, Json{{"rate", {{"count", 5}, {"per_seconds", 60}}}});
  expect_request_ok(set, Json{{"rate", {{"count", 1000}, {"per_seconds", 86400}}}});
  expect_request_violation(set, Json{{"rate", {{"count", 6}, {"per_seconds", 60}}}}, Violation::Kind::kExceeded,
                           "rate");
  expect_request_violation(set, Json{{"rate", 5}}, Violation::Kind::kMalformed, "rate");
  CHECK(set.narrowed_by_request(Json{{"rate", {{"count", 1}, {"per_seconds", 60}}}}).to_json() == set.to_json());
  CHECK(root(Json::object()).rate_limits().empty());
}

TEST_CASE("exact", "[capability][constraints]") {
  auto set = root(Json{{"account", "acct-1"}, {"region", Json{{"zone", 5}, {"list", {1, 2}}}}});
  CHECK(set.to_json() == Json{{"account", "acct-1"}, {"region", Json{{"zone", 5}, {"list", {1, 2}}}}});
  expect_narrow_ok(set, Json{{"account", "acct-1"}, {"region", Json{{"zone", 5.0}, {"list", {1.0, 2}}}}});
  expect_narrow_violation(set, Json{{"account", "acct-2"}}, Violation::Kind::kWidened, "account");
  expect_narrow_violation(set, Json{{"region", Json{{"zone", 5}}}}, Violation::Kind::kWidened, "region");
  expect_narrow_violation(set, Json{{"region", Json{{"zone", 5}, {"list", {2, 1}}}}}, Violation::Kind::kWidened,
                          "region");
  expect_request_ok(set, Json{{"account", "acct-1"}});
  expect_request_ok(set, Json{{"region", Json{{"list", {1, 2}}, {"zone", 5}}}});
  expect_request_violation(set, Json{{"account", "acct-10"}}, Violation::Kind::kExceeded, "account");
  expect_request_violation(set, Json{{"account", Json::array({"acct-1"})}}, Violation::Kind::kExceeded, "account");
  CHECK(set.narrowed_by_request(Json{{"account", "acct-1"}}).to_json() == set.to_json());
  auto numbers = root(Json{{"account", 7}});
  expect_request_ok(numbers, Json{{"account", 7.0}});
  expect_request_violation(numbers, Json{{"account", "7"}}, Violation::Kind::kExceeded, "account");
}

TEST_CASE("links, requests and shapes beyond single constraints", "[capability][constraints]") {
  // Non-object constraints are malformed; null means none.
  const Violation top = root_violation(Json::array({1}));
  CHECK(top.kind == Violation::Kind::kMalformed);
  auto set = root(nullptr);
  CHECK(set.to_json() == Json::object());
  expect_narrow_ok(set, nullptr);
  auto v = set.narrow(Json("max"));
  REQUIRE(v.has_value());
  CHECK(v->kind == Violation::Kind::kMalformed);
  auto rv = set.check_request(Json::array(), kNow);
  REQUIRE(rv.has_value());
  CHECK(rv->kind == Violation::Kind::kMalformed);
  CHECK(set.check_request(Json(5), kNow)->kind == Violation::Kind::kMalformed);
  expect_request_ok(set, nullptr);
  expect_request_ok(ConstraintSet{}, Json{{"anything", 1}});

  // A child may add constraints its parent lacked; one bad member leaves the whole set unchanged.
  auto chain = root(Json{{"limit", 100}});
  expect_narrow_ok(chain, Json{{"currency", {"usd"}}, {"limit", 50}});
  CHECK(chain.to_json() == Json{{"currency", {"usd"}}, {"limit", 50}});
  const Json before = chain.to_json();
  auto bad = chain.narrow(Json{{"limit", 10}, {"memo", "("}});
  REQUIRE(bad.has_value());
  CHECK(bad->kind == Violation::Kind::kMalformed);
  CHECK(bad->constraint == "memo");
  CHECK(chain.to_json() == before);
  auto widened = chain.narrow(Json{{"account", "a"}, {"limit", 60}});
  REQUIRE(widened.has_value());
  CHECK(widened->kind == Violation::Kind::kWidened);
  CHECK(chain.to_json() == before);

  // Requests for names the chain does not bound are allowed; several members are each checked.
  expect_request_ok(chain, Json{{"limit", 50}, {"currency", "usd"}, {"unrelated", "x"}});
  expect_request_violation(chain, Json{{"limit", 50}, {"currency", "eur"}}, Violation::Kind::kExceeded, "currency");
  // A typed name outside the chain still needs its type's request shape.
  expect_request_violation(chain, Json{{"floor", "low"}}, Violation::Kind::kMalformed, "floor");
  expect_request_violation(chain, Json{{"path", 5}}, Violation::Kind::kMalformed, "path");
  expect_request_violation(chain, Json{{"date_range", "soon"}}, Violation::Kind::kMalformed, "date_range");
  expect_request_ok(chain, Json{{"floor", 3}, {"path", "/x"}, {"date_range", "2026-01-01"}});

  // The request's own limits narrow the effective scope, for names the chain lacks too.
  const Json narrowed =
      chain.narrowed_by_request(Json{{"limit", 20}, {"floor", 3}, {"date_range", {"2026-01-01", "2026-01-02"}}})
          .to_json();
  CHECK(narrowed == Json{{"currency", {"usd"}}, {"limit", 20}, {"floor", 3},
                         {"date_range", {"2026-01-01", "2026-01-02"}}});
  CHECK(chain.to_json() == before);  // narrowed_by_request does not modify the set

  // The full shape of to_json over every type.
  auto all = root(Json{{"limit", 5},
                       {"floor", 1.5},
                       {"currency", {"usd"}},
                       {"date_range", {"2026-01-01", "2026-01-31T12:00:00Z"}},
                       {"memo", "m.*"},
                       {"path", {"/a/*", "/a/b*"}},
                       {"rate", {{"count", 3}, {"per_seconds", 1}}},
                       {"account", nullptr}});
  CHECK(all.to_json() == Json{{"limit", 5},
                              {"floor", 1.5},
                              {"currency", {"usd"}},
                              {"date_range", {"2026-01-01", "2026-01-31T12:00:00Z"}},
                              {"memo", "m.*"},
                              {"path", {"/a/*", "/a/b*"}},
                              {"rate", {{"count", 3}, {"per_seconds", 1}}},
                              {"account", nullptr}});
  // Round trip: the effective scope read back as a link is the same scope.
  CHECK(root(all.to_json()).to_json() == all.to_json());
}

// ---------------------------------------------------------------------------------------------
// Property: random chains never widen

namespace {

// A model of one link's value per constraint; the test's own notion of scope.
struct Win {
  Timestamp start;
  Timestamp end;
};

struct Model {
  double max = 0;
  double min = 0;
  std::vector<int> en;  // indices into the universe
  Win window;
};

const std::vector<Json>& universe() {
  static const std::vector<Json> u = {"usd", "eur", "gbp", "jpy", 1, 2, 3, true, nullptr, Json{{"k", 1}},
                                      Json::array({1, "a"})};
  return u;
}

// Emits a number, sometimes as a float when it is integral (100 vs 100.0).
Json number_json(double v, std::mt19937_64& rng) {
  if (v == static_cast<double>(static_cast<std::int64_t>(v)) && rng() % 2 == 0) return static_cast<std::int64_t>(v);
  return v;
}

Json enum_json(const std::vector<int>& idx, std::mt19937_64& rng) {
  Json out = Json::array();
  for (int i : idx) {
    Json e = universe()[static_cast<std::size_t>(i)];
    if (e.is_number_integer() && rng() % 2 == 0) e = e.get<double>();
    out.push_back(e);
  }
  return out;
}

using namespace std::chrono;

Timestamp day_start(Timestamp t) { return time_point_cast<microseconds>(floor<days>(t)); }
Timestamp day_end(Timestamp t) { return day_start(t) + days{1} - microseconds{1}; }

std::string date_string(Timestamp t) { return htime::format_rfc3339(day_start(t)).substr(0, 10); }

// An RFC 3339 spelling of t, sometimes with a non-UTC offset.
std::string time_string(Timestamp t, std::mt19937_64& rng) {
  const int choice = static_cast<int>(rng() % 3);
  if (choice == 0) return htime::format_rfc3339(t);
  const auto offset = hours{choice == 1 ? 5 : -3};
  std::string s = htime::format_rfc3339(t + offset);
  s.pop_back();  // 'Z'
  return s + (choice == 1 ? "+05:00" : "-03:00");
}

// The bound's spelling: a date when the instant is a day's first (start) or last (end) microsecond
// and the coin says so.
Json bound_json(Timestamp t, bool is_end, std::mt19937_64& rng) {
  const bool on_day = is_end ? t == day_end(t) : t == day_start(t);
  if (on_day && rng() % 2 == 0) return date_string(t);
  return time_string(t, rng);
}

// An independent reading of a window bound, for checking the effective scope.
Timestamp read_bound(const Json& v, bool is_end) {
  const std::string s = v.get<std::string>();
  if (s.size() == 10) {
    const Timestamp d = at(s + "T00:00:00Z");
    return is_end ? d + days{1} - microseconds{1} : d;
  }
  return at(s);
}

std::int64_t uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}

// A random instant in [lo, hi], biased towards day boundaries and the ends themselves.
Timestamp pick(std::mt19937_64& rng, Timestamp lo, Timestamp hi, bool is_end) {
  const int k = static_cast<int>(rng() % 4);
  if (k == 0) return is_end ? hi : lo;
  const Timestamp t = lo + microseconds{uniform(rng, 0, (hi - lo).count())};
  if (k == 1) {
    const Timestamp snapped = is_end ? day_end(t) : day_start(t);
    if (snapped >= lo && snapped <= hi) return snapped;
  }
  return t;
}

}  // namespace

TEST_CASE("property: random chains never widen the effective scope", "[capability][property]") {
  std::mt19937_64 rng(0x5eed2026u);
  cap::CapabilitySchemaSet typed;
  typed.add({"prop.test",
             "",
             {{"max_n", ConstraintType::kNumericMax},
              {"min_n", ConstraintType::kNumericMin},
              {"tags", ConstraintType::kEnum},
              {"window", ConstraintType::kTimeWindow}}});
  const Timestamp epoch = at("2026-01-01T00:00:00Z");
  int accepted_chains = 0, refused_chains = 0, links_total = 0;

  for (int iter = 0; iter < 5000; ++iter) {
    INFO("iteration " << iter);
    const int links = static_cast<int>(uniform(rng, 2, 5));
    // Root.
    Model eff;
    eff.max = static_cast<double>(uniform(rng, 50, 1000)) / ((rng() % 2) ? 1.0 : 4.0);
    eff.min = static_cast<double>(uniform(rng, -100, 40)) / ((rng() % 2) ? 1.0 : 4.0);
    const std::size_t n = universe().size();
    for (int i = 0; i < static_cast<int>(n); ++i) {
      if (rng() % 3 != 0) eff.en.push_back(i);
    }
    if (eff.en.empty()) eff.en.push_back(0);
    {
      const Timestamp s = pick(rng, epoch, epoch + days{30}, false);
      eff.window = {s, pick(rng, s, s + days{90}, true)};
    }
    std::vector<Json> declared;  // every link's constraints as sent
    declared.push_back(Json{{"max_n", number_json(eff.max, rng)},
                            {"min_n", number_json(eff.min, rng)},
                            {"tags", enum_json(eff.en, rng)},
                            {"window", {bound_json(eff.window.start, false, rng), bound_json(eff.window.end, true, rng)}}});
    auto made = ConstraintSet::from_link(declared[0], "prop.test", typed);
    REQUIRE(std::holds_alternative<ConstraintSet>(made));
    ConstraintSet set = std::get<ConstraintSet>(std::move(made));

    bool refused = false;
    for (int l = 1; l < links; ++l) {
      ++links_total;
      Json child = Json::object();
      Model next = eff;
      std::vector<std::string> widened;
      const bool widen_any = rng() % 4 == 0;  // about a quarter of links try to widen something
      auto wants_wider = [&] { return widen_any && rng() % 2 == 0; };

      if (rng() % 5 != 0) {  // numeric_max
        if (wants_wider()) {
          next.max = eff.max + ((rng() % 2) ? 1.0 : 0.25);
          widened.push_back("max_n");
        } else {
          next.max = eff.max - static_cast<double>(uniform(rng, 0, 20)) * ((rng() % 2) ? 1.0 : 0.5);
        }
        child["max_n"] = number_json(next.max, rng);
      }
      if (rng() % 5 != 0) {  // numeric_min
        if (wants_wider()) {
          next.min = eff.min - ((rng() % 2) ? 1.0 : 0.25);
          widened.push_back("min_n");
        } else {
          next.min = eff.min + static_cast<double>(uniform(rng, 0, 20)) * ((rng() % 2) ? 1.0 : 0.5);
        }
        child["min_n"] = number_json(next.min, rng);
      }
      if (rng() % 5 != 0) {  // enum
        std::vector<int> subset;
        for (int i : eff.en) {
          if (rng() % 3 != 0) subset.push_back(i);
        }
        if (subset.empty()) subset.push_back(eff.en[rng() % eff.en.size()]);
        if (wants_wider() && eff.en.size() < n) {
          std::vector<int> outside;
          for (int i = 0; i < static_cast<int>(n); ++i) {
            if (std::find(eff.en.begin(), eff.en.end(), i) == eff.en.end()) outside.push_back(i);
          }
          subset.insert(subset.begin() + static_cast<std::ptrdiff_t>(rng() % (subset.size() + 1)),
                        outside[rng() % outside.size()]);
          widened.push_back("tags");
        }
        next.en = subset;
        child["tags"] = enum_json(subset, rng);
      }
      if (rng() % 5 != 0) {  // time_window
        Win w;
        w.start = pick(rng, eff.window.start, eff.window.end, false);
        w.end = pick(rng, w.start, eff.window.end, true);
        if (wants_wider()) {
          // Step outside by as little as one microsecond, on one side or both.
          const int side = static_cast<int>(rng() % 3);
          auto step = [&] { return microseconds{(rng() % 2) ? 1 : uniform(rng, 1, 86'400'000'000LL * 3)}; };
          if (side != 1) w.start = eff.window.start - step();
          if (side != 0) w.end = eff.window.end + step();
          widened.push_back("window");
        }
        next.window = w;
        child["window"] = {bound_json(w.start, false, rng), bound_json(w.end, true, rng)};
      }

      const Json before = set.to_json();
      auto v = set.narrow(child);
      INFO("link " << l << ": " << child.dump() << " over " << before.dump());
      if (!widened.empty()) {
        REQUIRE(v.has_value());
        CHECK(v->kind == Violation::Kind::kWidened);
        CHECK(std::find(widened.begin(), widened.end(), v->constraint) != widened.end());
        CHECK(set.to_json() == before);
        refused = true;
        break;
      }
      if (v) FAIL("narrower link refused: " << v->detail);
      declared.push_back(child);
      eff = next;
    }
    if (refused) {
      ++refused_chains;
      continue;
    }
    ++accepted_chains;

    // The effective scope is within every link, and exactly the model's intersection.
    const Json e = set.to_json();
    const double emax = e["max_n"].get<double>();
    const double emin = e["min_n"].get<double>();
    const Timestamp ws = read_bound(e["window"][0], false);
    const Timestamp we = read_bound(e["window"][1], true);
    for (const Json& link : declared) {
      if (link.contains("max_n")) CHECK(emax <= link["max_n"].get<double>());
      if (link.contains("min_n")) CHECK(emin >= link["min_n"].get<double>());
      if (link.contains("tags")) {
        for (const Json& t : e["tags"]) {
          const bool in_link = std::any_of(link["tags"].begin(), link["tags"].end(), [&](const Json& x) {
            return x == t || (x.is_number() && t.is_number() && x.get<double>() == t.get<double>());
          });
          CHECK(in_link);
        }
      }
      if (link.contains("window")) {
        CHECK(ws >= read_bound(link["window"][0], false));
        CHECK(we <= read_bound(link["window"][1], true));
      }
    }
    CHECK(emax == eff.max);
    CHECK(emin == eff.min);
    CHECK(ws == eff.window.start);
    CHECK(we == eff.window.end);
    CHECK(e["tags"].size() == eff.en.size());

    // Requests at the edges of the effective scope pass; one step beyond is exceeded.
    const Json edge{{"max_n", eff.max},
                    {"min_n", eff.min},
                    {"tags", enum_json(eff.en, rng)},
                    {"window", {htime::format_rfc3339(eff.window.start), htime::format_rfc3339(eff.window.end)}}};
    auto ok = set.check_request(edge, eff.window.start);
    if (ok) FAIL("edge request refused: " << ok->detail);
    CHECK_FALSE(set.check_request(Json::object(), eff.window.end).has_value());
    CHECK(set.check_request(Json{{"max_n", eff.max + 0.125}}, eff.window.start)->kind == Violation::Kind::kExceeded);
    CHECK(set.check_request(Json{{"min_n", eff.min - 0.125}}, eff.window.start)->kind == Violation::Kind::kExceeded);
    CHECK(set.check_request(Json::object(), eff.window.end + microseconds{1})->constraint == "window");
    CHECK(set.check_request(Json::object(), eff.window.start - microseconds{1})->constraint == "window");
    if (eff.en.size() < n) {
      for (int i = 0; i < static_cast<int>(n); ++i) {
        if (std::find(eff.en.begin(), eff.en.end(), i) != eff.en.end()) continue;
        auto out = set.check_request(Json{{"tags", universe()[static_cast<std::size_t>(i)]}}, eff.window.start);
        REQUIRE(out.has_value());
        CHECK(out->constraint == "tags");
        break;
      }
    }
    // Narrowing by the edge request changes nothing; the scope read back as a link is the same.
    CHECK(set.narrowed_by_request(edge).to_json()["max_n"].get<double>() == eff.max);
    auto again = ConstraintSet::from_link(e, "prop.test", typed);
    REQUIRE(std::holds_alternative<ConstraintSet>(again));
    CHECK(std::get<ConstraintSet>(again).to_json() == e);
  }
  // The generator exercises both outcomes substantially.
  CHECK(accepted_chains > 1000);
  CHECK(refused_chains > 1000);
  CHECK(links_total > 8000);
}

// ---------------------------------------------------------------------------------------------
// Exact state (to_state_json / from_state_json), as session tickets carry a scope

namespace {

// The same answers from `a` and `b` for `request` at `now`: the same violation (kind, name,
// detail) or none, and the same narrowed scope.
void expect_same_behaviour(const ConstraintSet& a, const ConstraintSet& b, const Json& request, Timestamp now = kNow) {
  INFO("request " << request.dump());
  const auto va = a.check_request(request, now);
  const auto vb = b.check_request(request, now);
  REQUIRE(va.has_value() == vb.has_value());
  if (va) {
    CHECK(va->kind == vb->kind);
    CHECK(va->constraint == vb->constraint);
    CHECK(va->detail == vb->detail);
  } else {
    CHECK(a.narrowed_by_request(request).to_state_json() == b.narrowed_by_request(request).to_state_json());
  }
}

ConstraintSet from_state(const Json& state) {
  auto r = ConstraintSet::from_state_json(state);
  if (!r.ok()) FAIL("from_state_json: " << r.error().to_string());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("state JSON: every constraint type round-trips exactly", "[capability][state]") {
  // All eight types of the schema (the spec's six plus resource_path and exact), with accumulated
  // patterns and globs and several rate windows, plus untyped (inferred) names.
  auto set = root(Json{{"limit", 100},
                       {"floor", 2.5},
                       {"currency", {"EUR", "USD", "GBP", Json{{"code", "CHF"}}}},
                       {"date_range", {"2024-01-01", "2024-12-31T18:00:00Z"}},
                       {"memo", "[a-z]+"},
                       {"path", "/projects/**"},
                       {"rate", {{"count", 10}, {"per_seconds", 60}}},
                       {"account", Json{{"id", "acct-1"}, {"n", {1, 2.5, nullptr, true}}}},
                       {"max_untyped", 7.25},
                       {"min_untyped", -3},
                       {"region", "eu-west"}});
  expect_narrow_ok(set, Json{{"memo", Json::array({"[a-z]{1,8}", "[a-m].*"})},
                             {"path", "/projects/*/docs/**"},
                             {"rate", Json::array({Json{{"count", 5}, {"per_seconds", 60}},
                                                   Json{{"count", 100}, {"per_seconds", 3600}},
                                                   Json{{"count", 1000}, {"per_seconds", 86400}}})},
                             {"limit", 50},
                             {"currency", {"EUR", "USD", Json{{"code", "CHF"}}}},
                             {"date_range", {"2024-02-01", "2024-11-30"}}});
  REQUIRE(set.rate_limits().size() == 3);
  const Json state = set.to_state_json();
  // Every type appears, in its normalized form.
  std::set<std::string> types;
  for (const auto& [name, entry] : state.at("constraints").items()) types.insert(entry.at(0).get<std::string>());
  CHECK(types == std::set<std::string>{"numeric_max", "numeric_min", "enum", "time_window", "string_pattern",
                                       "resource_path", "rate_limit", "exact"});
  CHECK(state.at("constraints").at("memo") == Json::array({"string_pattern", {"[a-z]+", "[a-z]{1,8}", "[a-m].*"}}));
  CHECK(state.at("capability") == kCap);
  CHECK(state.at("schema").at("limit") == "numeric_max");

  const ConstraintSet back = from_state(state);
  CHECK(back.to_state_json() == state);
  CHECK(back.to_json() == set.to_json());
  // Through text, as a ticket carries it.
  const auto reparsed = handshake::json::parse_strict(state.dump());
  REQUIRE(reparsed.ok());
  const ConstraintSet from_text = from_state(*reparsed);
  CHECK(from_text.to_state_json() == state);
  CHECK(from_text.to_json().dump() == set.to_json().dump());

  const auto la = set.rate_limits(), lb = from_text.rate_limits();
  REQUIRE(la.size() == lb.size());
  for (std::size_t i = 0; i < la.size(); ++i) {
    CHECK(la[i].constraint == lb[i].constraint);
    CHECK(la[i].count == lb[i].count);
    CHECK(la[i].per_seconds == lb[i].per_seconds);
  }
  // The same decisions, accepted and refused, for every type.
  const Timestamp inside = at("2024-06-01T12:00:00Z");
  for (const Json& request : {
           Json::object(),
           Json{{"limit", 50}},
           Json{{"limit", 51}},
           Json{{"limit", "x"}},
           Json{{"floor", 2.5}},
           Json{{"floor", 2}},
           Json{{"currency", "EUR"}},
           Json{{"currency", {"EUR", "USD"}}},
           Json{{"currency", "GBP"}},
           Json{{"currency", Json{{"code", "CHF"}}}},
           Json{{"date_range", "2024-03-03"}},
           Json{{"date_range", {"2024-01-15", "2024-03-01"}}},
           Json{{"memo", "abc"}},
           Json{{"memo", "nopq"}},
           Json{{"memo", "abcdefghij"}},
           Json{{"path", "/projects/a/docs/x.txt"}},
           Json{{"path", "/projects/a/b/docs/x.txt"}},
           Json{{"rate", {{"count", 5}, {"per_seconds", 60}}}},
           Json{{"rate", {{"count", 101}, {"per_seconds", 3600}}}},
           Json{{"account", Json{{"id", "acct-1"}, {"n", {1, 2.5, nullptr, true}}}}},
           Json{{"account", "acct-1"}},
           Json{{"max_untyped", 7}},
           Json{{"max_untyped", 8}},
           Json{{"min_untyped", -4}},
           Json{{"region", "eu-west"}},
           Json{{"region", "us-east"}},
           Json{{"unbounded", 1}},
       }) {
    expect_same_behaviour(set, from_text, request, inside);
  }
  // "now" outside the delegated window, with no value for it.
  expect_same_behaviour(set, from_text, Json::object(), at("2025-01-01T00:00:00Z"));
}

TEST_CASE("state JSON: what to_json loses, the state keeps", "[capability][state]") {
  // A typed name the chain does not bound still types the request's value (the schema's types
  // travel with the set), and a single accumulated pattern stays a list.
  auto set = root(Json{{"memo", "[a-z]+"}});
  const ConstraintSet back = from_state(set.to_state_json());
  expect_request_violation(back, Json{{"limit", "not a number"}}, Violation::Kind::kMalformed, "limit");
  expect_request_violation(back, Json{{"rate", 5}}, Violation::Kind::kMalformed, "rate");
  // Rebuilt from to_json() without the schema, "limit" would be exact and "memo" exact too.
  auto lossy = ConstraintSet::from_link(set.to_json(), kCap, cap::CapabilitySchemaSet());
  REQUIRE(std::holds_alternative<ConstraintSet>(lossy));
  CHECK(std::get<ConstraintSet>(lossy).to_state_json() != set.to_state_json());
  CHECK(back.to_state_json() == set.to_state_json());
  // A narrowed set (the request's own limits applied) and an empty one round-trip as well.
  const auto narrowed = set.narrowed_by_request(Json{{"limit", 3}, {"date_range", "2024-05-05"}});
  CHECK(from_state(narrowed.to_state_json()).to_state_json() == narrowed.to_state_json());
  const ConstraintSet empty;
  CHECK(from_state(empty.to_state_json()).to_state_json() == empty.to_state_json());
  CHECK(from_state(root(nullptr).to_state_json()).to_state_json() == root(nullptr).to_state_json());
}

TEST_CASE("state JSON: malformed states are refused, never thrown", "[capability][state]") {
  const Json good = root(Json{{"limit", 5}}).to_state_json();
  auto with = [&](const std::string& member, const Json& value) {
    Json s = good;
    s[member] = value;
    return s;
  };
  auto entry = [&](const std::string& name, const Json& e) {
    Json s = good;
    s["constraints"][name] = e;
    return s;
  };
  Json extra = good;
  extra["more"] = 1;
  Json missing = good;
  missing.erase("schema");
  const std::vector<Json> bad = {
      Json(nullptr),
      Json::array(),
      Json("state"),
      Json::object(),
      extra,
      missing,
      with("capability", 5),
      with("capability", "Not A Name"),
      with("capability", "a..b"),
      with("schema", Json::array()),
      with("schema", Json{{"limit", "numeric_maximum"}}),
      with("schema", Json{{"limit", 1}}),
      with("constraints", Json::array()),
      entry("limit", 5),
      entry("limit", Json::array({"numeric_max"})),
      entry("limit", Json::array({"numeric_max", 5, 6})),
      entry("limit", Json::array({5, "numeric_max"})),
      entry("limit", Json::array({"numeric_maximum", 5})),
      entry("limit", Json::array({"numeric_max", "5"})),
      entry("floor", Json::array({"numeric_min", Json::array()})),
      entry("currency", Json::array({"enum", Json::array()})),
      entry("currency", Json::array({"enum", "EUR"})),
      entry("date_range", Json::array({"time_window", {"2024-02-01", "2024-01-01"}})),
      entry("date_range", Json::array({"time_window", {"yesterday", "2024-01-01"}})),
      entry("memo", Json::array({"string_pattern", "[a-z]+"})),             // not the list form
      entry("memo", Json::array({"string_pattern", {"[a-z]+", "[a-z]+"}})),  // a duplicate
      entry("memo", Json::array({"string_pattern", {"(unclosed"}})),         // not RE2
      entry("memo", Json::array({"string_pattern", {5}})),
      entry("path", Json::array({"resource_path", Json::array()})),
      entry("rate", Json::array({"rate_limit", {{"count", 1}, {"per_seconds", 60}}})),  // not the list form
      entry("rate", Json::array({"rate_limit", Json::array({Json{{"count", 1}, {"per_seconds", 60}},
                                                             Json{{"count", 2}, {"per_seconds", 60}}})})),
      entry("rate", Json::array({"rate_limit", Json::array({Json{{"count", 0}, {"per_seconds", 60}}})})),
      entry("rate", Json::array({"rate_limit", Json::array({Json{{"count", 1}, {"per_seconds", 60}, {"x", 1}}})})),
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    INFO("case " << i << ": " << bad[i].dump());
    auto r = ConstraintSet::from_state_json(bad[i]);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kSchema);
    CHECK(r.error().reason == "capability.state");
  }
  CHECK(ConstraintSet::from_state_json(good).ok());
}
