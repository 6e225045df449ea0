// Typed access to the members of a JSON object with the path of the first bad one in the error
// (internal to handshake_ap2). Absent and null are the same for optional members.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::ap2::detail {

class Fields {
 public:
  // Errors: kSchema `reason` "<path>: expected an object".
  [[nodiscard]] static Result<Fields> of(const Json& j, std::string path, std::string reason) {
    if (!j.is_object()) return make_error(ErrorCode::kSchema, reason, path + ": expected an object");
    return Fields(j, std::move(path), std::move(reason));
  }

  [[nodiscard]] const Json* get(std::string_view name) const {
    auto it = obj_->find(std::string(name));
    if (it == obj_->end() || it->is_null()) return nullptr;
    return &*it;
  }
  [[nodiscard]] std::string at(std::string_view name) const { return path_ + "." + std::string(name); }
  [[nodiscard]] Error error(std::string_view name, std::string_view what) const {
    return make_error(ErrorCode::kSchema, reason_, at(name) + ": " + std::string(what));
  }
  [[nodiscard]] const std::string& reason() const { return reason_; }

  [[nodiscard]] Result<const Json*> required(std::string_view name) const {
    const Json* v = get(name);
    if (!v) return error(name, "required");
    return v;
  }
  [[nodiscard]] Result<std::string> str(std::string_view name) const {
    HSK_ASSIGN_OR_RETURN(const Json* v, required(name));
    if (!v->is_string()) return error(name, "expected a string");
    return v->get<std::string>();
  }
  [[nodiscard]] Result<std::optional<std::string>> opt_str(std::string_view name) const {
    const Json* v = get(name);
    if (!v) return std::optional<std::string>();
    if (!v->is_string()) return error(name, "expected a string or null");
    return std::optional<std::string>(v->get<std::string>());
  }
  [[nodiscard]] Result<std::optional<bool>> opt_bool(std::string_view name) const {
    const Json* v = get(name);
    if (!v) return std::optional<bool>();
    if (!v->is_boolean()) return error(name, "expected a boolean or null");
    return std::optional<bool>(v->get<bool>());
  }
  [[nodiscard]] Result<std::optional<std::int64_t>> opt_int(std::string_view name) const {
    const Json* v = get(name);
    if (!v) return std::optional<std::int64_t>();
    // Strict: an integer literal (30), not 30.0 and not "30".
    if (v->is_number_integer()) return std::optional<std::int64_t>(v->get<std::int64_t>());
    return error(name, "expected an integer or null");
  }
  [[nodiscard]] Result<std::optional<std::vector<std::string>>> opt_strings(std::string_view name) const {
    const Json* v = get(name);
    if (!v) return std::optional<std::vector<std::string>>();
    if (!v->is_array()) return error(name, "expected an array of strings or null");
    std::vector<std::string> out;
    for (const auto& e : *v) {
      if (!e.is_string()) return error(name, "expected an array of strings or null");
      out.push_back(e.get<std::string>());
    }
    return std::optional<std::vector<std::string>>(std::move(out));
  }
  [[nodiscard]] Result<const Json*> opt_object(std::string_view name) const {
    const Json* v = get(name);
    if (v && !v->is_object()) return error(name, "expected an object or null");
    return v;
  }
  [[nodiscard]] Result<const Json*> opt_array(std::string_view name) const {
    const Json* v = get(name);
    if (v && !v->is_array()) return error(name, "expected an array or null");
    return v;
  }
  // An ISO 8601 / RFC 3339 date-time with an offset.
  [[nodiscard]] Result<Timestamp> time(std::string_view name) const {
    HSK_ASSIGN_OR_RETURN(auto s, str(name));
    auto t = time::parse_rfc3339(s);
    if (!t.ok()) return error(name, "expected an RFC 3339 date-time with an offset");
    return t.value();
  }
  [[nodiscard]] Result<std::optional<Timestamp>> opt_time(std::string_view name) const {
    if (!get(name)) return std::optional<Timestamp>();
    HSK_ASSIGN_OR_RETURN(auto t, time(name));
    return std::optional<Timestamp>(t);
  }

 private:
  Fields(const Json& j, std::string path, std::string reason)
      : obj_(&j), path_(std::move(path)), reason_(std::move(reason)) {}
  const Json* obj_;
  std::string path_;
  std::string reason_;
};

}  // namespace handshake::ap2::detail
