#include "handshake/json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace handshake::json {
namespace {

// Decodes one UTF-8 sequence at s[i]. Returns the code point and advances i, or returns -1 for
// malformed input (overlong forms, encoded surrogates, values above U+10FFFF, truncation).
std::int32_t decode_utf8(std::string_view s, std::size_t& i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  std::size_t len;
  std::uint32_t cp;
  std::uint32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    return -1;
  }
  if (i + len > s.size()) return -1;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += len;
  return static_cast<std::int32_t>(cp);
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Shortens what we quote back from hostile input.
std::string excerpt(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (char c : s.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) {
      out.push_back(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  if (s.size() > kMax) out += "...";
  return out;
}

class Parser {
 public:
  Parser(std::string_view text, const ParseLimits& limits) : s_(text), limits_(limits) {}

  Result<Json> run() {
    if (s_.size() > limits_.max_bytes) {
      return make_error(ErrorCode::kParse, "json.too_large",
                        "document of " + std::to_string(s_.size()) + " bytes exceeds the limit of " +
                            std::to_string(limits_.max_bytes));
    }
    if (s_.size() >= 3 && s_.substr(0, 3) == "\xEF\xBB\xBF") {
      return std::move(*fail("json.invalid_utf8", "byte order mark is not allowed"));
    }
    skip_ws();
    Json value;
    if (!parse_value(value, 0)) return std::move(*err_);
    skip_ws();
    if (pos_ != s_.size()) return std::move(*fail("json.trailing_data", "unexpected data after the value"));
    return value;
  }

 private:
  // Records the first error and returns false so callers can unwind with `return false`.
  bool set_error(std::string reason, std::string message) {
    if (!err_) {
      err_ = make_error(ErrorCode::kParse, std::move(reason),
                        std::move(message) + " (at byte " + std::to_string(pos_) + ")");
    }
    return false;
  }
  std::optional<Error> fail(std::string reason, std::string message) {
    set_error(std::move(reason), std::move(message));
    return err_;
  }

  void skip_ws() noexcept {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return set_error("json.syntax", "invalid literal");
    pos_ += word.size();
    return true;
  }

  bool parse_value(Json& out, std::size_t depth) {
    if (pos_ >= s_.size()) return set_error("json.syntax", "unexpected end of input");
    switch (s_[pos_]) {
      case '{': return parse_object(out, depth + 1);
      case '[': return parse_array(out, depth + 1);
      case '"': {
        std::string str;
        if (!parse_string(str)) return false;
        out = std::move(str);
        return true;
      }
      case 't': out = true; return literal("true");
      case 'f': out = false; return literal("false");
      case 'n': out = nullptr; return literal("null");
      default:
        if (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9')) return parse_number(out);
        return set_error("json.syntax", "unexpected character '" + excerpt(s_.substr(pos_, 1)) + "'");
    }
  }

  bool parse_object(Json& out, std::size_t depth) {
    if (depth > limits_.max_depth) {
      return set_error("json.too_deep", "nesting exceeds the limit of " + std::to_string(limits_.max_depth));
    }
    ++pos_;  // '{'
    out = Json::object();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return set_error("json.syntax", "expected a member name");
      std::string key;
      if (!parse_string(key)) return false;
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return set_error("json.syntax", "expected ':'");
      ++pos_;
      skip_ws();
      Json value;
      if (!parse_value(value, depth)) return false;
      auto [it, inserted] = out.get_ref<Json::object_t&>().emplace(std::move(key), std::move(value));
      if (!inserted) return set_error("json.duplicate_key", "duplicate member name \"" + excerpt(it->first) + "\"");
      skip_ws();
      if (pos_ >= s_.size()) return set_error("json.syntax", "unterminated object");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return set_error("json.syntax", "expected ',' or '}'");
    }
  }

  bool parse_array(Json& out, std::size_t depth) {
    if (depth > limits_.max_depth) {
      return set_error("json.too_deep", "nesting exceeds the limit of " + std::to_string(limits_.max_depth));
    }
    ++pos_;  // '['
    out = Json::array();
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      skip_ws();
      Json value;
      if (!parse_value(value, depth)) return false;
      out.get_ref<Json::array_t&>().push_back(std::move(value));
      skip_ws();
      if (pos_ >= s_.size()) return set_error("json.syntax", "unterminated array");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return set_error("json.syntax", "expected ',' or ']'");
    }
  }

  bool hex4(std::uint32_t& out) {
    if (pos_ + 4 > s_.size()) return set_error("json.syntax", "truncated \\u escape");
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9') out |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') out |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') out |= static_cast<std::uint32_t>(c - 'A' + 10);
      else return set_error("json.syntax", "invalid \\u escape");
    }
    return true;
  }

