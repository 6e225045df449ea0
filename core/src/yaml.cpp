// YAML configuration text to JSON (yaml-cpp), for every configuration file the project reads.
#include "handshake/yaml.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdint>
#include <string>

namespace handshake {
namespace {

Json scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: always a string
  if (s == "null" || s == "~" || s.empty()) return nullptr;
  if (s == "true") return true;
  if (s == "false") return false;
  std::int64_t i;
  if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i); ec == std::errc() && p == s.data() + s.size()) {
    return i;
  }
  double d;
  if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d); ec == std::errc() && p == s.data() + s.size()) {
    return d;
  }
  return s;
}

Result<Json> convert(const YAML::Node& n, int depth) {
  if (depth > 64) return make_error(ErrorCode::kParse, "yaml.invalid", "nesting too deep");
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return Json(nullptr);
    case YAML::NodeType::Scalar: return scalar(n);
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      for (const auto& e : n) {
        HSK_ASSIGN_OR_RETURN(auto v, convert(e, depth + 1));
        a.push_back(std::move(v));
      }
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) return make_error(ErrorCode::kParse, "yaml.invalid", "map keys must be scalars");
        const std::string key = kv.first.Scalar();
        if (o.contains(key)) return make_error(ErrorCode::kParse, "yaml.invalid", "duplicate key \"" + key + "\"");
        HSK_ASSIGN_OR_RETURN(auto v, convert(kv.second, depth + 1));
        o[key] = std::move(v);
      }
      return o;
    }
  }
  return Json(nullptr);
}

}  // namespace

Result<Json> yaml_to_json(std::string_view text) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return convert(root, 0);
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::kParse, "yaml.invalid", e.what());
  }
}

}  // namespace handshake
