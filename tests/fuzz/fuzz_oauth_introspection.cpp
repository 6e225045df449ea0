// The OAuth bridge's parsers: the RFC 7662 introspection answer (what an authorization server
// sends back; oauth/introspection.hpp), the scope map (YAML or JSON; oauth/scope_map.hpp) and a
// bearer Authorization header (oauth/resource_server.hpp), each on every input.
//
// Properties:
//   - an answer that parses keeps the whole document as its claims, and its typed members are
//     those claims: active a boolean; when active, scopes are the non-empty space-separated parts
//     of "scope", aud the string or strings of "aud", exp/iat/nbf in 1970..9999, act an object;
//     an inactive answer carries nothing else;
//   - written back (its claims, or its scopes joined by one space), an answer parses to the same
//     typed answer;
//   - the fixed scope map grants only capabilities of entries matching one of the scopes, each
//     once;
//   - a scope map that loads has valid entries (non-empty scope without spaces, '*' only last, a
//     valid capability name) and, written back as JSON, loads to the same entries;
//   - a bearer token is non-empty and made of RFC 6750 b64token characters, and reads back from
//     "Bearer <token>".
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "handshake/oauth/introspection.hpp"
#include "handshake/oauth/resource_server.hpp"
#include "handshake/oauth/scope_map.hpp"