  bool parse_string(std::string& out) {
    ++pos_;  // opening quote
    while (true) {
      // Copy the run of plain bytes in one go.
      std::size_t run = pos_;
      while (run < s_.size()) {
        const auto u = static_cast<unsigned char>(s_[run]);
        if (u == '"' || u == '\\' || u < 0x20 || u >= 0x80) break;
        ++run;
      }
      out.append(s_.data() + pos_, run - pos_);
      pos_ = run;
      if (pos_ >= s_.size()) return set_error("json.syntax", "unterminated string");
      const auto u = static_cast<unsigned char>(s_[pos_]);
      if (u == '"') {
        ++pos_;
        return true;
      }
      if (u < 0x20) return set_error("json.control_character", "unescaped control character in string");
      if (u >= 0x80) {
        const std::size_t start = pos_;
        if (decode_utf8(s_, pos_) < 0) return set_error("json.invalid_utf8", "invalid UTF-8 in string");
        out.append(s_.data() + start, pos_ - start);
        continue;
      }
      // Backslash escape.
      ++pos_;
      if (pos_ >= s_.size()) return set_error("json.syntax", "unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return set_error("json.lone_surrogate", "unpaired low surrogate escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            std::uint32_t lo;
            if (s_.substr(pos_, 2) != "\\u") return set_error("json.lone_surrogate", "unpaired high surrogate escape");
            pos_ += 2;
            if (!hex4(lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return set_error("json.lone_surrogate", "high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return set_error("json.syntax", "invalid escape '\\" + excerpt(std::string_view(&e, 1)) + "'");
      }
    }
  }

  bool parse_number(Json& out) {
    const std::size_t start = pos_;
    bool integer = true;
    if (s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') return set_error("json.syntax", "invalid number");
    if (s_[pos_] == '0') {
      ++pos_;
      if (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') return set_error("json.syntax", "leading zero in number");
    } else {
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integer = false;
      ++pos_;
      if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') return set_error("json.syntax", "digit expected after '.'");
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integer = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') return set_error("json.syntax", "digit expected in exponent");
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    const std::string_view lit = s_.substr(start, pos_ - start);

    if (integer) {
      std::int64_t i64;
      auto [p, ec] = std::from_chars(lit.data(), lit.data() + lit.size(), i64);
      if (ec == std::errc() && p == lit.data() + lit.size()) {
        constexpr std::int64_t kExact = std::int64_t{1} << 53;
        if (i64 >= -kExact && i64 <= kExact) {
          out = i64;
          return true;
        }
      }
    }
    double d;
    auto [p, ec] = std::from_chars(lit.data(), lit.data() + lit.size(), d);
    if (ec == std::errc::result_out_of_range) {
      if (!is_underflow(lit)) return set_error("json.number_out_of_range", "number " + excerpt(lit) + " overflows a double");
      d = lit[0] == '-' ? -0.0 : 0.0;
    } else if (ec != std::errc() || p != lit.data() + lit.size() || !std::isfinite(d)) {
      return set_error("json.number_out_of_range", "number " + excerpt(lit) + " is not representable");
    }
    if (integer) {
      // The literal must be exactly the integer the double holds, or that double's canonical
      // spelling (2^55 is written 36028797018963970 by JCS); anything else means the sender and
      // the verifier would read, and sign, different numbers.
      if (!integer_literal_equals(lit, d) && format_number(d) != lit) {
        return set_error("json.inexact_integer", "integer " + excerpt(lit) + " cannot be represented exactly by an IEEE-754 double");
      }
      if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        out = static_cast<std::int64_t>(d);
        return true;
      }
    }
    out = d;
    return true;
  }

  // True when a literal that from_chars reported out of range is tiny rather than huge.
  static bool is_underflow(std::string_view lit) {
    std::size_t e = lit.find_first_of("eE");
    if (e == std::string_view::npos) return false;
    return e + 1 < lit.size() && lit[e + 1] == '-';
  }

  static bool integer_literal_equals(std::string_view lit, double d) {
    if (lit[0] == '-') lit.remove_prefix(1);
    char buf[400];
    const int n = std::snprintf(buf, sizeof buf, "%.0f", std::fabs(d));  // exact in glibc
    return n > 0 && static_cast<std::size_t>(n) < sizeof buf && lit == std::string_view(buf, static_cast<std::size_t>(n));
  }

  std::string_view s_;
  const ParseLimits& limits_;
  std::size_t pos_ = 0;
  std::optional<Error> err_;
};

// ---- canonical writer ------------------------------------------------------------------------

bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    if (decode_utf8(s, i) < 0) return false;
  }
  return true;
}

// Bytes JCS escapes: controls, '"' and '\\'.
constexpr std::array<bool, 256> kNeedsEscape = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = true;
  t['"'] = t['\\'] = true;
  return t;
}();

void write_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the pending run of bytes copied as they are
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (!kNeedsEscape[u]) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (u) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 0xF]};
        out.append(esc, 6);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

