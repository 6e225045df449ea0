#include "handshake/capability.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <cmath>
#include <limits>
#include <memory>
#include <set>
#include <utility>

#include <re2/re2.h>

namespace handshake::capability {
namespace {

// Bounds on everything a (possibly hostile) token can make us do.
constexpr std::size_t kMaxNameLength = 256;
constexpr std::size_t kMaxPatternLength = 1024;  // regexes and globs
constexpr std::size_t kMaxPathLength = 4096;     // paths matched against globs
constexpr std::size_t kMaxEnumEntries = 1024;
constexpr std::size_t kMaxAccumulated = 64;  // patterns, globs or rate limits per constraint
constexpr std::size_t kMaxDetailValue = 120;  // characters of a value quoted in a detail
constexpr std::size_t kMaxJsonDepth = 128;
constexpr std::int64_t kRe2MaxMem = std::int64_t{4} << 20;
constexpr std::size_t kMaxSchemaCapabilities = 4096;
constexpr std::size_t kMaxSchemaConstraints = 1024;

// ---------------------------------------------------------------------------------------------
// Small helpers

std::string show(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > kMaxDetailValue) s = s.substr(0, kMaxDetailValue) + "...";
  return s;
}

// JSON equality where numbers compare by value (100 == 100.0) at any depth.
bool json_equal(const Json& a, const Json& b, std::size_t depth = 0) {
  if (depth > kMaxJsonDepth) return false;
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!json_equal(a[i], b[i], depth + 1)) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !json_equal(it.value(), *other, depth + 1)) return false;
    }
    return true;
  }
  return a == b;
}

bool contains_equal(const Json& array, const Json& v) {
  return std::any_of(array.begin(), array.end(), [&](const Json& e) { return json_equal(e, v); });
}

// The values an enum request names: a scalar is one value; an array is each of its elements,
// unless the array itself is one of the allowed values and its elements are not all allowed.
Json enum_request_values(const Json* allowed, const Json& v) {
  if (!v.is_array()) return Json::array({v});
  if (allowed == nullptr) return v;
  const bool all_in = std::all_of(v.begin(), v.end(), [&](const Json& e) { return contains_equal(*allowed, e); });
  if (!all_in && contains_equal(*allowed, v)) return Json::array({v});
  return v;
}

bool finite_number(const Json& v) { return v.is_number() && std::isfinite(v.get<double>()); }

Violation violation(Violation::Kind kind, const std::string& constraint, std::string detail) {
  return Violation{kind, constraint, constraint + ": " + detail};
}

// ---------------------------------------------------------------------------------------------
// Time windows

struct Window {
  Timestamp start{};
  Timestamp end{};
};

bool is_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  static constexpr std::size_t kDigits[] = {0, 1, 2, 3, 5, 6, 8, 9};
  for (std::size_t i : kDigits) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// An RFC 3339 time, or YYYY-MM-DD read as the first (as_end false) or last microsecond of that
// UTC day.
std::optional<Timestamp> parse_time(const Json& v, bool as_end) {
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > 64) return std::nullopt;
  auto r = is_date(s) ? time::parse_rfc3339(s + (as_end ? "T23:59:59.999999Z" : "T00:00:00Z"))
                      : time::parse_rfc3339(s);
  if (!r.ok()) return std::nullopt;
  return r.value();
}

// A [start, end] window value; `why` says what is wrong when it is not one.
std::optional<Window> parse_window(const Json& v, std::string& why) {
  if (!v.is_array() || v.size() != 2) {
    why = "expected a [start, end] array, got " + show(v);
    return std::nullopt;
  }
  auto start = parse_time(v[0], false);
  auto end = parse_time(v[1], true);
  if (!start || !end) {
    why = "window bounds must be RFC 3339 times or YYYY-MM-DD dates, got " + show(v);
    return std::nullopt;
  }
  if (*start > *end) {
    why = "window starts after it ends: " + show(v);
    return std::nullopt;
  }
  return Window{*start, *end};
}

// A request's time value: a single time (a point; a date is its whole day) or a window.
std::optional<Window> parse_request_time(const Json& v, std::string& why) {
  if (v.is_string()) {
    auto start = parse_time(v, false);
    auto end = parse_time(v, true);
    if (!start || !end) {
      why = "expected an RFC 3339 time, a YYYY-MM-DD date or a [start, end] window, got " + show(v);
      return std::nullopt;
    }
    return Window{*start, *end};
  }
  return parse_window(v, why);
}

// ---------------------------------------------------------------------------------------------
// Regular expressions (RE2, anchored)

std::unique_ptr<RE2> compile_regex(const std::string& pattern) {
  if (pattern.size() > kMaxPatternLength) return nullptr;
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kRe2MaxMem);
  auto re = std::make_unique<RE2>(pattern, options);
  if (!re->ok()) return nullptr;
  return re;
}

// ---------------------------------------------------------------------------------------------
// Globs

struct GlobToken {
  enum class Kind { kLiteral, kAnyOne, kStar, kDoubleStar, kClass };
  Kind kind = Kind::kLiteral;
  unsigned char c = 0;
  std::bitset<256> set;  // kClass: the accepted bytes ('/' never among them)
};

