// RFC 3339 timestamps, prefixed ULIDs and did:hsk identifiers (§5, §6.4, §8).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/crypto.hpp"
#include "handshake/did.hpp"
#include "handshake/encoding.hpp"
#include "handshake/ids.hpp"
#include "handshake/json.hpp"
#include "handshake/schema.hpp"
#include "handshake/time.hpp"

namespace crypto = handshake::crypto;
namespace enc = handshake::encoding;
namespace ids = handshake::ids;
namespace htime = handshake::time;
using handshake::Did;
using handshake::ErrorCode;
using handshake::PrincipalType;
using handshake::Timestamp;

namespace {

// RFC 8032 §7.1 TEST 1.
constexpr const char* kRfc8032Seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr const char* kRfc8032Public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
// "z" + base58btc(SHA-256(kRfc8032Public)), computed outside this code base (Python hashlib and a
// plain big-integer base58 loop): SHA-256 = 21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9.
constexpr const char* kRfc8032KeyHashId = "z3HhGPB6ht33n51YFaocqBtGePb3xqT4VgnjYbd81eeZW";

Timestamp ts(int y, unsigned mo, unsigned d, int h, int mi, int s, long long us = 0) {
  using namespace std::chrono;
  return Timestamp{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi} + seconds{s} +
         microseconds{us};
}

Timestamp from_ms(std::int64_t ms) {
  return Timestamp{std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::milliseconds{ms})};
}

Timestamp parse_ok(std::string_view text) {
  INFO("parsing " << text);
  auto r = htime::parse_rfc3339(text);
  if (!r.ok()) INFO(r.error().to_string());
  REQUIRE(r.ok());
  return *r;
}

