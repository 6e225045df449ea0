#include "handshake/action_map.hpp"

#include <fstream>
#include <sstream>

#include "handshake/yaml.hpp"

namespace handshake {
namespace {

Error map_error(std::string_view reason, const std::string& where, const std::string& what) {
  return make_error(ErrorCode::kSchema, std::string(reason), where + ": " + what);
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

Result<std::vector<std::string>> ActionMap::parse_path(std::string_view from, std::string_view root,
                                                       std::string_view reason) {
  if (from.substr(0, root.size()) != root) {
    return map_error(reason, std::string(from), "a source path starts with \"" + std::string(root) + "\"");
  }
  std::vector<std::string> out;
  std::string_view rest = from.substr(root.size());
  while (!rest.empty()) {
    if (rest.front() != '.') return map_error(reason, std::string(from), "segments are separated by '.'");
    rest.remove_prefix(1);
    const auto dot = rest.find('.');
    const std::string_view seg = rest.substr(0, dot);
    if (seg.empty()) return map_error(reason, std::string(from), "empty segment");
    out.emplace_back(seg);
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot);
  }
  if (out.empty()) return map_error(reason, std::string(from), "name a member of " + std::string(root));
  if (out.size() > 16) return map_error(reason, std::string(from), "at most 16 segments");
  return out;
}

Result<ActionMap> ActionMap::from_json(const Json& doc, const ActionMapFormat& format) {
  const std::string_view reason = format.reason;
  if (!doc.is_object()) return map_error(reason, "(top)", "must be a mapping");
  ActionMap map;
  map.format_ = format;
  for (const auto& [key, value] : doc.items()) {
    if (key == "unmapped") {
      if (value == "refuse") {
        map.unmapped_ = UnmappedActions::kRefuse;
      } else if (value == "pass") {
        map.unmapped_ = UnmappedActions::kPassThrough;
      } else {
        return map_error(reason, "unmapped", "must be refuse or pass");
      }
    } else if (key == format.section) {
      if (value.is_null()) continue;
      if (!value.is_object()) return map_error(reason, key, "must be a mapping of names");
      for (const auto& [name, spec] : value.items()) {
        const std::string where = key + "." + name;
        if (name.empty() || name.size() > 128) return map_error(reason, where, "names have 1..128 characters");
        if (!spec.is_object()) return map_error(reason, where, "must be a mapping");
        ActionRule rule;
        rule.action = name;
        for (const auto& [k, v] : spec.items()) {
          if (k == "capability") {
            if (!v.is_string()) return map_error(reason, where + ".capability", "must be a string");
            rule.capability = v.get<std::string>();
            HSK_TRY(capability::validate_name(rule.capability));
          } else if (k == "constraints") {
            if (v.is_null()) continue;
            if (!v.is_object()) return map_error(reason, where + ".constraints", "must be a mapping");
            for (const auto& [cname, src] : v.items()) {
              const std::string w = where + ".constraints." + cname;
              ConstraintSource cs;
              cs.name = cname;
              if (src.is_string()) {
                cs.from = src.get<std::string>();
              } else if (src.is_object()) {
                for (const auto& [sk, sv] : src.items()) {
                  if (sk == "from") {
                    if (!sv.is_string()) return map_error(reason, w + ".from", "must be a string");
                    cs.from = sv.get<std::string>();
                  } else if (sk == "default") {
                    cs.fallback = sv;
                  } else {
                    return map_error(reason, w + "." + sk, "unknown key (from, default)");
                  }
                }
              } else {
                return map_error(reason, w, "must be a path (" + format.root + ".x) or {from, default}");
              }
              if (cs.from.empty()) return map_error(reason, w, "needs a source path");
              HSK_ASSIGN_OR_RETURN(cs.path, parse_path(cs.from, format.root, reason));
              rule.constraints.push_back(std::move(cs));
            }
          } else {
            return map_error(reason, where + "." + k, "unknown key (capability, constraints)");
          }
        }
        if (rule.capability.empty()) return map_error(reason, where, "needs a capability");
        map.add(std::move(rule));
      }
    } else {
      return map_error(reason, key, "unknown key (unmapped, " + format.section + ")");
    }
  }
  return map;
}

Result<ActionMap> ActionMap::from_yaml(std::string_view text, const ActionMapFormat& format) {
  HSK_ASSIGN_OR_RETURN(auto doc, yaml_to_json(text));
  if (doc.is_null()) doc = Json::object();
  return from_json(doc, format);
}

Result<ActionMap> ActionMap::load(const std::filesystem::path& path, const ActionMapFormat& format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kIo, format.reason + "_read", "cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  auto map = from_yaml(ss.str(), format);
  if (!map.ok()) {
    Error e = map.error();
    e.message = path.string() + ": " + e.message;
    return e;
  }
  return map;
}

const ActionRule* ActionMap::find(std::string_view action) const {
  const auto it = rules_.find(action);
  return it == rules_.end() ? nullptr : &it->second;
}

void ActionMap::add(ActionRule rule) {
  std::string key = rule.action;
  rules_.insert_or_assign(std::move(key), std::move(rule));
}

Json ActionMap::describe(const ActionRule& rule, const capability::CapabilitySchemaSet& schemas) {
  Json constraints = Json::object();
  for (const auto& c : rule.constraints) {
    Json entry{{"type", std::string(capability::to_string(schemas.type_of(rule.capability, c.name)))},
               {"from", c.from}};
    if (c.fallback) entry["default"] = *c.fallback;
    constraints[c.name] = std::move(entry);
  }
  return Json{{"capability", rule.capability}, {"constraints", std::move(constraints)}};
}

Json derive_constraints(const std::vector<ConstraintSource>& sources, const Json& arguments) {
  Json out = Json::object();
  for (const auto& s : sources) {
    const Json* at = &arguments;
    for (const auto& seg : s.path) {
      if (at->is_object()) {
        const auto it = at->find(seg);
        at = it == at->end() ? nullptr : &*it;
      } else if (at->is_array() && all_digits(seg) && seg.size() < 10) {
        const auto i = static_cast<std::size_t>(std::stoul(seg));
        at = i < at->size() ? &(*at)[i] : nullptr;
      } else {
        at = nullptr;
      }
      if (at == nullptr) break;
    }
    if (at != nullptr && !at->is_null()) {
      out[s.name] = *at;
    } else if (s.fallback) {
      out[s.name] = *s.fallback;
    }
  }
  return out;
}

ActionBinding bind_action(const ActionRule& rule, const Json& arguments) {
  return ActionBinding{rule.capability, derive_constraints(rule.constraints, arguments)};
}

Result<std::vector<ConstraintSource>> sources_from_description(const Json& meta, std::string_view root,
                                                               std::string_view reason) {
  auto bad = [&](const std::string& what) { return make_error(ErrorCode::kSchema, std::string(reason), what); };
  if (!meta.is_object()) return bad("the handshake description must be an object");
  std::vector<ConstraintSource> out;
  const auto c = meta.find("constraints");
  if (c == meta.end() || c->is_null()) return out;
  if (!c->is_object()) return bad("constraints must be an object");
  for (const auto& [name, entry] : c->items()) {
    if (!entry.is_object() || !entry.contains("from") || !entry["from"].is_string()) {
      return bad("constraint " + name + " needs a string \"from\"");
    }
    ConstraintSource s;
    s.name = name;
    s.from = entry["from"].get<std::string>();
    auto path = ActionMap::parse_path(s.from, root, reason);
    if (!path.ok()) return bad(path.error().message);
    s.path = std::move(path).value();
    if (auto d = entry.find("default"); d != entry.end()) s.fallback = *d;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace handshake
