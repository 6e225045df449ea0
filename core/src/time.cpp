#include "handshake/time.hpp"

#include <cstdio>

namespace handshake::time {
namespace {

Error invalid(std::string_view text, const char* why) {
  std::string shown(text.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
  }
  return make_error(ErrorCode::kInvalidArgument, "time.invalid",
                    "\"" + shown + "\" is not an RFC 3339 timestamp: " + why);
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

Result<Timestamp> parse_rfc3339(std::string_view s) {
  using namespace std::chrono;
  int Y, M, D, h, m, sec;
  if (s.size() < 20) return invalid(s, "too short");
  if (!digits(s, 0, 4, Y) || s[4] != '-' || !digits(s, 5, 2, M) || s[7] != '-' || !digits(s, 8, 2, D)) {
    return invalid(s, "bad date");
  }
  if (s[10] != 'T' && s[10] != 't') return invalid(s, "missing 'T'");
  if (!digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, m) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return invalid(s, "bad time of day");
  }
  const year_month_day ymd{year{Y}, month{static_cast<unsigned>(M)}, day{static_cast<unsigned>(D)}};
  if (!ymd.ok()) return invalid(s, "no such calendar date");
  if (h > 23 || m > 59) return invalid(s, "hour or minute out of range");
  if (sec == 60) return invalid(s, "leap seconds are not supported");
  if (sec > 59) return invalid(s, "second out of range");
  std::size_t pos = 19;
  long long micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) micros = micros * 10 + (s[pos] - '0');
      ++n, ++pos;
    }
    if (n == 0) return invalid(s, "empty fraction");
    if (n > 9) return invalid(s, "more than 9 fraction digits");
    for (std::size_t k = n; k < 6; ++k) micros *= 10;
  }
  if (pos >= s.size()) return invalid(s, "missing time zone offset");
  int offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om)) {
      return invalid(s, "bad offset");
    }
    if (oh > 23 || om > 59) return invalid(s, "offset out of range");
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return invalid(s, "missing time zone offset");
  }
  if (pos != s.size()) return invalid(s, "trailing characters");
  const auto local = sys_days{ymd} + hours{h} + minutes{m} + seconds{sec} + microseconds{micros};
  const Timestamp utc{local - minutes{offset_minutes}};
  // An offset must not carry the instant out of years 0000-9999 in UTC: format_rfc3339 could not
  // write it back as a timestamp this function reads (found by fuzzing the message parsers).
  if (utc < sys_days{year{0} / 1 / 1} || utc >= sys_days{year{10000} / 1 / 1}) {
    return invalid(s, "outside the years 0000-9999 in UTC");
  }
  return utc;
}

std::string format_rfc3339(Timestamp t) {
  using namespace std::chrono;
  const auto day_point = floor<days>(t);
  const year_month_day ymd{day_point};
  const hh_mm_ss<microseconds> tod{t - day_point};
  char buf[48];
  const long long us = tod.subseconds().count();
  if (us == 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<long long>(tod.hours().count()), static_cast<long long>(tod.minutes().count()),
                  static_cast<long long>(tod.seconds().count()));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<long long>(tod.hours().count()), static_cast<long long>(tod.minutes().count()),
                  static_cast<long long>(tod.seconds().count()), us);
  }
  return buf;
}

}  // namespace handshake::time
