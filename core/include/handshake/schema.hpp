// JSON Schema (draft 2020-12 documents, checked with valijson) for every message kind. The
// schemas are those under schemas/v0.2.3/, compiled into the library.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake::schema {

// Validates `doc` against the named schema file (e.g. "delegation-token.json"). Every keyword
// but "format" is checked; formatted fields (timestamps) are held to stricter rules by the typed
// parsers. Patterns run through std::regex: validate documents that went through
// json::parse_strict (size-bounded).
// Errors: kSchema "schema.invalid" with the first few violations and their JSON paths;
// kNotFound "schema.unknown" for a name that is not embedded.
[[nodiscard]] Status validate(std::string_view schema_name, const Json& doc);

namespace detail {
// validate() minus the "pattern" keywords that the typed message parsers (messages.hpp) enforce
// themselves before they call this; for those parsers only.
[[nodiscard]] Status validate_structure(std::string_view schema_name, const Json& doc);
}  // namespace detail

// Names of the embedded schema files.
[[nodiscard]] std::vector<std::string> names();

// The text of an embedded schema, or kNotFound.
[[nodiscard]] Result<std::string_view> text(std::string_view schema_name);

}  // namespace handshake::schema
