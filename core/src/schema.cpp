#include "handshake/schema.hpp"

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

// Parsed schemas, built once. valijson's Schema is immutable after parsing, so sharing it
// across threads is safe; each validation uses its own Validator.
class Registry {
 public:
  static const Registry& get() {
    static const Registry r;
    return r;
  }

  const valijson::Schema* find(std::string_view name) const {
    auto it = schemas_.find(std::string(name));
    return it == schemas_.end() ? nullptr : it->second.get();
  }

 private:
  Registry() {
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
      docs_.emplace(std::string(name), Json::parse(text));
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

  std::string broken_;
  std::map<std::string, Json> docs_;
  std::map<std::string, std::unique_ptr<valijson::Schema>> schemas_;
};

}  // namespace

Status validate(std::string_view schema_name, const Json& doc) {
  const Registry& registry = Registry::get();
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
