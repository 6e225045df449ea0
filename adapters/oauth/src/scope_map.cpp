#include "handshake/oauth/scope_map.hpp"

#include <set>

#include "handshake/capability.hpp"
#include "handshake/yaml.hpp"

namespace handshake::oauth {
namespace {

Error bad(const std::string& m) { return make_error(ErrorCode::kSchema, "oauth.scope_map", m); }

bool scope_matches(std::string_view pattern, std::string_view scope) {
  if (!pattern.empty() && pattern.back() == '*') {
    const auto prefix = pattern.substr(0, pattern.size() - 1);
    return scope.size() >= prefix.size() && scope.substr(0, prefix.size()) == prefix;
  }
  return pattern == scope;
}

}  // namespace

Result<ScopeMap> ScopeMap::from_yaml(std::string_view text) {
  HSK_ASSIGN_OR_RETURN(auto doc, yaml_to_json(text));
  return from_json(doc);
}

Result<ScopeMap> ScopeMap::from_json(const Json& doc) {
  if (!doc.is_object()) return bad("the scope map is a mapping with \"scopes\"");
  for (const auto& [k, v] : doc.items()) {
    if (k != "scopes" && k != "unmapped_scopes") return bad("unknown key \"" + k.substr(0, 60) + "\"");
  }
  ScopeMap map;
  if (doc.contains("unmapped_scopes")) {
    const auto& u = doc["unmapped_scopes"];
    if (u == "ignore") {
      map.unmapped_ = Unmapped::kIgnore;
    } else if (u == "refuse") {
      map.unmapped_ = Unmapped::kRefuse;
    } else {
      return bad("unmapped_scopes is ignore or refuse");
    }
  }
  if (!doc.contains("scopes") || !doc["scopes"].is_array()) return bad("\"scopes\" must be a list");
  std::size_t i = 0;
  for (const auto& e : doc["scopes"]) {
    const std::string where = "scopes[" + std::to_string(i++) + "]";
    if (!e.is_object()) return bad(where + " must be a mapping");
    for (const auto& [k, v] : e.items()) {
      if (k != "scope" && k != "capability" && k != "constraints" && k != "delegable") {
        return bad(where + ": unknown key \"" + k.substr(0, 60) + "\"");
      }
    }
    if (!e.contains("scope") || !e["scope"].is_string() || e["scope"].get<std::string>().empty()) {
      return bad(where + ": scope must be a non-empty string");
    }
    Entry entry;
    entry.scope = e["scope"].get<std::string>();
    if (entry.scope.find('*') != std::string::npos && entry.scope.find('*') != entry.scope.size() - 1) {
      return bad(where + ": '*' may only end a scope pattern");
    }
    if (entry.scope.find(' ') != std::string::npos) return bad(where + ": a scope has no spaces");
    if (!e.contains("capability") || !e["capability"].is_string()) return bad(where + ": capability must be a string");
    entry.capability.name = e["capability"].get<std::string>();
    if (auto s = capability::validate_name(entry.capability.name); !s.ok()) {
      return bad(where + ": " + s.error().message);
    }
    if (e.contains("constraints")) {
      if (!e["constraints"].is_object()) return bad(where + ": constraints must be a mapping");
      entry.capability.constraints = e["constraints"];
    }
    if (e.contains("delegable")) {
      if (!e["delegable"].is_boolean()) return bad(where + ": delegable must be true or false");
      entry.capability.delegable = e["delegable"].get<bool>();
    }
    map.entries_.push_back(std::move(entry));
  }
  return map;
}

Result<std::vector<Capability>> ScopeMap::capabilities_for(const std::vector<std::string>& scopes) const {
  std::vector<Capability> out;
  std::set<std::string, std::less<>> names;
  for (const auto& scope : scopes) {
    bool mapped = false;
    for (const auto& e : entries_) {
      if (!scope_matches(e.scope, scope)) continue;
      mapped = true;
      if (names.insert(e.capability.name).second) out.push_back(e.capability);
    }
    if (!mapped && unmapped_ == Unmapped::kRefuse) {
      return make_error(ErrorCode::kPermission, "oauth.unmapped_scope",
                        "scope \"" + scope.substr(0, 100) + "\" has no Handshake capability");
    }
  }
  if (out.empty()) {
    return make_error(ErrorCode::kPermission, "oauth.no_capability", "none of the token's scopes maps to a capability");
  }
  return out;
}

}  // namespace handshake::oauth
