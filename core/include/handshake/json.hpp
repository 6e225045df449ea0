// Strict JSON input and RFC 8785 (JCS) canonical output (§6.3).
//
// Everything that will be verified goes through parse_strict(): it accepts exactly RFC 8259 JSON
// and additionally refuses what would let two parties disagree about what was signed. The
// canonical writer is our own; nlohmann::json's dump() is never used for signing input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "handshake/result.hpp"

namespace handshake {

using Json = nlohmann::json;

namespace json {

struct ParseLimits {
  std::size_t max_bytes = 1024 * 1024;  // whole document
  std::size_t max_depth = 64;           // nested arrays/objects
};

// Parses `text` as one JSON value. Errors (all kParse), by reason token:
//   json.too_large          document longer than limits.max_bytes
//   json.too_deep           nesting deeper than limits.max_depth
//   json.syntax             anything RFC 8259 does not allow (with the byte offset)
//   json.invalid_utf8       malformed, overlong or surrogate-encoding UTF-8, or a BOM
//   json.lone_surrogate     a \uD800-\uDFFF escape not part of a valid pair
//   json.control_character  an unescaped U+0000..U+001F inside a string
//   json.duplicate_key      an object names the same member twice
//   json.inexact_integer    an integer literal that is neither exactly an IEEE-754 double nor
//                           that double's canonical spelling (e.g. 9007199254740993, which
//                           would be read and signed as 9007199254740992; 36028797018963970,
//                           JCS's own spelling of 2^55, is accepted)
//   json.number_out_of_range a number whose magnitude overflows a double
//   json.trailing_data      anything but whitespace after the value
// Integer literals that fit in int64 are stored as integers, other exact integers and all
// literals with a fraction or exponent as doubles (round to nearest, as ECMAScript does).
[[nodiscard]] Result<Json> parse_strict(std::string_view text, const ParseLimits& limits = {});

// RFC 8785 canonical form of `value`: object members sorted by their UTF-16 code units, no
// insignificant whitespace, numbers in ECMAScript Number::toString form, JCS string escaping.
// Errors (kInvalidArgument): jcs.non_finite (NaN/Infinity), jcs.inexact_integer (an integer
// outside ±2^53 that no double holds exactly), jcs.invalid_utf8 (a string that is not UTF-8).
[[nodiscard]] Result<std::string> canonicalize(const Json& value);

// canonicalize() of `object` as if its top-level member `omitted_member` were absent, without
// copying it (the signing input of every message). Errors: those of canonicalize, and
// kInvalidArgument "jcs.not_object".
[[nodiscard]] Result<std::string> canonicalize_without(const Json& object, std::string_view omitted_member);

// ECMAScript Number::toString(value) (ECMA-262 §6.1.6.1.20): shortest round-trip digits,
// "1e+21", "5e-324", -0 -> "0". Precondition: value is finite.
[[nodiscard]] std::string format_number(double value);

// Compares two strings by UTF-16 code units, as JCS orders object members. Both must be UTF-8.
[[nodiscard]] bool utf16_less(std::string_view a, std::string_view b) noexcept;

}  // namespace json
}  // namespace handshake