void expect_time_invalid(std::string_view text) {
  INFO("expected refusal of \"" << text << "\"");
  auto r = htime::parse_rfc3339(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  CHECK(r.error().reason == "time.invalid");
}

crypto::SigningKey rfc8032_key() {
  auto seed = enc::hex_decode(kRfc8032Seed);
  REQUIRE(seed.ok());
  auto key = crypto::SigningKey::from_seed(*seed);
  REQUIRE(key.ok());
  return std::move(key).value();
}

// The expected identifier computed from the primitives, not through key_hash_id().
std::string independent_key_hash_id(const crypto::PublicKey& pk) {
  const crypto::Digest d = crypto::sha256(pk);
  return "z" + enc::base58btc_encode(d);
}

// Decodes the 10-character Crockford time prefix of a ULID.
std::uint64_t ulid_time_ms(std::string_view ulid) {
  constexpr std::string_view alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::uint64_t v = 0;
  for (char c : ulid.substr(0, 10)) {
    const auto pos = alphabet.find(c);
    REQUIRE(pos != std::string_view::npos);
    v = v * 32 + pos;
  }
  return v;
}

void expect_did_invalid(std::string_view text) {
  INFO("expected refusal of DID \"" << text << "\" (" << text.size() << " bytes)");
  auto r = handshake::parse_did(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  CHECK(r.error().reason == "did.invalid");
}

}  // namespace

// ---- time ----------------------------------------------------------------------------------------

TEST_CASE("parse_rfc3339: UTC and numeric offsets name the same instant", "[time]") {
  const Timestamp expected = ts(2026, 4, 29, 14, 2, 11);
  CHECK(parse_ok("2026-04-29T14:02:11Z") == expected);
  CHECK(parse_ok("2026-04-29T14:02:11+00:00") == expected);
  CHECK(parse_ok("2026-04-29T14:02:11-00:00") == expected);
  CHECK(parse_ok("2026-04-29T16:02:11+02:00") == expected);
  CHECK(parse_ok("2026-04-29T09:32:11-04:30") == expected);
  CHECK(parse_ok("2026-04-30T13:45:11+23:43") == expected);
  CHECK(parse_ok("2026-04-28T14:03:11-23:59") == expected);
  // Offsets move the instant across day, month and year boundaries.
  CHECK(parse_ok("2026-01-01T00:30:00+01:00") == ts(2025, 12, 31, 23, 30, 0));
  CHECK(parse_ok("2025-12-31T23:30:00-01:00") == ts(2026, 1, 1, 0, 30, 0));
  // The epoch, and instants before it.
  CHECK(parse_ok("1970-01-01T00:00:00Z").time_since_epoch().count() == 0);
  CHECK(parse_ok("1969-12-31T23:59:59Z").time_since_epoch() == std::chrono::seconds{-1});
}

TEST_CASE("parse_rfc3339: 'T' and 'Z' may be lowercase (RFC 3339 §5.6)", "[time]") {
  const Timestamp expected = ts(2026, 4, 29, 14, 2, 11);
  CHECK(parse_ok("2026-04-29t14:02:11z") == expected);
  CHECK(parse_ok("2026-04-29t14:02:11Z") == expected);
  CHECK(parse_ok("2026-04-29T14:02:11z") == expected);
  CHECK(parse_ok("2026-04-29t16:02:11+02:00") == expected);
}

TEST_CASE("parse_rfc3339: fractions of 1 to 9 digits, kept to microseconds", "[time]") {
  const Timestamp base = ts(2026, 4, 29, 14, 2, 11);
  using std::chrono::microseconds;
  CHECK(parse_ok("2026-04-29T14:02:11.5Z") - base == microseconds{500000});
  CHECK(parse_ok("2026-04-29T14:02:11.05Z") - base == microseconds{50000});
  CHECK(parse_ok("2026-04-29T14:02:11.123Z") - base == microseconds{123000});
  CHECK(parse_ok("2026-04-29T14:02:11.000001Z") - base == microseconds{1});
  CHECK(parse_ok("2026-04-29T14:02:11.123456Z") - base == microseconds{123456});
  CHECK(parse_ok("2026-04-29T14:02:11.1234567Z") - base == microseconds{123456});
  CHECK(parse_ok("2026-04-29T14:02:11.12345678Z") - base == microseconds{123456});
  CHECK(parse_ok("2026-04-29T14:02:11.123456789Z") - base == microseconds{123456});
  CHECK(parse_ok("2026-04-29T14:02:11.999999999Z") - base == microseconds{999999});
  CHECK(parse_ok("2026-04-29T14:02:11.000000000Z") == base);
  CHECK(parse_ok("2026-04-29T14:02:11.0Z") == base);
  // A fraction followed by an offset.
  CHECK(parse_ok("2026-04-29T16:02:11.25+02:00") - base == microseconds{250000});
}

TEST_CASE("parse_rfc3339: leap years follow the Gregorian rules", "[time]") {
  CHECK(parse_ok("2024-02-29T00:00:00Z") == ts(2024, 2, 29, 0, 0, 0));
  CHECK(parse_ok("2000-02-29T12:00:00Z") == ts(2000, 2, 29, 12, 0, 0));  // divisible by 400
  expect_time_invalid("2025-02-29T00:00:00Z");                         // not a leap year
  expect_time_invalid("2026-02-29T00:00:00Z");
  expect_time_invalid("1900-02-29T00:00:00Z");  // divisible by 100, not by 400
  expect_time_invalid("2100-02-29T00:00:00Z");
  expect_time_invalid("2024-02-30T00:00:00Z");
  expect_time_invalid("2026-02-30T00:00:00Z");
  CHECK(parse_ok("2026-02-28T23:59:59Z") == ts(2026, 2, 28, 23, 59, 59));
}

TEST_CASE("parse_rfc3339: every malformed or out-of-range form is refused", "[time]") {
  // Missing or malformed offset.
  expect_time_invalid("2026-04-29T14:02:11");
  expect_time_invalid("2026-04-29T14:02:11.5");
  expect_time_invalid("2026-04-29T14:02:11+02");
  expect_time_invalid("2026-04-29T14:02:11+0200");
  expect_time_invalid("2026-04-29T14:02:11+2:00");
  expect_time_invalid("2026-04-29T14:02:11+02:0");
  expect_time_invalid("2026-04-29T14:02:11 +02:00");
  expect_time_invalid("2026-04-29T14:02:11UTC");
  expect_time_invalid("2026-04-29T14:02:11+24:00");
  expect_time_invalid("2026-04-29T14:02:11+01:60");
  expect_time_invalid("2026-04-29T14:02:11+aa:00");
  // Calendar fields.
  expect_time_invalid("2026-00-10T00:00:00Z");
  expect_time_invalid("2026-13-10T00:00:00Z");
  expect_time_invalid("2026-04-00T00:00:00Z");
  expect_time_invalid("2026-04-31T00:00:00Z");  // April has 30 days
  expect_time_invalid("2026-01-32T00:00:00Z");
  // Time of day.
  expect_time_invalid("2026-04-29T24:00:00Z");
  expect_time_invalid("2026-04-29T25:00:00Z");
  expect_time_invalid("2026-04-29T14:60:00Z");
  expect_time_invalid("2026-12-31T23:59:60Z");  // leap second
  expect_time_invalid("2026-06-30T23:59:60+00:00");
  expect_time_invalid("2026-04-29T14:02:61Z");
  // Trailing characters.
  expect_time_invalid("2026-04-29T14:02:11Z ");
  expect_time_invalid("2026-04-29T14:02:11Zx");
  expect_time_invalid("2026-04-29T14:02:11ZZ");
  expect_time_invalid("2026-04-29T14:02:11+02:00Z");
  expect_time_invalid("2026-04-29T14:02:11+02:000");
  expect_time_invalid(std::string_view("2026-04-29T14:02:11Z\0", 21));
  // Fractions: empty, more than 9 digits, not digits.
  expect_time_invalid("2026-04-29T14:02:11.Z");
  expect_time_invalid("2026-04-29T14:02:11.+02:00");
  expect_time_invalid("2026-04-29T14:02:11.1234567890Z");
  expect_time_invalid("2026-04-29T14:02:11.0000000000Z");
  expect_time_invalid("2026-04-29T14:02:11,5Z");
  expect_time_invalid("2026-04-29T14:02:11.5.5Z");
  // Shape.
  expect_time_invalid("");
  expect_time_invalid("2026-04-29");
  expect_time_invalid("2026-04-29 14:02:11Z");
  expect_time_invalid("2026-04-29_14:02:11Z");
  expect_time_invalid("2026-4-29T14:02:11Z");
  expect_time_invalid("2026-04-29T4:02:11Z");
  expect_time_invalid("26-04-29T14:02:11Z");
  expect_time_invalid("+2026-04-29T14:02:11Z");
  expect_time_invalid("2026/04/29T14:02:11Z");
  expect_time_invalid("2026-04-29T14-02-11Z");
  expect_time_invalid("2026-04-29T14:02Z");
  expect_time_invalid("20260429T140211Z");
  expect_time_invalid("2026-04-29T14:02:1aZ");
  expect_time_invalid("\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x96-04-29T14:02:11Z");  // fullwidth digits
}

TEST_CASE("format_rfc3339: UTC 'Z', microseconds only when non-zero, and round trips", "[time]") {
  CHECK(htime::format_rfc3339(ts(2026, 4, 29, 14, 2, 11)) == "2026-04-29T14:02:11Z");
  CHECK(htime::format_rfc3339(ts(2026, 4, 29, 14, 2, 11, 1)) == "2026-04-29T14:02:11.000001Z");
  CHECK(htime::format_rfc3339(ts(2026, 4, 29, 14, 2, 11, 500000)) == "2026-04-29T14:02:11.500000Z");
  CHECK(htime::format_rfc3339(ts(2024, 2, 29, 0, 0, 0)) == "2024-02-29T00:00:00Z");
  CHECK(htime::format_rfc3339(ts(1970, 1, 1, 0, 0, 0)) == "1970-01-01T00:00:00Z");
  CHECK(htime::format_rfc3339(ts(1969, 12, 31, 23, 59, 59, 500000)) == "1969-12-31T23:59:59.500000Z");
  CHECK(htime::format_rfc3339(ts(9999, 12, 31, 23, 59, 59, 999999)) == "9999-12-31T23:59:59.999999Z");
  // An offset is normalised to UTC on output.
  CHECK(htime::format_rfc3339(parse_ok("2026-01-01T00:30:00.25+01:00")) == "2025-12-31T23:30:00.250000Z");

  // Round trip over a spread of instants, including sub-second ones.
  const Timestamp start = ts(1999, 12, 31, 23, 0, 0);
  for (int i = 0; i < 500; ++i) {
    const Timestamp t = start + std::chrono::microseconds{static_cast<long long>(i) * 987654321LL + i};
    const std::string s = htime::format_rfc3339(t);
    INFO(s);
    CHECK(parse_ok(s) == t);
  }
}

TEST_CASE("FixedClock is settable and advances", "[time]") {
  handshake::FixedClock clock(ts(2026, 4, 29, 14, 2, 11));
  CHECK(clock.now() == ts(2026, 4, 29, 14, 2, 11));
  clock.advance(std::chrono::seconds{90});
  CHECK(clock.now() == ts(2026, 4, 29, 14, 3, 41));
  clock.set(ts(2030, 1, 1, 0, 0, 0));
  CHECK(clock.now() == ts(2030, 1, 1, 0, 0, 0));
}

// ---- ids -----------------------------------------------------------------------------------------

TEST_CASE("make_ulid: 26 Crockford characters carrying the millisecond time", "[ids]") {
  // The ULID specification's example time prefix.
  const std::string spec_example = ids::make_ulid(from_ms(1469918176385));
  CHECK(spec_example.substr(0, 10) == "01ARYZ6S41");
  CHECK(ids::make_ulid(from_ms(0)).substr(0, 10) == "0000000000");
  CHECK(ids::make_ulid(from_ms((std::int64_t{1} << 48) - 1)).substr(0, 10) == "7ZZZZZZZZZ");

  for (const std::int64_t ms : {std::int64_t{0}, std::int64_t{1}, std::int64_t{1777471331000}, std::int64_t{1469918176385},
                                (std::int64_t{1} << 48) - 1}) {
    const std::string u = ids::make_ulid(from_ms(ms));
    INFO(u);
    CHECK(u.size() == 26);
    CHECK(ids::is_ulid(u));
    CHECK(u[0] <= '7');  // 128 bits in 130: the first character carries 3 bits
    CHECK(ulid_time_ms(u) == static_cast<std::uint64_t>(ms));
    CHECK(u.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ") == std::string::npos);
  }
  // Sub-millisecond parts of the time are dropped, not rounded.
  CHECK(ulid_time_ms(ids::make_ulid(from_ms(1000) + std::chrono::microseconds{999})) == 1000);
}

TEST_CASE("make_ulid: random part differs, time order is lexicographic order", "[ids]") {
  const Timestamp t = ts(2026, 4, 29, 14, 2, 11);
  std::set<std::string> seen;
  for (int i = 0; i < 300; ++i) {
    const std::string u = ids::make_ulid(t);
    CHECK(u.substr(0, 10) == ids::make_ulid(t).substr(0, 10));
    seen.insert(u);
  }
  CHECK(seen.size() == 300);

  // Strictly increasing times (including 1 ms steps) give strictly increasing ULIDs.
  Timestamp cur = ts(2001, 1, 1, 0, 0, 0);
  std::string prev = ids::make_ulid(cur);
  std::uint64_t step_ms = 1;
  for (int i = 0; i < 400; ++i) {
    cur += std::chrono::milliseconds{static_cast<long long>(step_ms)};
    step_ms = (i % 7 == 0) ? 1 : step_ms * 3 % 100003 + 1;
    const std::string next = ids::make_ulid(cur);
    INFO(prev << " then " << next);
    CHECK(prev < next);
    prev = next;
  }
}

TEST_CASE("make_id / is_id / is_ulid", "[ids]") {
  const Timestamp t = ts(2026, 4, 29, 14, 2, 11);
  for (const auto prefix : {ids::kDelegationPrefix, ids::kRequestPrefix, ids::kReceiptPrefix, ids::kRevocationPrefix}) {
    const std::string id = ids::make_id(prefix, t);
    INFO(id);
    CHECK(id.size() == prefix.size() + 26);
    CHECK(id.substr(0, prefix.size()) == prefix);
    CHECK(ids::is_id(id, prefix));
    CHECK(ids::is_ulid(id.substr(prefix.size())));
    CHECK_FALSE(ids::is_ulid(id));
    for (const auto other : {ids::kDelegationPrefix, ids::kRequestPrefix, ids::kReceiptPrefix, ids::kRevocationPrefix}) {
      if (other != prefix) CHECK_FALSE(ids::is_id(id, other));
    }
    CHECK(ids::make_id(prefix, t) != id);  // two ids differ
  }
  CHECK(ids::make_id("dt_", t).substr(0, 3) == "dt_");

  const std::string u = "01HK4ZQ7M3X9R5N2P8V0YJF7B3";
  CHECK(ids::is_ulid(u));
  CHECK(ids::is_id("dt_" + u, "dt_"));
  CHECK_FALSE(ids::is_ulid(""));
  CHECK_FALSE(ids::is_ulid(u.substr(0, 25)));       // 25 characters
  CHECK_FALSE(ids::is_ulid(u + "0"));               // 27
  CHECK_FALSE(ids::is_ulid("01hk4zq7m3x9r5n2p8v0yjf7b3"));  // lowercase
  for (const char excluded : {'I', 'L', 'O', 'U', 'i', 'l', 'o', 'u', '-', '_', ' ', '*'}) {
    std::string bad = u;
    bad[12] = excluded;
    INFO("character " << excluded);
    CHECK_FALSE(ids::is_ulid(bad));
    CHECK_FALSE(ids::is_id("dt_" + bad, "dt_"));
  }
  CHECK_FALSE(ids::is_ulid(std::string_view("01HK4ZQ7M3X9R5N2P8V0YJF7B\0", 26)));
  CHECK_FALSE(ids::is_id("dt_" + u.substr(0, 25), "dt_"));
  CHECK_FALSE(ids::is_id("DT_" + u, "dt_"));
  CHECK_FALSE(ids::is_id("hs_" + u, "dt_"));
  CHECK_FALSE(ids::is_id("dt" + u, "dt_"));
  CHECK_FALSE(ids::is_id(u, "dt_"));
  CHECK_FALSE(ids::is_id("dt_", "dt_"));
  CHECK_FALSE(ids::is_id(" dt_" + u, "dt_"));
  CHECK_FALSE(ids::is_id("dt_" + u + " ", "dt_"));
}

// ---- DIDs ----------------------------------------------------------------------------------------

TEST_CASE("parse_did: each principal type", "[did]") {
  struct Case {
    const char* text;
    PrincipalType type;
    const char* id;
  };
  const Case cases[] = {
      {"did:hsk:user:alice@example.com", PrincipalType::kUser, "alice@example.com"},
      {"did:hsk:agent:z3HhGPB6ht33n51YFaocqBtGePb3xqT4VgnjYbd81eeZW", PrincipalType::kAgent,
       "z3HhGPB6ht33n51YFaocqBtGePb3xqT4VgnjYbd81eeZW"},
      {"did:hsk:svc:billing-api", PrincipalType::kSvc, "billing-api"},
      {"did:hsk:org:acme.com", PrincipalType::kOrg, "acme.com"},
      {"did:hsk:user:oidc:https%3A%2F%2Fissuer:1234", PrincipalType::kUser, "oidc:https%3A%2F%2Fissuer:1234"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto d = handshake::parse_did(c.text);
    REQUIRE(d.ok());
    CHECK(d->type == c.type);
    CHECK(d->id == c.id);
    CHECK(d->str() == c.text);
  }
  CHECK(handshake::to_string(PrincipalType::kUser) == "user");
  CHECK(handshake::to_string(PrincipalType::kAgent) == "agent");
  CHECK(handshake::to_string(PrincipalType::kSvc) == "svc");
  CHECK(handshake::to_string(PrincipalType::kOrg) == "org");
  for (const auto t : {PrincipalType::kUser, PrincipalType::kAgent, PrincipalType::kSvc, PrincipalType::kOrg}) {
    auto parsed = handshake::parse_principal_type(handshake::to_string(t));
    REQUIRE(parsed.ok());
    CHECK(*parsed == t);
  }
  for (const char* bad : {"", "Agent", "USER", "bot", "service", "organization", "agent "}) {
    INFO(bad);
    auto r = handshake::parse_principal_type(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
    CHECK(r.error().reason == "did.unknown_type");
  }
}

TEST_CASE("parse_did: identifier charset is exactly the reference schema's", "[did]") {
  // Take the pattern from the embedded reference _common.json rather than restating it here.
  auto common_text = handshake::schema::text("_common.json");
  REQUIRE(common_text.ok());
  auto common = handshake::json::parse_strict(*common_text);
  REQUIRE(common.ok());
  const std::string pattern = common->at("$defs").at("did").at("pattern").get<std::string>();
  CHECK(pattern == "^did:hsk:(user|agent|svc|org):[A-Za-z0-9._@:%-]+$");
  const std::regex schema_re(pattern, std::regex::ECMAScript);

  int accepted = 0;
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    for (const std::string& text : {std::string("did:hsk:agent:ab") + c + "cd", std::string("did:hsk:user:") + c,
                                    std::string("did:hsk:org:x") + c}) {
      const bool schema_ok = std::regex_match(text, schema_re);
      const bool ours_ok = handshake::parse_did(text).ok();
      INFO("byte 0x" << std::hex << b);
      CHECK(ours_ok == schema_ok);
      if (ours_ok) ++accepted;
    }
  }
  CHECK(accepted == 3 * (26 + 26 + 10 + 6));
  CHECK(handshake::parse_did("did:hsk:user:AZaz09._@:%-").ok());
}

TEST_CASE("parse_did: refusals", "[did]") {
  // Non-ASCII look-alikes: Cyrillic 'а' (U+0430), 'е' (U+0435), fullwidth '＠', Greek 'ο'.
  expect_did_invalid("did:hsk:user:\xD0\xB0lice@example.com");
  expect_did_invalid("did:hsk:user:alic\xD0\xB5@example.com");
  expect_did_invalid("did:hsk:user:alice\xEF\xBC\xA0" "example.com");
  expect_did_invalid("did:hsk:org:acme.c\xCE\xBFm");
  expect_did_invalid("did:hsk:\xD0\xB0gent:z3HhGPB6ht33n51YFaocqBtGePb3xqT4VgnjYbd81eeZW");
  expect_did_invalid("did:h\xD1\x95k:agent:abc");  // Cyrillic 'ѕ'
  // Unknown or mis-cased type, other methods, wrong prefix.
  expect_did_invalid("did:hsk:bot:abc");
  expect_did_invalid("did:hsk:Agent:abc");
  expect_did_invalid("did:hsk:USER:bob");
  expect_did_invalid("did:hsk::abc");
  expect_did_invalid("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK");
  expect_did_invalid("DID:hsk:agent:abc");
  expect_did_invalid("did:HSK:agent:abc");
  expect_did_invalid(" did:hsk:agent:abc");
  expect_did_invalid("hsk:agent:abc");
  // Missing or empty identifier.
  expect_did_invalid("did:hsk:agent:");
  expect_did_invalid("did:hsk:agent");
  expect_did_invalid("did:hsk:");
  expect_did_invalid("did:hsk");
  expect_did_invalid("");
  // Characters outside the set.
  expect_did_invalid("did:hsk:agent:abc ");
  expect_did_invalid("did:hsk:agent:a/b");
  expect_did_invalid("did:hsk:agent:a#keys-1");
  expect_did_invalid("did:hsk:agent:a?x=1");
  expect_did_invalid("did:hsk:user:bob+tag@acme.com");
  expect_did_invalid(std::string_view("did:hsk:agent:ab\0c", 18));
  expect_did_invalid("did:hsk:agent:abc\n");
}

TEST_CASE("parse_did: the whole DID is at most 512 bytes", "[did]") {
  const std::string prefix = "did:hsk:user:";
  const std::string at_limit = prefix + std::string(handshake::kMaxDidLength - prefix.size(), 'a');
  REQUIRE(at_limit.size() == 512);
  auto ok = handshake::parse_did(at_limit);
  REQUIRE(ok.ok());
  CHECK(ok->str() == at_limit);
  expect_did_invalid(at_limit + "a");
  expect_did_invalid(prefix + std::string(5000, 'a'));
}

TEST_CASE("key_hash_id: RFC 8032 TEST 1 key, computed independently", "[did][crypto]") {
  const crypto::SigningKey key = rfc8032_key();
  REQUIRE(enc::hex_encode(key.public_key()) == kRfc8032Public);
  const crypto::PublicKey& pk = key.public_key();

  const std::string expected = independent_key_hash_id(pk);
  CHECK(expected == kRfc8032KeyHashId);
  CHECK(handshake::key_hash_id(pk) == expected);
  // The identifier is the multibase form of exactly the 32-byte SHA-256 digest.
  auto decoded = enc::multibase_decode(expected);
  REQUIRE(decoded.ok());
  const crypto::Digest digest = crypto::sha256(pk);
  CHECK(std::equal(decoded->begin(), decoded->end(), digest.begin(), digest.end()));
  CHECK(handshake::is_key_hash_id(expected));

  for (const auto type : {PrincipalType::kAgent, PrincipalType::kSvc, PrincipalType::kOrg}) {
    const Did did = handshake::did_for_key(type, pk);
    INFO(did.str());
    CHECK(did.type == type);
    CHECK(did.id == expected);
    CHECK(did.str() == "did:hsk:" + std::string(handshake::to_string(type)) + ":" + expected);
    CHECK(handshake::did_binds_key(did, pk));
    auto reparsed = handshake::parse_did(did.str());
    REQUIRE(reparsed.ok());
    CHECK(*reparsed == did);
  }
  CHECK(handshake::did_for_key(PrincipalType::kAgent, pk).str() ==
        "did:hsk:agent:z3HhGPB6ht33n51YFaocqBtGePb3xqT4VgnjYbd81eeZW");

  // A user handle never binds a key, even one spelled like the key's hash.
  CHECK_FALSE(handshake::did_binds_key(Did{PrincipalType::kUser, expected}, pk));
  // Another key does not bind.
  const crypto::SigningKey other = crypto::SigningKey::generate();
  CHECK_FALSE(handshake::did_binds_key(handshake::did_for_key(PrincipalType::kAgent, pk), other.public_key()));
  CHECK_FALSE(handshake::did_binds_key(handshake::did_for_key(PrincipalType::kAgent, other.public_key()), pk));
  CHECK_FALSE(handshake::did_binds_key(Did{PrincipalType::kOrg, "acme.com"}, pk));
  // A one-character change of the identifier does not bind.
  std::string altered = expected;
  altered.back() = altered.back() == 'W' ? 'X' : 'W';
  CHECK_FALSE(handshake::did_binds_key(Did{PrincipalType::kAgent, altered}, pk));
}

TEST_CASE("key_hash_id / did_for_key agree with SHA-256 + base58btc for random keys", "[did][crypto]") {
  std::set<std::string> seen;
  for (int i = 0; i < 64; ++i) {
    const crypto::SigningKey key = crypto::SigningKey::generate();
    const std::string id = handshake::key_hash_id(key.public_key());
    CHECK(id == independent_key_hash_id(key.public_key()));
    CHECK(handshake::is_key_hash_id(id));
    CHECK(id.size() >= 2);
    CHECK(id[0] == 'z');
    const Did did = handshake::did_for_key(PrincipalType::kSvc, key.public_key());
    CHECK(handshake::parse_did(did.str()).ok());
    CHECK(handshake::did_binds_key(did, key.public_key()));
    seen.insert(id);
  }
  CHECK(seen.size() == 64);
}

TEST_CASE("is_key_hash_id: only z + base58btc of exactly 32 bytes", "[did]") {
  const std::array<std::uint8_t, 32> zeros{};
  CHECK(handshake::is_key_hash_id("z" + enc::base58btc_encode(zeros)));  // 32 leading '1's
  const std::vector<std::uint8_t> b31(31, 0x5a), b33(33, 0x5a), b64(64, 0x5a);
  CHECK_FALSE(handshake::is_key_hash_id("z" + enc::base58btc_encode(b31)));
  CHECK_FALSE(handshake::is_key_hash_id("z" + enc::base58btc_encode(b33)));
  CHECK_FALSE(handshake::is_key_hash_id("z" + enc::base58btc_encode(b64)));
  const std::string good = kRfc8032KeyHashId;
  CHECK(handshake::is_key_hash_id(good));
  CHECK_FALSE(handshake::is_key_hash_id(good.substr(1)));        // no multibase prefix
  CHECK_FALSE(handshake::is_key_hash_id("Z" + good.substr(1)));  // wrong prefix
  CHECK_FALSE(handshake::is_key_hash_id("m" + good.substr(1)));
  for (const char bad : {'0', 'O', 'I', 'l', '+', '/', '_', '-'}) {
    std::string s = good;
    s[5] = bad;
    INFO("character " << bad);
    CHECK_FALSE(handshake::is_key_hash_id(s));
  }
  CHECK_FALSE(handshake::is_key_hash_id(""));
  CHECK_FALSE(handshake::is_key_hash_id("z"));
  CHECK_FALSE(handshake::is_key_hash_id("acme.com"));
  CHECK_FALSE(handshake::is_key_hash_id("alice@example.com"));
  CHECK_FALSE(handshake::is_key_hash_id(good + "1"));
  CHECK_FALSE(handshake::is_key_hash_id(std::string(600, 'z')));
}