Status write_value(std::string& out, const Json& v, std::string_view omit = {}, bool has_omit = false) {
  switch (v.type()) {
    case Json::value_t::null: out += "null"; return {};
    case Json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return {};
    case Json::value_t::number_integer: {
      const auto i = v.get<std::int64_t>();
      constexpr std::int64_t kExact = std::int64_t{1} << 53;
      if (i >= -kExact && i <= kExact) {
        out += std::to_string(i);
        return {};
      }
      const auto d = static_cast<double>(i);
      if (d >= 9223372036854775808.0 || static_cast<std::int64_t>(d) != i) {
        return make_error(ErrorCode::kInvalidArgument, "jcs.inexact_integer",
                          std::to_string(i) + " cannot be represented exactly by an IEEE-754 double");
      }
      out += format_number(d);
      return {};
    }
    case Json::value_t::number_unsigned: {
      const auto u = v.get<std::uint64_t>();
      const auto d = static_cast<double>(u);
      if (u > (std::uint64_t{1} << 53) && (d >= 18446744073709551616.0 || static_cast<std::uint64_t>(d) != u)) {
        return make_error(ErrorCode::kInvalidArgument, "jcs.inexact_integer",
                          std::to_string(u) + " cannot be represented exactly by an IEEE-754 double");
      }
      out += format_number(d);
      return {};
    }
    case Json::value_t::number_float: {
      const double d = v.get<double>();
      if (!std::isfinite(d)) return make_error(ErrorCode::kInvalidArgument, "jcs.non_finite", "NaN and Infinity have no JSON form");
      out += format_number(d);
      return {};
    }
    case Json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (!valid_utf8(s)) return make_error(ErrorCode::kInvalidArgument, "jcs.invalid_utf8", "string is not valid UTF-8");
      write_string(out, s);
      return {};
    }
    case Json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.get_ref<const Json::array_t&>()) {
        if (!first) out.push_back(',');
        first = false;
        HSK_TRY(write_value(out, e));
      }
      out.push_back(']');
      return {};
    }
    case Json::value_t::object: {
      const auto& obj = v.get_ref<const Json::object_t&>();
      std::vector<const Json::object_t::value_type*> members;
      members.reserve(obj.size());
      bool ascii = true;
      for (const auto& m : obj) {
        if (has_omit && m.first == omit) continue;
        if (!valid_utf8(m.first)) return make_error(ErrorCode::kInvalidArgument, "jcs.invalid_utf8", "member name is not valid UTF-8");
        members.push_back(&m);
        if (ascii) ascii = std::none_of(m.first.begin(), m.first.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
      }
      // std::map already orders by bytes, which equals UTF-16 order for ASCII names.
      if (!ascii) {
        std::stable_sort(members.begin(), members.end(),
                         [](const auto* a, const auto* b) { return utf16_less(a->first, b->first); });
      }
      out.push_back('{');
      bool first = true;
      for (const auto* m : members) {
        if (!first) out.push_back(',');
        first = false;
        write_string(out, m->first);
        out.push_back(':');
        HSK_TRY(write_value(out, m->second));
      }
      out.push_back('}');
      return {};
    }
    case Json::value_t::binary:
    case Json::value_t::discarded:
      break;
  }
  return make_error(ErrorCode::kInvalidArgument, "jcs.unsupported_value", "value has no JSON form");
}

