#include "handshake/ap2/amount.hpp"

#include <cmath>
#include <string>

namespace handshake::ap2 {

namespace {

Error amount_error(std::string reason, std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(reason), std::move(message));
}

bool is_code(std::string_view code) {
  if (code.size() != 3) return false;
  for (char c : code) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

}  // namespace

CurrencyTable CurrencyTable::iso4217() {
  CurrencyTable t;
  // Exponent 0, 3 and 4: every active ISO 4217 code with that exponent (2024 list).
  for (const char* c : {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
                        "VUV", "XAF", "XOF", "XPF"}) {
    t.exponents_[c] = 0;
  }
  for (const char* c : {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}) t.exponents_[c] = 3;
  for (const char* c : {"CLF", "UYW"}) t.exponents_[c] = 4;
  // Exponent 2: the widely used codes. Others are added by configuration.
  for (const char* c : {"AED", "ARS", "AUD", "BGN", "BRL", "CAD", "CHF", "CNY", "COP", "CZK", "DKK", "EGP", "EUR",
                        "GBP", "HKD", "HUF", "IDR", "ILS", "INR", "KES", "MAD", "MXN", "MYR", "NGN", "NOK", "NZD",
                        "PEN", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SEK", "SGD", "THB", "TRY",
                        "TWD", "UAH", "USD", "ZAR"}) {
    t.exponents_[c] = 2;
  }
  return t;
}

Status CurrencyTable::add(std::string_view code, int exponent) {
  if (!is_code(code) || exponent < 0 || exponent > 4) {
    return amount_error("ap2.currency_invalid", "a currency is three upper-case letters with an exponent 0..4");
  }
  exponents_[std::string(code)] = exponent;
  return ok_status();
}

std::optional<int> CurrencyTable::exponent(std::string_view code) const {
  auto it = exponents_.find(code);
  if (it == exponents_.end()) return std::nullopt;
  return it->second;
}

Result<std::int64_t> to_minor_units(const Json& value, std::string_view currency, const CurrencyTable& table) {
  const auto exp = table.exponent(currency);
  if (!exp) return amount_error("ap2.currency_unknown", "currency '" + std::string(currency) + "' is not configured");
  if (!value.is_number()) return amount_error("ap2.amount_invalid", "an amount value must be a JSON number");

  // The decimal text of the value: integers as they are, doubles in their shortest round-trip
  // form (what the sender serialized), e.g. "19.99", "1e+21", "1.5e-7".
  std::string text;
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (!std::isfinite(d)) return amount_error("ap2.amount_invalid", "an amount must be finite");
    text = json::format_number(d);
  } else {
    text = value.dump();
  }
  bool negative = false;
  std::size_t i = 0;
  if (i < text.size() && text[i] == '-') negative = true, ++i;
  std::string digits;   // all significant digits, integer part then fraction
  long point = 0;       // digits before the decimal point
  bool seen_point = false;
  for (; i < text.size() && text[i] != 'e' && text[i] != 'E'; ++i) {
    if (text[i] == '.') {
      seen_point = true;
    } else {
      digits.push_back(text[i]);
      if (!seen_point) ++point;
    }
  }
  if (i < text.size()) point += std::stol(text.substr(i + 1));  // "e+21" / "e-7"
  point += *exp;  // scale to minor units
  // digits[0, point) is the integer part in minor units; digits[point, ...) must all be zero.
  std::int64_t minor = 0;
  for (long k = 0; k < static_cast<long>(digits.size()); ++k) {
    const int d = digits[static_cast<std::size_t>(k)] - '0';
    if (k >= point) {
      if (d != 0) {
        return amount_error("ap2.amount_inexact", text + " " + std::string(currency) +
                                                      " has digits below the minor unit (exponent " +
                                                      std::to_string(*exp) + ")");
      }
      continue;
    }
    if (minor > kMaxMinorUnits / 10) return amount_error("ap2.amount_invalid", "amount too large");
    minor = minor * 10 + d;
  }
  for (long k = static_cast<long>(digits.size()); k < point; ++k) {  // trailing zeros of a large exponent
    if (minor > kMaxMinorUnits / 10) return amount_error("ap2.amount_invalid", "amount too large");
    minor *= 10;
  }
  if (minor > kMaxMinorUnits) return amount_error("ap2.amount_invalid", "amount too large");
  return negative ? -minor : minor;
}

}  // namespace handshake::ap2
