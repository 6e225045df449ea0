// AP2 amounts: PaymentCurrencyAmount {currency, value} (v0.1: value is a JSON number in major
// units) converted to integer minor units with the currency's ISO 4217 exponent, exactly or not
// at all.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake::ap2 {

// The largest magnitude of a minor-unit amount we accept: 2^53, so every amount is exact both as
// an int64 and as the JSON number a numeric_max constraint compares it with.
inline constexpr std::int64_t kMaxMinorUnits = 9007199254740992LL;

// ISO 4217 minor-unit exponents. iso4217() knows the active codes with exponent 0, 3 and 4 and
// the common exponent-2 codes (USD, EUR, GBP, CHF, ...); anything else must be added by
// configuration (mapping YAML `currencies: {XYZ: 2}`). Unknown codes are refused, never guessed.
class CurrencyTable {
 public:
  [[nodiscard]] static CurrencyTable iso4217();
  // Adds or overrides a code. Errors: kInvalidArgument "ap2.currency_invalid" unless `code` is
  // three ASCII upper-case letters and 0 <= exponent <= 4.
  [[nodiscard]] Status add(std::string_view code, int exponent);
  // The exponent of `code`, or nullopt when unknown.
  [[nodiscard]] std::optional<int> exponent(std::string_view code) const;

 private:
  std::map<std::string, int, std::less<>> exponents_;
};

// `value` (a JSON number in major units) as integer minor units of `currency`. The number is read
// as the shortest decimal that round-trips its double (the text a Python or JS sender wrote, e.g.
// 19.99), then scaled by 10^exponent; any digit left below the minor unit is refused.
// Errors (kInvalidArgument): "ap2.currency_unknown" (not in `table`), "ap2.amount_invalid" (not
// a number, e.g. a string or a boolean; magnitude above kMaxMinorUnits), "ap2.amount_inexact"
// (more fraction digits than the exponent allows: 1.005 USD, 1.5 JPY).
[[nodiscard]] Result<std::int64_t> to_minor_units(const Json& value, std::string_view currency,
                                                  const CurrencyTable& table);

}  // namespace handshake::ap2