bool parse_class(std::string_view p, std::size_t& i, std::bitset<256>& set) {
  std::size_t k = i + 1;
  bool negate = false;
  if (k < p.size() && (p[k] == '!' || p[k] == '^')) {
    negate = true;
    ++k;
  }
  bool first = true;
  while (k < p.size()) {
    if (p[k] == ']' && !first) {
      if (negate) set.flip();
      set.reset(static_cast<unsigned char>('/'));
      i = k + 1;
      return true;
    }
    first = false;
    auto lo = static_cast<unsigned char>(p[k]);
    if (p[k] == '\\' && k + 1 < p.size()) {
      lo = static_cast<unsigned char>(p[k + 1]);
      k += 2;
    } else {
      ++k;
    }
    if (k + 1 < p.size() && p[k] == '-' && p[k + 1] != ']') {
      auto hi = static_cast<unsigned char>(p[k + 1]);
      if (p[k + 1] == '\\' && k + 2 < p.size()) {
        hi = static_cast<unsigned char>(p[k + 2]);
        k += 3;
      } else {
        k += 2;
      }
      for (unsigned x = lo; x <= hi; ++x) set.set(x);  // a reversed range is empty
    } else {
      set.set(lo);
    }
  }
  return false;  // no closing ']': the '[' is a literal
}

std::vector<GlobToken> tokenize_glob(std::string_view p) {
  std::vector<GlobToken> out;
  out.reserve(p.size());
  std::size_t i = 0;
  while (i < p.size()) {
    GlobToken t;
    const char c = p[i];
    if (c == '*') {
      std::size_t j = i;
      while (j < p.size() && p[j] == '*') ++j;
      t.kind = (j - i >= 2) ? GlobToken::Kind::kDoubleStar : GlobToken::Kind::kStar;
      i = j;
      // Adjacent stars (only possible across nothing) collapse; "**" absorbs "*".
      if (!out.empty() && (out.back().kind == GlobToken::Kind::kStar || out.back().kind == GlobToken::Kind::kDoubleStar)) {
        if (t.kind == GlobToken::Kind::kDoubleStar) out.back().kind = t.kind;
        continue;
      }
    } else if (c == '?') {
      t.kind = GlobToken::Kind::kAnyOne;
      ++i;
    } else if (c == '\\') {
      t.c = static_cast<unsigned char>(i + 1 < p.size() ? p[i + 1] : '\\');
      i += (i + 1 < p.size()) ? 2U : 1U;
    } else if (c == '[') {
      std::size_t j = i;
      if (parse_class(p, j, t.set)) {
        t.kind = GlobToken::Kind::kClass;
        i = j;
      } else {
        t.c = '[';
        ++i;
      }
    } else {
      t.c = static_cast<unsigned char>(c);
      ++i;
    }
    out.push_back(t);
  }
  return out;
}

bool is_star(const GlobToken& t) {
  return t.kind == GlobToken::Kind::kStar || t.kind == GlobToken::Kind::kDoubleStar;
}

bool single_matches(const GlobToken& t, unsigned char ch) {
  switch (t.kind) {
    case GlobToken::Kind::kLiteral: return t.c == ch;
    case GlobToken::Kind::kAnyOne: return ch != '/';
    case GlobToken::Kind::kClass: return t.set.test(ch);
    default: return false;
  }
}

// Whether the granted single-character token accepts everything the requested token can stand for.
bool single_covers(const GlobToken& granted, const GlobToken& requested) {
  static const std::bitset<256> kAllButSlash = [] {
    std::bitset<256> s;
    s.set();
    s.reset(static_cast<unsigned char>('/'));
    return s;
  }();
  switch (requested.kind) {
    case GlobToken::Kind::kLiteral: return single_matches(granted, requested.c);
    case GlobToken::Kind::kAnyOne:
      return granted.kind == GlobToken::Kind::kAnyOne ||
             (granted.kind == GlobToken::Kind::kClass && granted.set == kAllButSlash);
    case GlobToken::Kind::kClass:
      if (granted.kind == GlobToken::Kind::kAnyOne) return true;
      if (granted.kind == GlobToken::Kind::kClass) return (requested.set & ~granted.set).none();
      if (granted.kind == GlobToken::Kind::kLiteral) {
        return requested.set.count() == 1 && requested.set.test(granted.c);
      }
      return false;
    default: return false;
  }
}

// A requested token that only ever stands for characters other than '/'.
bool slash_free(const GlobToken& t) {
  switch (t.kind) {
    case GlobToken::Kind::kLiteral: return t.c != '/';
    case GlobToken::Kind::kAnyOne:
    case GlobToken::Kind::kClass:
    case GlobToken::Kind::kStar: return true;
    default: return false;
  }
}

