// docs/config.md against the parsers it documents.
//
// 1. Every `<!-- example: NAME -->` block loads through the real parser (files it names are made
//    here, keys with the library).
// 2. Every `<!-- keys: TABLE -->` table lists exactly the keys the parser reads, in both
//    directions. A key is "read" by a parser that refuses unknown keys when feeding it does not
//    give the parser's own unknown-key error (the error a bogus key gets, with the name
//    substituted); by a parser that ignores unknown keys, when a wrong value under it makes a
//    config that loads without it fail. Undocumented keys are looked for among every key named
//    anywhere on the page, the top-level keys ServiceSetup::known_keys() lists, kCandidates, and
//    every identifier-like string literal of the parsers' source files (kParserSources): the
//    literals only propose names, the parser itself decides whether it reads them.
//    For service.yaml's top level the table must equal ServiceSetup::known_keys().
// The OAuth gateway, scope map and AP2 mandate map parsers live in adapters this executable does
// not link: their tables and examples are only checked to be present here;
// tests/cli/config_doc_test.sh checks them through the binaries.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/action_map.hpp"
#include "handshake/capability.hpp"
#include "handshake/config.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/net/http.hpp"
#include "handshake/policy.hpp"
#include "handshake/session_ticket.hpp"
#include "handshake/yaml.hpp"
#include "test_util.hpp"

namespace hs = handshake;
using hs::Json;

