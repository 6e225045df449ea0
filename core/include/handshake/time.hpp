// RFC 3339 timestamps (§6.4) and injectable clocks.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "handshake/result.hpp"

namespace handshake {

// A point in UTC with microsecond resolution.
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

namespace time {

// Parses an RFC 3339 date-time: YYYY-MM-DD"T"HH:MM:SS[.fraction](Z|±HH:MM), 'T' and 'Z' in
// either case (RFC 3339 §5.6). The offset is mandatory. Calendar fields are range-checked
// (leap years included); leap second 60 is refused because UTC arithmetic cannot represent it;
// at most 9 fraction digits, kept to microseconds. The instant, in UTC, must fall in the years
// 0000-9999 (so that format_rfc3339 writes it back). Errors: kInvalidArgument "time.invalid".
[[nodiscard]] Result<Timestamp> parse_rfc3339(std::string_view text);

// "YYYY-MM-DDTHH:MM:SSZ", with ".ffffff" only when the microseconds are not zero.
[[nodiscard]] std::string format_rfc3339(Timestamp t);

}  // namespace time

// Source of "now". Services and verifiers take one so tests never depend on the wall clock.
class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual Timestamp now() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] Timestamp now() const override {
    return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  }
};

class FixedClock final : public Clock {
 public:
  explicit FixedClock(Timestamp t) : t_(t) {}
  [[nodiscard]] Timestamp now() const override { return t_; }
  void set(Timestamp t) { t_ = t; }
  void advance(std::chrono::microseconds d) { t_ += d; }

 private:
  Timestamp t_;
};

}  // namespace handshake