// Linear-space DP: does the granted glob accept every path the requested glob accepts? Sound
// (never says yes wrongly) but not complete: each requested token must be absorbed by a granted
// token. With a requested glob free of metacharacters this is exactly glob_match.
bool glob_covers(std::string_view granted, std::string_view requested) {
  if (granted.size() > kMaxPatternLength || requested.size() > kMaxPathLength) return false;
  const auto g = tokenize_glob(granted);
  const auto r = tokenize_glob(requested);
  const std::size_t m = r.size();
  std::vector<char> dp(m + 1, 0), next(m + 1, 0);
  dp[0] = 1;
  for (const GlobToken& t : g) {
    bool any = false;
    if (t.kind == GlobToken::Kind::kStar) {
      next[0] = dp[0];
      for (std::size_t j = 1; j <= m; ++j) next[j] = static_cast<char>(dp[j] || (next[j - 1] && slash_free(r[j - 1])));
    } else if (t.kind == GlobToken::Kind::kDoubleStar) {
      next[0] = dp[0];
      for (std::size_t j = 1; j <= m; ++j) next[j] = static_cast<char>(dp[j] || next[j - 1]);
    } else {
      next[0] = 0;
      for (std::size_t j = 1; j <= m; ++j) {
        next[j] = static_cast<char>(dp[j - 1] && !is_star(r[j - 1]) && single_covers(t, r[j - 1]));
      }
    }
    for (std::size_t j = 0; j <= m; ++j) any = any || next[j];
    if (!any) return false;
    dp.swap(next);
  }
  return dp[m] != 0;
}

// ---------------------------------------------------------------------------------------------
// Rate limits

struct Limit {
  std::int64_t count = 0;
  std::int64_t per_seconds = 0;
};

bool positive_int(const Json& v, std::int64_t& out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u == 0 || u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<std::int64_t>();
    return out > 0;
  }
  return false;
}

bool parse_one_limit(const Json& v, Limit& out) {
  if (!v.is_object() || v.size() != 2) return false;
  auto c = v.find("count");
  auto s = v.find("per_seconds");
  if (c == v.end() || s == v.end()) return false;
  return positive_int(*c, out.count) && positive_int(*s, out.per_seconds);
}

// One {"count","per_seconds"} object or a non-empty array of them; limits for the same window
// collapse to the lowest count.
std::optional<std::vector<Limit>> parse_limits(const Json& v, std::string& why) {
  std::vector<Limit> out;
  auto add = [&](const Json& e) {
    Limit l;
    if (!parse_one_limit(e, l)) return false;
    for (Limit& have : out) {
      if (have.per_seconds == l.per_seconds) {
        have.count = std::min(have.count, l.count);
        return true;
      }
    }
    out.push_back(l);
    return true;
  };
  bool ok = true;
  if (v.is_object()) {
    ok = add(v);
  } else if (v.is_array() && !v.empty() && v.size() <= kMaxAccumulated) {
    for (const Json& e : v) ok = ok && add(e);
  } else {
    ok = false;
  }
  if (!ok) {
    why = "expected {\"count\": positive integer, \"per_seconds\": positive integer} (or an array of at most " +
          std::to_string(kMaxAccumulated) + "), got " + show(v);
    return std::nullopt;
  }
  return out;
}

Json limits_json(const std::vector<Limit>& limits) {
  Json out = Json::array();
  for (const Limit& l : limits) out.push_back(Json{{"count", l.count}, {"per_seconds", l.per_seconds}});
  return out;
}

