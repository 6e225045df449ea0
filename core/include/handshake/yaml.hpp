// YAML configuration files as JSON, so that every configuration is checked by one set of rules.
#pragma once

#include <string_view>

#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake {

// YAML text to JSON (scalars: null, true/false, integers, decimals, otherwise strings; quoted
// scalars stay strings; duplicate keys refused; nesting at most 64). Errors: kParse "yaml.invalid".
[[nodiscard]] Result<Json> yaml_to_json(std::string_view text);

}  // namespace handshake