namespace {

namespace fs = std::filesystem;

const char* const kDocPath = HSK_TEST_SOURCE_DIR "/../docs/config.md";

// Key names of every parser on the page, so that a row removed from one table is noticed even
// when no other table names the key.
const std::vector<std::string> kCandidates = {
    "identity", "trust_roots", "capabilities", "did_documents", "public_keys", "policy", "clock_skew_seconds",
    "max_request_age_seconds", "max_request_bytes", "max_chain_length", "session_ttl_seconds", "rate_limits",
    "nonce_store", "revocations", "max_sessions", "rate_limit_store", "resolvers", "session_keys",
    "max_delegation_ttl_seconds", "type", "url", "password_file", "pool_size", "max_entries", "path", "files",
    "sqlite", "postgres", "authorities", "cache_ttl_seconds", "tls", "origins", "ca_file", "client_cert",
    "client_key", "min_version", "default", "rules", "effect", "capability", "agents", "deployers", "models",
    "detail", "count", "per_seconds", "per", "unmapped", "tools", "skills", "constraints", "from", "name",
    "description", "host", "port", "timeout", "max_age", "enabled", "key", "keys", "version"};

// The parsers' sources, relative to the repository root: their string literals are candidate keys.
const std::vector<std::string> kParserSources = {
    "core/config/config.cpp",       "core/net/http.cpp",          "core/src/policy.cpp",
    "core/src/action_map.cpp",      "core/src/capability.cpp",    "adapters/mcp/proxy/oauth_gateway.cpp",
    "adapters/oauth/src/scope_map.cpp", "adapters/ap2/src/mapping.cpp"};

// "name"-like literals ([a-z][a-z0-9_]*) of `text`.
std::set<std::string> literals_of(const std::string& text) {
  std::set<std::string> out;
  for (std::size_t i = text.find('"'); i != std::string::npos; i = text.find('"', i + 1)) {
    std::size_t j = i + 1;
    while (j < text.size() && ((text[j] >= 'a' && text[j] <= 'z') || (text[j] >= '0' && text[j] <= '9') || text[j] == '_')) {
      ++j;
    }
    if (j < text.size() && text[j] == '"' && j > i + 1 && text[i + 1] >= 'a' && text[i + 1] <= 'z') {
      out.insert(text.substr(i + 1, j - i - 1));
      i = j;
    }
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// The names after "<!-- kind: " on the page, in order.
std::vector<std::string> markers(const std::vector<std::string>& doc, const std::string& kind) {
  std::vector<std::string> out;
  const std::string open = "<!-- " + kind + ": ";
  for (const auto& l : doc) {
    const std::string t = trim(l);
    if (t.rfind(open, 0) == 0 && t.size() > open.size() + 4 && t.substr(t.size() - 4) == " -->") {
      out.push_back(t.substr(open.size(), t.size() - open.size() - 4));
    }
  }
  return out;
}

std::size_t marker_line(const std::vector<std::string>& doc, const std::string& kind, const std::string& name) {
  const std::string want = "<!-- " + kind + ": " + name + " -->";
  for (std::size_t i = 0; i < doc.size(); ++i) {
    if (trim(doc[i]) == want) return i;
  }
  FAIL("docs/config.md has no " << want);
  return 0;
}

// The fenced block right after the marker.
std::string example(const std::vector<std::string>& doc, const std::string& name) {
  std::size_t i = marker_line(doc, "example", name) + 1;
  while (i < doc.size() && trim(doc[i]).empty()) ++i;
  REQUIRE(i < doc.size());
  INFO("example " << name);
  REQUIRE(doc[i].rfind("```", 0) == 0);
  std::string out;
  for (++i; i < doc.size() && doc[i].rfind("```", 0) != 0; ++i) out += doc[i] + "\n";
  REQUIRE(i < doc.size());
  return out;
}

// The first column (`key`) of every body row of the table right after the marker.
std::vector<std::string> table_keys(const std::vector<std::string>& doc, const std::string& name) {
  std::size_t i = marker_line(doc, "keys", name) + 1;
  while (i < doc.size() && trim(doc[i]).empty()) ++i;
  std::vector<std::string> out;
  std::size_t row = 0;
  for (; i < doc.size() && trim(doc[i]).rfind('|', 0) == 0; ++i, ++row) {
    if (row < 2) continue;  // header, separator
    const std::string line = trim(doc[i]);
    const auto end = line.find('|', 1);
    const std::string cell = trim(line.substr(1, end == std::string::npos ? std::string::npos : end - 1));
    INFO("table " << name << ": " << line);
    REQUIRE(cell.size() > 2);
    REQUIRE(cell.front() == '`');
    REQUIRE(cell.back() == '`');
    out.push_back(cell.substr(1, cell.size() - 2));
  }
  INFO("table " << name);
  REQUIRE(!out.empty());
  return out;
}

// What a parser made of one probe: nothing (it loaded) or its error. A third-party exception
// escaping the parser counts as an error: the key was read.
using Outcome = std::optional<hs::Error>;

template <typename F>
Outcome outcome_of(F&& f) {
  try {
    auto r = f();
    if (r.ok()) return std::nullopt;
    return r.error();
  } catch (const std::exception& e) {
    return hs::Error{hs::ErrorCode::kInternal, "exception", e.what()};
  }
}

// One place a key can be put: `run(key, value)` loads a document holding `key: value` there.
struct Context {
  std::string label;
  bool refuses_unknown;
  std::function<Outcome(const std::string& key, const Json& value)> run;
};

constexpr const char* kBogus = "zz_no_such_key";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

bool reads(const Context& c, const std::string& key) {
  if (c.refuses_unknown) {
    const Outcome bogus = c.run(kBogus, Json(-7));
    REQUIRE(bogus.has_value());  // the probe reaches the unknown-key check
    const Outcome o = c.run(key, Json(-7));
    return !o || o->reason != bogus->reason || o->message != replace_all(bogus->message, kBogus, key);
  }
  // Ignored unless a wrong value under it breaks a document that loads without it.
  INFO(c.label << " without the key");
  const Outcome base = c.run(kBogus, Json(-7));
  REQUIRE(!base.has_value());
  for (const Json& wrong : {Json(-7), Json("zz-probe"), Json::object(), Json::array(), Json(true)}) {
    if (c.run(key, wrong).has_value()) return true;
  }
  return false;
}

void check_table(const std::vector<std::string>& doc, const std::string& table, const std::vector<Context>& contexts,
                 const std::set<std::string>& candidates) {
  const auto documented = table_keys(doc, table);
  const std::set<std::string> doc_set(documented.begin(), documented.end());
  CHECK(doc_set.size() == documented.size());  // no key listed twice
  auto read_anywhere = [&](const std::string& k) {
    return std::any_of(contexts.begin(), contexts.end(), [&](const Context& c) { return reads(c, k); });
  };
  for (const auto& k : documented) {
    INFO("docs/config.md table " << table << " documents `" << k << "`, which the parser does not read");
    CHECK(read_anywhere(k));
  }
  CHECK_FALSE(read_anywhere(kBogus));
  for (const auto& k : candidates) {
    if (doc_set.count(k) != 0) continue;
    INFO("the parser of table " << table << " reads `" << k << "`, which docs/config.md does not document there");
    CHECK_FALSE(read_anywhere(k));
  }
}

Json with(Json base, const std::string& key, const Json& value) {
  base[key] = value;
  return base;
}

// A directory holding what the service example names.
class ServiceFiles {
 public:
  explicit ServiceFiles(const std::vector<std::string>& doc) {
    hs::IdentityOptions svc;
    svc.type = hs::PrincipalType::kSvc;
    REQUIRE(hs::save_key_file(hs::Identity::generate(svc).value(), dir_ / "svc.key").ok());
    hs::IdentityOptions org;
    org.type = hs::PrincipalType::kOrg;
    org.domain = "acme.example";
    const auto org_id = hs::Identity::generate(org).value();
    write("org.did.json", hs::make_did_document(org_id, {}).value().dump());
    REQUIRE(hs::write_session_key_file(dir_ / "session.key").ok());
    write("capabilities.json", example(doc, "capabilities"));
    write("revoked.json", "[]");
    write("ca.pem", "");
  }
  [[nodiscard]] const fs::path& path() const { return dir_.path(); }
  // The smallest configuration that loads.
  [[nodiscard]] static Json minimal() {
    return Json{{"identity", "svc.key"}, {"trust_roots", Json::array({"did:hsk:org:acme.example"})}};
  }
  [[nodiscard]] Outcome load(const Json& config) const {
    return outcome_of([&] { return hs::ServiceSetup::from_json(config, dir_.path()); });
  }

 private:
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  hsk_test::TempDir dir_{"hsk-config-doc"};
};

const hs::ActionMapFormat kTools{"tools", "arguments", "mcp.tool_map"};  // mcp::tool_map_format()
const hs::ActionMapFormat kSkills{"skills", "data", "a2a.skill_map"};    // a2a::skill_map_format()

}  // namespace

TEST_CASE("docs/config.md: every table and example is one this test checks", "[config][docs]") {
  const auto doc = lines_of(hsk_test::read_file(kDocPath));
  const std::set<std::string> tables = {
      "service", "service.resolvers[]", "service.revocations.feeds[]", "service.policy", "service.policy.rules[]", "service.rate_limits[]",
      "service.nonce_store", "service.rate_limit_store", "service.revocations", "service.revocations.postgres",
      "tls", "tool_map", "skill_map", "action_map.entry", "action_map.constraint", "capabilities",
      "capabilities[]", "capabilities[].constraints.*", "oauth_gateway", "scope_map", "scope_map.scopes[]",
      "mandate_map", "mandate_map.constraints"};
  const std::set<std::string> examples = {"service", "tls", "tools", "skills", "capabilities",
                                          "oauth_gateway", "scope_map", "mandate_map"};
  const auto found_tables = markers(doc, "keys");
  const auto found_examples = markers(doc, "example");
  CHECK(std::set<std::string>(found_tables.begin(), found_tables.end()) == tables);
  CHECK(found_tables.size() == tables.size());
  CHECK(std::set<std::string>(found_examples.begin(), found_examples.end()) == examples);
  CHECK(found_examples.size() == examples.size());
  for (const auto& t : tables) CHECK(!table_keys(doc, t).empty());
  for (const auto& e : examples) CHECK(!example(doc, e).empty());
}

TEST_CASE("docs/config.md: the examples load through the real parsers", "[config][docs]") {
  const auto doc = lines_of(hsk_test::read_file(kDocPath));
  ServiceFiles files(doc);

  SECTION("service.yaml") {
    const fs::path p = files.path() / "service.yaml";
    std::ofstream(p, std::ios::binary) << example(doc, "service");
    auto setup = hs::ServiceSetup::load(p);
    INFO((setup.ok() ? std::string() : setup.error().to_string()));
    REQUIRE(setup.ok());
    CHECK((*setup)->options().chain.max_delegation_ttl == std::chrono::seconds(600));
    CHECK((*setup)->options().session_ttl == std::chrono::seconds(300));
    CHECK((*setup)->revocation_store() != nullptr);
  }
  SECTION("tls") {
    auto block = hs::yaml_to_json(example(doc, "tls"));
    REQUIRE(block.ok());
    auto tls = hs::net::tls_client_options_from_json(*block, files.path());
    INFO((tls.ok() ? std::string() : tls.error().to_string()));
    REQUIRE(tls.ok());
    CHECK(tls->min_version == hs::net::TlsVersion::k13);
  }
  SECTION("tools.yaml") {
    auto map = hs::ActionMap::from_yaml(example(doc, "tools"), kTools);
    INFO((map.ok() ? std::string() : map.error().to_string()));
    REQUIRE(map.ok());
    CHECK(map->find("list-invoices") != nullptr);
  }
  SECTION("skills.yaml") {
    auto map = hs::ActionMap::from_yaml(example(doc, "skills"), kSkills);
    INFO((map.ok() ? std::string() : map.error().to_string()));
    REQUIRE(map.ok());
    CHECK(map->unmapped() == hs::UnmappedActions::kPassThrough);
  }
  SECTION("capabilities.json") {
    auto parsed = hs::json::parse_strict(example(doc, "capabilities"));
    REQUIRE(parsed.ok());
    auto set = hs::capability::CapabilitySchemaSet::from_json(*parsed);
    INFO((set.ok() ? std::string() : set.error().to_string()));
    REQUIRE(set.ok());
  }
}

TEST_CASE("docs/config.md: the key tables match the parsers", "[config][docs]") {
  const auto doc = lines_of(hsk_test::read_file(kDocPath));
  ServiceFiles files(doc);
  const Json minimal = ServiceFiles::minimal();
  REQUIRE(!files.load(minimal));

  std::set<std::string> candidates(kCandidates.begin(), kCandidates.end());
  for (const auto& t : markers(doc, "keys")) {
    for (const auto& k : table_keys(doc, t)) candidates.insert(k);
  }
  for (auto k : hs::ServiceSetup::known_keys()) candidates.insert(std::string(k));
  for (const auto& src : kParserSources) {
    if (!fs::exists(std::string(HSK_TEST_SOURCE_DIR "/../") + src)) continue;  // an adapter left out
    for (const auto& k : literals_of(hsk_test::read_file(std::string(HSK_TEST_SOURCE_DIR "/../") + src))) {
      candidates.insert(k);
    }
  }

  auto in_service = [&](const std::string& label, bool refuses, std::function<Json(const std::string&, const Json&)> make) {
    return Context{label, refuses, [&files, make](const std::string& k, const Json& v) { return files.load(make(k, v)); }};
  };

  SECTION("service.yaml top level") {
    const auto documented = table_keys(doc, "service");
    std::set<std::string> known;
    for (auto k : hs::ServiceSetup::known_keys()) known.insert(std::string(k));
    CHECK(std::set<std::string>(documented.begin(), documented.end()) == known);
    check_table(doc, "service",
                {in_service("top", true, [](const std::string& k, const Json& v) { return Json{{k, v}}; })}, candidates);
  }
  SECTION("service.yaml resolvers[]") {
    auto resolver = [&](const std::string& type) {
      return in_service("resolvers[0] " + type, true, [&minimal, type](const std::string& k, const Json& v) {
        return with(minimal, "resolvers", Json::array({with(Json{{"type", type}}, k, v)}));
      });
    };
    check_table(doc, "service.resolvers[]", {resolver("well_known"), resolver("registry")}, candidates);
  }
  SECTION("service.yaml policy") {
    auto policy = [](const Json& doc_) { return outcome_of([&] { return hs::Policy::from_json(doc_); }); };
    check_table(doc, "service.policy",
                {Context{"policy", true, [&](const std::string& k, const Json& v) { return policy(Json{{k, v}}); }}},
                candidates);
    check_table(doc, "service.policy.rules[]",
                {Context{"policy.rules[0]", true,
                         [&](const std::string& k, const Json& v) {
                           return policy(Json{{"rules", Json::array({with(Json{{"effect", "deny"}}, k, v)})}});
                         }}},
                candidates);
    // And through service.yaml.
    CHECK(files.load(with(minimal, "policy", Json{{kBogus, 1}})).has_value());
  }
  SECTION("service.yaml rate_limits[]") {
    check_table(doc, "service.rate_limits[]",
                {in_service("rate_limits[0]", true, [&](const std::string& k, const Json& v) {
                  Json rule = with(Json{{"count", 1}, {"per_seconds", 1}}, k, v);
                  return with(minimal, "rate_limits", Json::array({rule}));
                })},
                candidates);
  }
  SECTION("service.yaml nonce_store") {
    auto store = [&](Json base, bool refuses, const std::string& label) {
      return in_service(label, refuses, [&minimal, base](const std::string& k, const Json& v) {
        return with(minimal, "nonce_store", with(base, k, v));
      });
    };
    check_table(doc, "service.nonce_store",
                {store(Json::object(), true, "memory"), store(Json{{"type", "sqlite"}, {"path", "n.db"}}, true, "sqlite"),
                 store(Json{{"type", "postgres"}}, true, "postgres")},
                candidates);
  }
  SECTION("service.yaml rate_limit_store") {
    auto store = [&](Json base, bool refuses, const std::string& label) {
      return in_service(label, refuses, [&minimal, base](const std::string& k, const Json& v) {
        return with(minimal, "rate_limit_store", with(base, k, v));
      });
    };
    check_table(doc, "service.rate_limit_store",
                {store(Json::object(), true, "memory"), store(Json{{"type", "postgres"}}, true, "postgres")}, candidates);
  }
  SECTION("service.yaml revocations") {
    check_table(doc, "service.revocations",
                {in_service("revocations", true,
                            [&](const std::string& k, const Json& v) { return with(minimal, "revocations", Json{{k, v}}); })},
                candidates);
    check_table(doc, "service.revocations.feeds[]",
                {in_service("revocations.feeds[0]", true, [&](const std::string& k, const Json& v) {
                  return with(minimal, "revocations", Json{{"feeds", Json::array({Json{{k, v}}})}});
                })},
                candidates);
    check_table(doc, "service.revocations.postgres",
                {in_service("revocations.postgres", true, [&](const std::string& k, const Json& v) {
                  return with(minimal, "revocations", Json{{"postgres", Json{{k, v}}}});
                })},
                candidates);
  }
  SECTION("tls") {
    auto tls_in_resolver = in_service("resolvers[0].tls", true, [&](const std::string& k, const Json& v) {
      return with(minimal, "resolvers", Json::array({Json{{"type", "well_known"}, {"tls", Json{{k, v}}}}}));
    });
    Context direct{"tls", true, [&](const std::string& k, const Json& v) {
                     return outcome_of([&] { return hs::net::tls_client_options_from_json(Json{{k, v}}, files.path()); });
                   }};
    check_table(doc, "tls", {direct}, candidates);
    check_table(doc, "tls", {tls_in_resolver}, candidates);
  }
  SECTION("tools.yaml and skills.yaml") {
    auto map = [](const hs::ActionMapFormat& f, const Json& d) {
      return outcome_of([&] { return hs::ActionMap::from_json(d, f); });
    };
    check_table(doc, "tool_map", {Context{"tools.yaml", true, [&](const std::string& k, const Json& v) {
                                            return map(kTools, Json{{k, v}});
                                          }}},
                candidates);
    check_table(doc, "skill_map", {Context{"skills.yaml", true, [&](const std::string& k, const Json& v) {
                                             return map(kSkills, Json{{k, v}});
                                           }}},
                candidates);
    for (const auto* f : {&kTools, &kSkills}) {
      check_table(doc, "action_map.entry",
                  {Context{f->section + ".x", true,
                           [&, f](const std::string& k, const Json& v) {
                             Json entry = with(Json{{"capability", "text.echo"}}, k, v);
                             return map(*f, Json{{f->section, Json{{"x", entry}}}});
                           }}},
                  candidates);
      check_table(doc, "action_map.constraint",
                  {Context{f->section + ".x.constraints.c", true,
                           [&, f](const std::string& k, const Json& v) {
                             Json source = with(Json{{"from", f->root + ".a"}}, k, v);
                             Json entry{{"capability", "text.echo"}, {"constraints", Json{{"c", source}}}};
                             return map(*f, Json{{f->section, Json{{"x", entry}}}});
                           }}},
                  candidates);
    }
  }
  SECTION("capabilities.json") {
    auto caps = [](const Json& d) {
      return outcome_of([&] { return hs::capability::CapabilitySchemaSet::from_json(d); });
    };
    check_table(doc, "capabilities", {Context{"document", false, [&](const std::string& k, const Json& v) {
                                                Json d{{"capabilities", Json::array()}};
                                                d[k] = v;
                                                return caps(d);
                                              }}},
                candidates);
    check_table(doc, "capabilities[]", {Context{"capabilities[0]", false, [&](const std::string& k, const Json& v) {
                                                  Json c = with(Json{{"name", "text.echo"}}, k, v);
                                                  return caps(Json{{"capabilities", Json::array({c})}});
                                                }}},
                candidates);
    check_table(doc, "capabilities[].constraints.*",
                {Context{"capabilities[0].constraints.c", false, [&](const std::string& k, const Json& v) {
                           Json c{{"name", "text.echo"},
                                  {"constraints", Json{{"c", with(Json{{"type", "numeric_max"}}, k, v)}}}};
                           return caps(Json{{"capabilities", Json::array({c})}});
                         }}},
                candidates);
    // And inline in service.yaml.
    CHECK(!files.load(with(minimal, "capabilities", Json{{"capabilities", Json::array({Json{{"name", "text.echo"}}})}})));
  }
}