std::vector<Limit> stored_limits(const Json& state) {
  std::vector<Limit> out;
  for (const Json& e : state) {
    Limit l;
    if (parse_one_limit(e, l)) out.push_back(l);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Constraint values: validation and normalization

// The normalized stored form of a constraint value of type `t`, or the reason it is malformed.
std::optional<Json> normalize(ConstraintType t, const Json& v, std::string& why) {
  switch (t) {
    case ConstraintType::kNumericMax:
    case ConstraintType::kNumericMin:
      if (!finite_number(v)) {
        why = "expected a number, got " + show(v);
        return std::nullopt;
      }
      return v;
    case ConstraintType::kEnum:
      if (!v.is_array() || v.empty() || v.size() > kMaxEnumEntries) {
        why = "expected a non-empty array of at most " + std::to_string(kMaxEnumEntries) + " values, got " + show(v);
        return std::nullopt;
      }
      return v;
    case ConstraintType::kTimeWindow: {
      if (!parse_window(v, why)) return std::nullopt;
      return v;
    }
    case ConstraintType::kStringPattern:
    case ConstraintType::kResourcePath: {
      const bool regex = t == ConstraintType::kStringPattern;
      Json out = Json::array();
      auto add = [&](const Json& e) {
        if (!e.is_string()) {
          why = "expected a string or an array of strings, got " + show(v);
          return false;
        }
        const auto& s = e.get_ref<const std::string&>();
        if (s.size() > kMaxPatternLength) {
          why = "pattern longer than " + std::to_string(kMaxPatternLength) + " bytes";
          return false;
        }
        if (regex && !compile_regex(s)) {
          why = "not a valid RE2 pattern (or too large): " + show(e);
          return false;
        }
        if (!contains_equal(out, e)) out.push_back(e);
        return true;
      };
      if (v.is_array()) {
        if (v.empty() || v.size() > kMaxAccumulated) {
          why = "expected between 1 and " + std::to_string(kMaxAccumulated) + " patterns, got " + show(v);
          return std::nullopt;
        }
        for (const Json& e : v) {
          if (!add(e)) return std::nullopt;
        }
      } else if (!add(v)) {
        return std::nullopt;
      }
      return out;
    }
    case ConstraintType::kRateLimit: {
      auto limits = parse_limits(v, why);
      if (!limits) return std::nullopt;
      return limits_json(*limits);
    }
    case ConstraintType::kExact: return v;
  }
  return std::nullopt;
}

// Whether a request's declared value has the shape its type expects of a request.
bool request_value_ok(ConstraintType t, const Json& v, std::string& why) {
  switch (t) {
    case ConstraintType::kNumericMax:
    case ConstraintType::kNumericMin:
      if (finite_number(v)) return true;
      why = "expected a number, got " + show(v);
      return false;
    case ConstraintType::kEnum:
      if (!v.is_array() || (!v.empty() && v.size() <= kMaxEnumEntries)) return true;
      why = "expected a value or a non-empty array of values, got " + show(v);
      return false;
    case ConstraintType::kTimeWindow: return parse_request_time(v, why).has_value();
    case ConstraintType::kStringPattern:
    case ConstraintType::kResourcePath:
      if (v.is_string()) return true;
      why = "expected a string, got " + show(v);
      return false;
    case ConstraintType::kRateLimit: return parse_limits(v, why).has_value();
    case ConstraintType::kExact: return true;
  }
  return false;
}

ConstraintType infer_type(std::string_view constraint) {
  if (constraint.rfind("max_", 0) == 0) return ConstraintType::kNumericMax;
  if (constraint.rfind("min_", 0) == 0) return ConstraintType::kNumericMin;
  return ConstraintType::kExact;
}

bool valid_segment_char(char c, bool first) {
  if (c >= 'a' && c <= 'z') return true;
  if (first) return false;
  return (c >= '0' && c <= '9') || c == '_' || c == '-';
}

Error schema_error(const std::string& path, const std::string& why) {
  return make_error(ErrorCode::kSchema, "capability.schema", path + ": " + why);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Names

Status validate_name(std::string_view name, const NameOptions& options) {
  auto bad = [&](const char* why) {
    std::string shown(name.substr(0, 64));
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
    }
    return make_error(ErrorCode::kInvalidArgument, "capability.name", "\"" + shown + "\": " + why);
  };
  if (name.empty()) return bad("empty capability name");
  if (name.size() > kMaxNameLength) return bad("longer than 256 bytes");
  const std::size_t colon = name.find(':');
  const std::string_view base = name.substr(0, colon);
  if (base.empty()) return bad("empty base name");
  bool segment_start = true;
  for (char c : base) {
    if (c == '.') {
      if (segment_start) return bad("empty segment");
      segment_start = true;
      continue;
    }
    if (!valid_segment_char(c, segment_start)) {
      return bad(segment_start ? "a segment must start with a-z" : "segments are made of a-z, 0-9, '_' and '-'");
    }
    segment_start = false;
  }
  if (segment_start) return bad("empty segment");
  if (colon != std::string_view::npos) {
    const std::string_view resource = name.substr(colon + 1);
    if (resource.empty()) return bad("empty resource after ':'");
    for (char c : resource) {
      if (c < 0x21 || c > 0x7E) return bad("the resource must be printable ASCII without spaces");
    }
  }
  if (!options.allow_reserved) {
    if (base == "handshake" || base == "x" || base.rfind("handshake.", 0) == 0 || base.rfind("x.", 0) == 0) {
      return make_error(ErrorCode::kInvalidArgument, "capability.reserved",
                        "\"" + std::string(base) + "\" is in a reserved namespace (handshake.*, x.*)");
    }
  }
  return ok_status();
}

std::string_view base_name(std::string_view name) noexcept { return name.substr(0, name.find(':')); }

bool name_covers(std::string_view granted, std::string_view requested) {
  if (granted == requested) return true;
  const std::size_t gc = granted.find(':');
  const std::size_t rc = requested.find(':');
  if (gc == std::string_view::npos || rc == std::string_view::npos) return false;
  if (granted.substr(0, gc) != requested.substr(0, rc)) return false;
  // A requested resource with glob metacharacters is itself a set of resources: it is covered
  // only when every resource it names is (so "/p/**" is not covered by "/p/*").
  return glob_covers(granted.substr(gc + 1), requested.substr(rc + 1));
}

bool glob_match(std::string_view pattern, std::string_view path) {
  if (pattern.size() > kMaxPatternLength || path.size() > kMaxPathLength) return false;
  const auto tokens = tokenize_glob(pattern);
  const std::size_t m = path.size();
  std::vector<char> dp(m + 1, 0), next(m + 1, 0);
  dp[0] = 1;
  for (const GlobToken& t : tokens) {
    bool any = false;
    if (t.kind == GlobToken::Kind::kStar) {
      next[0] = dp[0];
      for (std::size_t j = 1; j <= m; ++j) next[j] = static_cast<char>(dp[j] || (next[j - 1] && path[j - 1] != '/'));
    } else if (t.kind == GlobToken::Kind::kDoubleStar) {
      next[0] = dp[0];
      for (std::size_t j = 1; j <= m; ++j) next[j] = static_cast<char>(dp[j] || next[j - 1]);
    } else {
      next[0] = 0;
      for (std::size_t j = 1; j <= m; ++j) {
        next[j] = static_cast<char>(dp[j - 1] && single_matches(t, static_cast<unsigned char>(path[j - 1])));
      }
    }
    for (std::size_t j = 0; j <= m && !any; ++j) any = next[j] != 0;
    if (!any) return false;
    dp.swap(next);
  }
  return dp[m] != 0;
}

// ---------------------------------------------------------------------------------------------
// Constraint types and schemas

std::string_view to_string(ConstraintType t) noexcept {
  switch (t) {
    case ConstraintType::kNumericMax: return "numeric_max";
    case ConstraintType::kNumericMin: return "numeric_min";
    case ConstraintType::kStringPattern: return "string_pattern";
    case ConstraintType::kEnum: return "enum";
    case ConstraintType::kTimeWindow: return "time_window";
    case ConstraintType::kRateLimit: return "rate_limit";
    case ConstraintType::kResourcePath: return "resource_path";
    case ConstraintType::kExact: return "exact";
  }
  return "unknown";
}

Result<ConstraintType> parse_constraint_type(std::string_view text) {
  static constexpr std::array kAll = {ConstraintType::kNumericMax,    ConstraintType::kNumericMin,
                                      ConstraintType::kStringPattern, ConstraintType::kEnum,
                                      ConstraintType::kTimeWindow,    ConstraintType::kRateLimit,
                                      ConstraintType::kResourcePath,  ConstraintType::kExact};
  for (ConstraintType t : kAll) {
    if (to_string(t) == text) return t;
  }
  std::string shown(text.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
  }
  return make_error(ErrorCode::kInvalidArgument, "capability.constraint_type",
                    "unknown constraint type \"" + shown + "\"");
}

Result<CapabilitySchemaSet> CapabilitySchemaSet::from_json(const Json& document, const NameOptions& options) {
  if (!document.is_object()) return schema_error("", "the capability schema document must be an object");
  auto caps = document.find("capabilities");
  if (caps == document.end()) return schema_error("/capabilities", "required member is missing");
  if (!caps->is_array()) return schema_error("/capabilities", "must be an array");
  if (caps->size() > kMaxSchemaCapabilities) return schema_error("/capabilities", "too many capabilities");
  CapabilitySchemaSet set;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < caps->size(); ++i) {
    const Json& c = (*caps)[i];
    const std::string path = "/capabilities/" + std::to_string(i);
    if (!c.is_object()) return schema_error(path, "must be an object");
    CapabilitySchema schema;
    auto name = c.find("name");
    if (name == c.end()) return schema_error(path + "/name", "required member is missing");
    if (!name->is_string()) return schema_error(path + "/name", "must be a string");
    schema.name = name->get<std::string>();
    if (auto st = validate_name(schema.name, options); !st.ok()) {
      return schema_error(path + "/name", st.error().to_string());
    }
    if (!seen.insert(schema.name).second) return schema_error(path + "/name", "duplicate capability name");
    if (auto d = c.find("description"); d != c.end()) {
      if (!d->is_string()) return schema_error(path + "/description", "must be a string");
      schema.description = d->get<std::string>();
    }
    if (auto cs = c.find("constraints"); cs != c.end()) {
      if (!cs->is_object()) return schema_error(path + "/constraints", "must be an object");
      if (cs->size() > kMaxSchemaConstraints) return schema_error(path + "/constraints", "too many constraints");
      for (auto it = cs->begin(); it != cs->end(); ++it) {
        const std::string cpath = path + "/constraints/" + it.key();
        if (it.key().empty()) return schema_error(cpath, "empty constraint name");
        const Json& def = it.value();
        if (!def.is_object()) return schema_error(cpath, "must be an object");
        auto type = def.find("type");
        if (type == def.end()) return schema_error(cpath + "/type", "required member is missing");
        if (!type->is_string()) return schema_error(cpath + "/type", "must be a string");
        auto parsed = parse_constraint_type(type->get_ref<const std::string&>());
        if (!parsed.ok()) return schema_error(cpath + "/type", parsed.error().message);
        if (auto d = def.find("description"); d != def.end() && !d->is_string()) {
          return schema_error(cpath + "/description", "must be a string");
        }
        schema.constraints.emplace(it.key(), parsed.value());
      }
    }
    set.schemas_.push_back(std::move(schema));
  }
  return set;
}

Json CapabilitySchemaSet::to_json() const {
  Json caps = Json::array();
  for (const CapabilitySchema& s : schemas_) {
    Json c{{"name", s.name}};
    if (!s.description.empty()) c["description"] = s.description;
    if (!s.constraints.empty()) {
      Json cs = Json::object();
      for (const auto& [name, type] : s.constraints) cs[name] = Json{{"type", std::string(to_string(type))}};
      c["constraints"] = std::move(cs);
    }
    caps.push_back(std::move(c));
  }
  return Json{{"capabilities", std::move(caps)}};
}

void CapabilitySchemaSet::add(CapabilitySchema schema) {
  for (CapabilitySchema& s : schemas_) {
    if (s.name == schema.name) {
      s = std::move(schema);
      return;
    }
  }
  schemas_.push_back(std::move(schema));
}

const CapabilitySchema* CapabilitySchemaSet::find(std::string_view capability_name) const {
  for (const CapabilitySchema& s : schemas_) {
    if (s.name == capability_name) return &s;
  }
  for (const CapabilitySchema& s : schemas_) {
    if (name_covers(s.name, capability_name)) return &s;
  }
  const std::string_view base = base_name(capability_name);
  for (const CapabilitySchema& s : schemas_) {
    if (s.name == base) return &s;
  }
  return nullptr;
}

ConstraintType CapabilitySchemaSet::type_of(std::string_view capability_name, std::string_view constraint) const {
  if (const CapabilitySchema* s = find(capability_name)) {
    auto it = s->constraints.find(std::string(constraint));
    if (it != s->constraints.end()) return it->second;
  }
  return infer_type(constraint);
}

// ---------------------------------------------------------------------------------------------
// ConstraintSet

ConstraintType ConstraintSet::type_for(std::string_view constraint) const {
  auto it = schema_types_.find(constraint);
  return it != schema_types_.end() ? it->second : infer_type(constraint);
}

std::variant<ConstraintSet, Violation> ConstraintSet::from_link(const Json& constraints,
                                                                std::string_view capability_name,
                                                                const CapabilitySchemaSet& schemas) {
  ConstraintSet set;
  set.capability_ = std::string(capability_name);
  if (const CapabilitySchema* s = schemas.find(capability_name)) {
    set.schema_types_.insert(s->constraints.begin(), s->constraints.end());
  }
  if (constraints.is_null()) return set;
  if (!constraints.is_object()) {
    return Violation{Violation::Kind::kMalformed, "", "constraints: expected an object, got " + show(constraints)};
  }
  for (auto it = constraints.begin(); it != constraints.end(); ++it) {
    const ConstraintType t = set.type_for(it.key());
    std::string why;
    auto value = normalize(t, it.value(), why);
    if (!value) return violation(Violation::Kind::kMalformed, it.key(), why);
    set.state_[it.key()] = std::move(*value);
    set.types_[it.key()] = t;
  }
  return set;
}

std::optional<Violation> ConstraintSet::narrow(const Json& child_constraints) {
  if (child_constraints.is_null()) return std::nullopt;
  if (!child_constraints.is_object()) {
    return Violation{Violation::Kind::kMalformed, "",
                     "constraints: expected an object, got " + show(child_constraints)};
  }
  auto state = state_;
  auto types = types_;
  using K = Violation::Kind;
  for (auto it = child_constraints.begin(); it != child_constraints.end(); ++it) {
    const std::string& name = it.key();
    const ConstraintType t = type_for(name);
    std::string why;
    auto value = normalize(t, it.value(), why);
    if (!value) return violation(K::kMalformed, name, why);
    auto have = state.find(name);
    if (have == state.end()) {  // a new constraint only narrows
      state[name] = std::move(*value);
      types[name] = t;
      continue;
    }
    Json& parent = have->second;
    Json& child = *value;
    switch (t) {
      case ConstraintType::kNumericMax:
        if (child.get<double>() > parent.get<double>()) {
          return violation(K::kWidened, name, show(child) + " widens the delegated maximum " + show(parent));
        }
        if (child.get<double>() < parent.get<double>()) parent = std::move(child);
        break;
      case ConstraintType::kNumericMin:
        if (child.get<double>() < parent.get<double>()) {
          return violation(K::kWidened, name, show(child) + " widens the delegated minimum " + show(parent));
        }
        if (child.get<double>() > parent.get<double>()) parent = std::move(child);
        break;
      case ConstraintType::kEnum:
        for (const Json& e : child) {
          if (!contains_equal(parent, e)) {
            return violation(K::kWidened, name,
                             show(e) + " is not among the delegated values " + show(parent));
          }
        }
        parent = std::move(child);
        break;
      case ConstraintType::kTimeWindow: {
        std::string ignored;
        const auto p = parse_window(parent, ignored);
        const auto c = parse_window(child, ignored);
        if (!p || !c) return violation(K::kMalformed, name, "unreadable window");
        if (c->start < p->start || c->end > p->end) {
          return violation(K::kWidened, name,
                           show(child) + " reaches outside the delegated window " + show(parent));
        }
        parent = std::move(child);
        break;
      }
      case ConstraintType::kStringPattern:
      case ConstraintType::kResourcePath:
        for (const Json& e : child) {
          if (!contains_equal(parent, e)) parent.push_back(e);
        }
        if (parent.size() > kMaxAccumulated) {
          return violation(K::kMalformed, name,
                           "more than " + std::to_string(kMaxAccumulated) + " accumulated patterns");
        }
        break;
      case ConstraintType::kRateLimit: {
        auto limits = stored_limits(parent);
        for (const Limit& l : stored_limits(child)) {
          bool merged = false;
          for (Limit& p : limits) {
            if (p.per_seconds != l.per_seconds) continue;
            if (l.count > p.count) {
              return violation(K::kWidened, name,
                               std::to_string(l.count) + " per " + std::to_string(l.per_seconds) +
                                   "s widens the delegated " + std::to_string(p.count) + " per " +
                                   std::to_string(p.per_seconds) + "s");
            }
            p.count = l.count;
            merged = true;
          }
          if (!merged) limits.push_back(l);
        }
        if (limits.size() > kMaxAccumulated) {
          return violation(K::kMalformed, name,
                           "more than " + std::to_string(kMaxAccumulated) + " accumulated rate limits");
        }
        parent = limits_json(limits);
        break;
      }
      case ConstraintType::kExact:
        if (!json_equal(child, parent)) {
          return violation(K::kWidened, name, show(child) + " differs from the delegated value " + show(parent));
        }
        break;
    }
  }
  state_ = std::move(state);
  types_ = std::move(types);
  return std::nullopt;
}

std::optional<Violation> ConstraintSet::check_request(const Json& request_constraints, Timestamp now) const {
  using K = Violation::Kind;
  if (!request_constraints.is_null() && !request_constraints.is_object()) {
    return Violation{K::kMalformed, "", "constraints: expected an object, got " + show(request_constraints)};
  }
  if (request_constraints.is_object()) {
    for (auto it = request_constraints.begin(); it != request_constraints.end(); ++it) {
      const std::string& name = it.key();
      const Json& v = it.value();
      auto have = state_.find(name);
      const ConstraintType t = have != state_.end() ? types_.at(name) : type_for(name);
      std::string why;
      if (!request_value_ok(t, v, why)) return violation(K::kMalformed, name, why);
      if (have == state_.end()) continue;  // the chain does not bound it
      const Json& eff = have->second;
      switch (t) {
        case ConstraintType::kNumericMax:
          if (v.get<double>() > eff.get<double>()) {
            return violation(K::kExceeded, name,
                             "requested " + show(v) + " exceeds the delegated maximum " + show(eff));
          }
          break;
        case ConstraintType::kNumericMin:
          if (v.get<double>() < eff.get<double>()) {
            return violation(K::kExceeded, name,
                             "requested " + show(v) + " is below the delegated minimum " + show(eff));
          }
          break;
        case ConstraintType::kEnum: {
          for (const Json& e : enum_request_values(&eff, v)) {
            if (!contains_equal(eff, e)) {
              return violation(K::kExceeded, name,
                               "requested " + show(e) + " is not among the delegated values " + show(eff));
            }
          }
          break;
        }
        case ConstraintType::kTimeWindow: {
          std::string ignored;
          const auto w = parse_request_time(v, ignored);
          const auto e = parse_window(eff, ignored);
          if (!w || !e || w->start < e->start || w->end > e->end) {
            return violation(K::kExceeded, name,
                             "requested " + show(v) + " lies outside the delegated window " + show(eff));
          }
          break;
        }
        case ConstraintType::kStringPattern: {
          const auto& s = v.get_ref<const std::string&>();
          for (const Json& p : eff) {
            auto re = compile_regex(p.get<std::string>());
            if (!re || !RE2::FullMatch(s, *re)) {
              return violation(K::kExceeded, name,
                               "requested " + show(v) + " does not match the delegated pattern " + show(p));
            }
          }
          break;
        }
        case ConstraintType::kResourcePath: {
          const auto& s = v.get_ref<const std::string&>();
          for (const Json& p : eff) {
            if (!glob_match(p.get<std::string>(), s)) {
              return violation(K::kExceeded, name,
                               "requested " + show(v) + " does not match the delegated path " + show(p));
            }
          }
          break;
        }
        case ConstraintType::kRateLimit: {
          const auto effective = stored_limits(eff);
          std::string ignored;
          for (const Limit& l : parse_limits(v, ignored).value_or(std::vector<Limit>{})) {
            for (const Limit& e : effective) {
              if (e.per_seconds == l.per_seconds && l.count > e.count) {
                return violation(K::kExceeded, name,
                                 "requested " + std::to_string(l.count) + " per " + std::to_string(l.per_seconds) +
                                     "s exceeds the delegated " + std::to_string(e.count) + " per " +
                                     std::to_string(e.per_seconds) + "s");
              }
            }
          }
          break;
        }
        case ConstraintType::kExact:
          if (!json_equal(v, eff)) {
            return violation(K::kExceeded, name,
                             "requested " + show(v) + " differs from the delegated value " + show(eff));
          }
          break;
      }
    }
  }
  // Windows the request does not speak to bound the moment of the request.
  for (const auto& [name, t] : types_) {
    if (t != ConstraintType::kTimeWindow) continue;
    if (request_constraints.is_object() && request_constraints.contains(name)) continue;
    std::string ignored;
    const auto w = parse_window(state_.at(name), ignored);
    if (!w || now < w->start || now > w->end) {
      return violation(K::kExceeded, name,
                       "now (" + time::format_rfc3339(now) + ") lies outside the delegated window " +
                           show(state_.at(name)));
    }
  }
  return std::nullopt;
}

ConstraintSet ConstraintSet::narrowed_by_request(const Json& request_constraints) const {
  ConstraintSet out = *this;
  if (!request_constraints.is_object()) return out;
  for (auto it = request_constraints.begin(); it != request_constraints.end(); ++it) {
    const std::string& name = it.key();
    const Json& v = it.value();
    auto have = out.state_.find(name);
    const bool present = have != out.state_.end();
    const ConstraintType t = present ? out.types_.at(name) : type_for(name);
    std::string why;
    if (!request_value_ok(t, v, why)) continue;
    switch (t) {
      case ConstraintType::kNumericMax:
        if (!present || v.get<double>() < have->second.get<double>()) {
          out.state_[name] = v;
          out.types_[name] = t;
        }
        break;
      case ConstraintType::kNumericMin:
        if (!present || v.get<double>() > have->second.get<double>()) {
          out.state_[name] = v;
          out.types_[name] = t;
        }
        break;
      case ConstraintType::kEnum: {
        const Json values = enum_request_values(present ? &have->second : nullptr, v);
        Json kept = Json::array();
        for (const Json& e : values) {
          if ((!present || contains_equal(have->second, e)) && !contains_equal(kept, e)) kept.push_back(e);
        }
        if (!kept.empty()) {
          out.state_[name] = std::move(kept);
          out.types_[name] = t;
        }
        break;
      }
      case ConstraintType::kTimeWindow: {
        const Json window = v.is_string() ? Json::array({v, v}) : v;
        if (!present) {
          out.state_[name] = window;
          out.types_[name] = t;
          break;
        }
        std::string ignored;
        const auto w = parse_window(window, ignored);
        const auto e = parse_window(have->second, ignored);
        if (!w || !e) break;
        Json narrowed = Json::array({w->start > e->start ? window[0] : have->second[0],
                                     w->end < e->end ? window[1] : have->second[1]});
        if (parse_window(narrowed, ignored)) have->second = std::move(narrowed);
        break;
      }
      default: break;  // patterns, paths, rates and exact values stay as delegated
    }
  }
  return out;
}

Json ConstraintSet::to_json() const {
  Json out = Json::object();
  for (const auto& [name, value] : state_) {
    switch (types_.at(name)) {
      case ConstraintType::kStringPattern:
      case ConstraintType::kResourcePath:
      case ConstraintType::kRateLimit: out[name] = value.size() == 1 ? value[0] : value; break;
      default: out[name] = value; break;
    }
  }
  return out;
}

Json ConstraintSet::to_state_json() const {
  Json schema = Json::object();
  for (const auto& [name, t] : schema_types_) schema[name] = std::string(to_string(t));
  Json constraints = Json::object();
  for (const auto& [name, value] : state_) {
    constraints[name] = Json::array({std::string(to_string(types_.at(name))), value});
  }
  return Json{{"capability", capability_}, {"schema", std::move(schema)}, {"constraints", std::move(constraints)}};
}

Result<ConstraintSet> ConstraintSet::from_state_json(const Json& state) {
  auto bad = [](const std::string& where, const std::string& why) {
    return make_error(ErrorCode::kSchema, "capability.state", where + ": " + why);
  };
  // Names are quoted in errors; keep them printable and short.
  auto shown = [](const std::string& name) {
    std::string out;
    for (char c : name.substr(0, 64)) {
      const auto u = static_cast<unsigned char>(c);
      out.push_back(u >= 0x20 && u < 0x7F ? c : '?');
    }
    return out;
  };
  if (!state.is_object() || state.size() != 3) {
    return bad("(top)", "expected an object with exactly capability, schema and constraints");
  }
  const auto cap = state.find("capability");
  const auto schema = state.find("schema");
  const auto constraints = state.find("constraints");
  if (cap == state.end() || schema == state.end() || constraints == state.end()) {
    return bad("(top)", "expected an object with exactly capability, schema and constraints");
  }
  ConstraintSet set;
  if (!cap->is_string()) return bad("capability", "must be a string");
  set.capability_ = cap->get<std::string>();
  // An empty name is what a default-constructed set holds.
  if (!set.capability_.empty()) {
    if (auto st = validate_name(set.capability_, NameOptions{true}); !st.ok()) {
      return bad("capability", st.error().message);
    }
  }
  if (!schema->is_object()) return bad("schema", "must be an object");
  if (schema->size() > kMaxSchemaConstraints) return bad("schema", "too many constraints");
  for (auto it = schema->begin(); it != schema->end(); ++it) {
    if (!it.value().is_string()) return bad("schema/" + shown(it.key()), "must be a constraint type name");
    auto t = parse_constraint_type(it.value().get_ref<const std::string&>());
    if (!t.ok()) return bad("schema/" + shown(it.key()), t.error().message);
    set.schema_types_.emplace(it.key(), *t);
  }
  if (!constraints->is_object()) return bad("constraints", "must be an object");
  for (auto it = constraints->begin(); it != constraints->end(); ++it) {
    const std::string where = "constraints/" + shown(it.key());
    const Json& entry = it.value();
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string()) {
      return bad(where, "expected [type, value]");
    }
    auto t = parse_constraint_type(entry[0].get_ref<const std::string&>());
    if (!t.ok()) return bad(where, t.error().message);
    std::string why;
    auto normalized = normalize(*t, entry[1], why);
    if (!normalized) return bad(where, why);
    // Only the normalized form is a state: "x" for ["x"] or two limits of one window are not.
    if (*normalized != entry[1]) return bad(where, "the value is not in its normalized form");
    set.state_.emplace(it.key(), entry[1]);
    set.types_.emplace(it.key(), *t);
  }
  return set;
}

std::vector<RateLimit> ConstraintSet::rate_limits() const {
  std::vector<RateLimit> out;
  for (const auto& [name, t] : types_) {
    if (t != ConstraintType::kRateLimit) continue;
    for (const Limit& l : stored_limits(state_.at(name))) out.push_back(RateLimit{name, l.count, l.per_seconds});
  }
  return out;
}

}  // namespace handshake::capability
