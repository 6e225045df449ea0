#include "handshake/policy.hpp"

#include <algorithm>

#include "handshake/capability.hpp"

namespace handshake {
namespace {

Error invalid(const std::string& where, const std::string& why) {
  return make_error(ErrorCode::kSchema, "policy.invalid", "policy" + where + ": " + why);
}

Result<std::vector<std::string>> string_list(const Json& rule, const char* key, const std::string& where) {
  std::vector<std::string> out;
  if (!rule.contains(key)) return out;
  const Json& v = rule[key];
  if (!v.is_array()) return invalid(where + "." + key, "must be an array of strings");
  for (const auto& e : v) {
    if (!e.is_string()) return invalid(where + "." + key, "must be an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

Result<Policy> Policy::from_json(const Json& doc) {
  Policy p;
  if (doc.is_null()) return p;
  if (!doc.is_object()) return invalid("", "must be an object");
  for (const auto& [k, v] : doc.items()) {
    if (k != "default" && k != "rules") return invalid("", "unknown member \"" + k + "\"");
  }
  if (doc.contains("default")) {
    if (doc["default"] != "allow" && doc["default"] != "deny") return invalid(".default", "must be allow or deny");
    p.default_deny_ = doc["default"] == "deny";
  }
  if (doc.contains("rules")) {
    if (!doc["rules"].is_array()) return invalid(".rules", "must be an array");
    std::size_t i = 0;
    for (const auto& r : doc["rules"]) {
      const std::string where = ".rules[" + std::to_string(i++) + "]";
      if (!r.is_object()) return invalid(where, "must be an object");
      for (const auto& [k, v] : r.items()) {
        static const char* kKnown[] = {"effect", "capability", "agents", "deployers", "models", "detail"};
        if (std::none_of(std::begin(kKnown), std::end(kKnown), [&key = k](const char* n) { return key == n; })) {
          return invalid(where, "unknown member \"" + k + "\"");
        }
      }
      Rule rule;
      if (!r.contains("effect") || (r["effect"] != "allow" && r["effect"] != "deny")) {
        return invalid(where + ".effect", "must be allow or deny");
      }
      rule.deny = r["effect"] == "deny";
      if (r.contains("capability")) {
        if (!r["capability"].is_string()) return invalid(where + ".capability", "must be a string");
        rule.capability = r["capability"].get<std::string>();
      }
      HSK_ASSIGN_OR_RETURN(rule.agents, string_list(r, "agents", where));
      HSK_ASSIGN_OR_RETURN(rule.deployers, string_list(r, "deployers", where));
      HSK_ASSIGN_OR_RETURN(rule.models, string_list(r, "models", where));
      if (r.contains("detail")) {
        if (!r["detail"].is_string()) return invalid(where + ".detail", "must be a string");
        rule.detail = r["detail"].get<std::string>();
      }
      p.rules_.push_back(std::move(rule));
    }
  }
  return p;
}

std::optional<std::string> Policy::denies(const HandshakeRequest& request) const {
  auto in = [](const std::vector<std::string>& list, const std::string& v) {
    return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
  };
  for (const auto& r : rules_) {
    if (r.capability && !capability::glob_match(*r.capability, request.capability.name)) continue;
    if (!in(r.agents, request.iss)) continue;
    if (!in(r.deployers, request.agent_attestation.deployer)) continue;
    if (!r.models.empty() && std::none_of(r.models.begin(), r.models.end(), [&](const std::string& m) {
          return capability::glob_match(m, request.agent_attestation.model);
        })) {
      continue;
    }
    if (!r.deny) return std::nullopt;
    return r.detail.empty() ? "denied by local policy" : r.detail;
  }
  if (default_deny_) return std::string("denied by local policy (default deny)");
  return std::nullopt;
}

}  // namespace handshake