namespace {

using namespace hsk_fuzz;
namespace oauth = hs::oauth;

bool same(const oauth::TokenInfo& a, const oauth::TokenInfo& b) {
  return a.active == b.active && a.scopes == b.scopes && a.client_id == b.client_id && a.sub == b.sub && a.iss == b.iss &&
         a.username == b.username && a.token_type == b.token_type && a.jti == b.jti && a.aud == b.aud && a.exp == b.exp &&
         a.iat == b.iat && a.nbf == b.nbf && a.act == b.act && a.claims == b.claims;
}

void check_optional_text(const std::optional<std::string>& v, const Json& claims, const char* name) {
  const bool has = claims.contains(name);
  if (has != v.has_value() || (v && claims[name] != *v)) violated("a typed member is not its claim", name);
}

void check_introspection(std::string_view body) {
  const auto t = oauth::parse_introspection_response(body);
  if (!t.ok()) return;
  if (!t->active) {
    if (!t->scopes.empty() || t->sub || t->client_id || !t->aud.empty() || t->exp || t->act) {
      violated("an inactive answer carries token data", std::string(body));
    }
    return;
  }
  const Json& c = t->claims;
  if (!c.is_object() || c.value("active", Json()) != true) violated("an active answer's claims do not say active", std::string(body));
  for (const auto& s : t->scopes) {
    if (s.empty() || s.find(' ') != std::string::npos) violated("a scope is empty or holds a space", std::string(body));
  }
  if (!c.contains("scope") && !t->scopes.empty()) violated("scopes without a scope claim", std::string(body));
  check_optional_text(t->client_id, c, "client_id");
  check_optional_text(t->sub, c, "sub");
  check_optional_text(t->iss, c, "iss");
  check_optional_text(t->username, c, "username");
  check_optional_text(t->token_type, c, "token_type");
  check_optional_text(t->jti, c, "jti");
  if (c.contains("aud") && (c["aud"].is_string() ? t->aud != std::vector<std::string>{c["aud"].get<std::string>()}
                                                 : t->aud != c["aud"].get<std::vector<std::string>>())) {
    violated("aud is not its claim", std::string(body));
  }
  for (const auto& ts : {t->exp, t->iat, t->nbf}) {
    if (ts && (ts->time_since_epoch().count() < 0 || *ts > hs::Timestamp(std::chrono::seconds(253402300799)))) {
      violated("a time outside 1970..9999", std::string(body));
    }
  }
  if (t->act && !t->act->is_object()) violated("act is not an object", std::string(body));

  // Written back: the claims, and the scopes joined again.
  const auto again = oauth::parse_introspection_response(c.dump());
  if (!again.ok() || !same(*t, *again)) violated("an answer does not survive dump + parse", std::string(body));
  if (c.contains("scope")) {
    Json joined = c;
    std::string scope;
    for (const auto& s : t->scopes) scope += (scope.empty() ? "" : " ") + s;
    joined["scope"] = scope;
    const auto rejoined = oauth::parse_introspection_response(joined.dump());
    if (!rejoined.ok() || rejoined->scopes != t->scopes) violated("scopes do not survive join + parse", std::string(body));
  }

  // What the bridge does next: scopes -> capabilities through the fixed map.
  static const oauth::ScopeMap map = must(oauth::ScopeMap::from_yaml(R"(
unmapped_scopes: ignore
scopes:
  - scope: "invoices:read"
    capability: billing.invoices.read
    constraints: {max_invoices: 100}
  - scope: "files:*"
    capability: files.read
    delegable: true
  - scope: "*"
    capability: text.echo
)"));
  const auto caps = map.capabilities_for(t->scopes);
  if (!caps.ok()) return;
  std::set<std::string> names;
  for (const auto& cap : *caps) {
    if (!names.insert(cap.name).second) violated("a capability granted twice", std::string(body));
    bool matched = false;
    for (const auto& e : map.entries()) {
      if (e.capability.name != cap.name) continue;
      for (const auto& s : t->scopes) {
        const bool wildcard = !e.scope.empty() && e.scope.back() == '*';
        const std::string_view prefix = std::string_view(e.scope).substr(0, e.scope.size() - (wildcard ? 1 : 0));
        matched = matched || (wildcard ? s.compare(0, prefix.size(), prefix) == 0 : s == e.scope);
      }
    }
    if (!matched) violated("a capability granted for no matching scope", std::string(body));
  }
}

Json scope_map_json(const oauth::ScopeMap& m) {
  Json scopes = Json::array();
  for (const auto& e : m.entries()) {
    Json entry{{"scope", e.scope}, {"capability", e.capability.name}};
    if (!e.capability.constraints.is_null() && !(e.capability.constraints.is_object() && e.capability.constraints.empty())) {
      entry["constraints"] = e.capability.constraints;
    }
    if (e.capability.delegable) entry["delegable"] = *e.capability.delegable;
    scopes.push_back(entry);
  }
  return Json{{"unmapped_scopes", m.unmapped() == oauth::ScopeMap::Unmapped::kRefuse ? "refuse" : "ignore"}, {"scopes", scopes}};
}

void check_scope_map(std::string_view text) {
  const auto m = oauth::ScopeMap::from_yaml(text);
  if (!m.ok()) return;
  for (const auto& e : m->entries()) {
    const auto star = e.scope.find('*');
    if (e.scope.empty() || e.scope.find(' ') != std::string::npos || (star != std::string::npos && star != e.scope.size() - 1)) {
      violated("a loaded scope map has a malformed scope", std::string(text));
    }
    if (!hs::capability::validate_name(e.capability.name).ok()) violated("a loaded scope map names an invalid capability", std::string(text));
  }
  const Json written = scope_map_json(*m);
  const auto again = oauth::ScopeMap::from_json(written);
  if (!again.ok() || scope_map_json(*again) != written) violated("a scope map does not survive write + load", std::string(text));
}

void check_bearer(std::string_view header) {
  const auto token = oauth::bearer_token(header);
  if (!token) return;
  static constexpr std::string_view kB64Token =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";
  if (token->empty() || token->find_first_not_of(kB64Token) != std::string::npos) violated("a bearer token with other characters", std::string(header));
  if (oauth::bearer_token("Bearer " + *token) != token) violated("a bearer token does not read back", std::string(header));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = as_text(data, size);
  check_introspection(text);
  check_scope_map(text);
  if (size <= 8192) check_bearer(text);
  return 0;
}