// The UTF-16 code units of the code point starting at s[i]; advances i. Input is valid UTF-8.
void next_units(std::string_view s, std::size_t& i, std::uint16_t units[2], int& count) noexcept {
  const std::int32_t cp = decode_utf8(s, i);
  if (cp < 0x10000) {
    units[0] = static_cast<std::uint16_t>(cp);
    count = 1;
  } else {
    const auto v = static_cast<std::uint32_t>(cp) - 0x10000;
    units[0] = static_cast<std::uint16_t>(0xD800 + (v >> 10));
    units[1] = static_cast<std::uint16_t>(0xDC00 + (v & 0x3FF));
    count = 2;
  }
}

}  // namespace

bool utf16_less(std::string_view a, std::string_view b) noexcept {
  std::size_t i = 0, j = 0;
  std::uint16_t ua[2], ub[2];
  int na = 0, nb = 0, ia = 0, ib = 0;
  while (true) {
    if (ia == na) {
      if (i >= a.size()) break;
      next_units(a, i, ua, na);
      ia = 0;
    }
    if (ib == nb) {
      if (j >= b.size()) break;
      next_units(b, j, ub, nb);
      ib = 0;
    }
    if (ua[ia] != ub[ib]) return ua[ia] < ub[ib];
    ++ia, ++ib;
  }
  const bool a_done = ia == na && i >= a.size();
  const bool b_done = ib == nb && j >= b.size();
  return a_done && !b_done;
}

std::string format_number(double value) {
  if (value == 0.0) return "0";  // also -0
  std::string out;
  if (value < 0) {
    out.push_back('-');
    value = -value;
  }
  // Shortest round-trip digits (libstdc++ uses Ryu), in scientific form "d[.ddd]e±XX".
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<std::size_t>(end - buf));
  const std::size_t epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos)) {
    if (c != '.') digits.push_back(c);
  }
  int exp10 = 0;
  std::from_chars(sci.data() + epos + 1 + (sci[epos + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp10);
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;  // value = 0.digits × 10^n

  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<std::size_t>(n));
    out.push_back('.');
    out.append(digits, static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out.push_back('e');
    out.push_back(n - 1 >= 0 ? '+' : '-');
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

Result<Json> parse_strict(std::string_view text, const ParseLimits& limits) {
  Parser p(text, limits);
  return p.run();
}

Result<std::string> canonicalize(const Json& value) {
  std::string out;
  out.reserve(1024);
  HSK_TRY(write_value(out, value));
  return out;
}

Result<std::string> canonicalize_without(const Json& object, std::string_view omitted_member) {
  if (!object.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "jcs.not_object", "canonicalize_without needs an object");
  }
  std::string out;
  out.reserve(2048);
  HSK_TRY(write_value(out, object, omitted_member, true));
  return out;
}

}  // namespace handshake::json
