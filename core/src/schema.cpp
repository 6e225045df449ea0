#include "handshake/schema.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace handshake::schema {
namespace detail {
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_schemas();
}

namespace {

// Schema files whose every "pattern" is enforced, before valijson runs, by the typed parsers in
// messages.cpp (parse_did, ids::is_id, the base64url, nonce and hex checks, the capability name
// grammar) and by the typed DID Document and key-file loaders for the _common definitions they
// use. valijson runs patterns through std::regex, which costs more than the Ed25519
// verifications of a handshake; messages_test checks that each pattern is still enforced.
bool patterns_enforced_by_code(std::string_view name) {
  static constexpr std::string_view kFiles[] = {"_common.json",         "delegation-token.json",
                                                "handshake-request.json", "handshake-acceptance.json",
                                                "handshake-refusal.json", "receipt.json",
                                                "revocation-statement.json"};
  return std::find(std::begin(kFiles), std::end(kFiles), name) != std::end(kFiles);
}

// Drops "format" assertions before valijson sees a schema. valijson checks "date-time" by
// compiling a std::regex on every call (milliseconds each), and our typed parsers already hold
// every formatted field to a stricter rule (RFC 3339 timestamps: time::parse_rfc3339). Keys of a
// "properties" map are member names, not keywords, and are left alone.
void drop_format_keywords(Json& node, bool strip_patterns, bool is_properties_map = false) {
  if (node.is_object()) {
    if (!is_properties_map) {
      auto it = node.find("format");
      if (it != node.end() && it->is_string()) node.erase(it);
      auto pt = node.find("pattern");
      if (strip_patterns && pt != node.end() && pt->is_string()) node.erase(pt);
    }
    for (auto& [k, v] : node.items()) {
      drop_format_keywords(v, strip_patterns, !is_properties_map && (k == "properties" || k == "$defs"));
    }
  } else if (node.is_array()) {
    for (auto& v : node) drop_format_keywords(v, strip_patterns, false);
  }
}

// Parsed schemas, built once. valijson's Schema is immutable after parsing, so sharing it
// across threads is safe; each validation uses its own Validator.
class Registry {
 public:
  // full: every keyword but "format"; structural: also without the patterns that the typed
  // parsers enforce themselves (see patterns_enforced_by_code).
  static const Registry& get(bool structural) {
    static const Registry full(false);
    static const Registry lean(true);
    return structural ? lean : full;
  }

  const valijson::Schema* find(std::string_view name) const {
    auto it = schemas_.find(std::string(name));
    return it == schemas_.end() ? nullptr : it->second.get();
  }

 private:
  explicit Registry(bool structural) : structural_(structural) {
    try {
      load();
    } catch (const std::exception& e) {
      // The schemas are compiled in and covered by tests; reaching this is a build defect.
      broken_ = e.what();
      schemas_.clear();
    }
  }

 public:
  const std::string& broken() const { return broken_; }

 private:
  void load() {
    for (const auto& [name, text] : detail::embedded_schemas()) {
      Json doc = Json::parse(text);
      drop_format_keywords(doc, structural_ && patterns_enforced_by_code(name));
      docs_.emplace(std::string(name), std::move(doc));
    }
    for (const auto& [name, doc] : docs_) {
      auto schema = std::make_unique<valijson::Schema>();
      valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
      valijson::adapters::NlohmannJsonAdapter adapter(doc);
      // Cross-file references ("_common.json#/$defs/did") resolve among the embedded files only;
      // nothing is ever fetched.
      auto fetch = [this](const std::string& uri) -> const Json* {
        std::string file = uri;
        if (auto slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
        auto it = docs_.find(file);
        return it == docs_.end() ? nullptr : &it->second;
      };
      auto release = [](const Json*) {};
      parser.populateSchema(adapter, *schema, fetch, release);
      schemas_.emplace(name, std::move(schema));
    }
  }

  bool structural_ = false;
  std::string broken_;
  std::map<std::string, Json> docs_;
  std::map<std::string, std::unique_ptr<valijson::Schema>> schemas_;
};

}  // namespace

static Status validate_with(const Registry& registry, std::string_view schema_name, const Json& doc) {
  if (!registry.broken().empty()) {
    return make_error(ErrorCode::kInternal, "schema.broken", "embedded schemas failed to load: " + registry.broken());
  }
  const valijson::Schema* schema = registry.find(schema_name);
  if (schema == nullptr) {
    return make_error(ErrorCode::kNotFound, "schema.unknown", "no embedded schema named " + std::string(schema_name));
  }
  // One validator per thread keeps its compiled-pattern cache warm across calls.
  thread_local valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(doc);
  try {
    if (validator.validate(*schema, target, &results)) return {};
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kSchema, "schema.invalid", std::string(schema_name) + ": validation aborted: " + e.what());
  }
  std::string message = std::string(schema_name) + ":";
  valijson::ValidationResults::Error e;
  int shown = 0;
  while (results.popError(e) && shown < 4) {
    std::string path;
    for (const auto& p : e.context) path += p;
    message += " [" + path + "] " + e.description + ";";
    ++shown;
  }
  message.pop_back();
  return make_error(ErrorCode::kSchema, "schema.invalid", message);
}

Status validate(std::string_view schema_name, const Json& doc) {
  return validate_with(Registry::get(false), schema_name, doc);
}

namespace detail {
Status validate_structure(std::string_view schema_name, const Json& doc) {
  return validate_with(Registry::get(true), schema_name, doc);
}
}  // namespace detail

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const auto& [name, text] : detail::embedded_schemas()) out.emplace_back(name);
  return out;
}

Result<std::string_view> text(std::string_view schema_name) {
  for (const auto& [name, t] : detail::embedded_schemas()) {
    if (name == schema_name) return t;
  }
  return make_error(ErrorCode::kNotFound, "schema.unknown", "no embedded schema named " + std::string(schema_name));
}

}  // namespace handshake::schema
