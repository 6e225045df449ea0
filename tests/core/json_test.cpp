#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "handshake/json.hpp"
#include "test_util.hpp"

using handshake::Json;
namespace hj = handshake::json;

namespace {

std::string canon_text(std::string_view text) {
  auto parsed = hj::parse_strict(text);
  REQUIRE(parsed.ok());
  auto c = hj::canonicalize(*parsed);
  REQUIRE(c.ok());
  return *c;
}

std::string reason_of(std::string_view text, const hj::ParseLimits& limits = {}) {
  auto r = hj::parse_strict(text, limits);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == handshake::ErrorCode::kParse);
  return r.error().reason;
}

}  // namespace

TEST_CASE("JCS: every RFC 8785 vector pair byte for byte", "[jcs][vectors]") {
  const auto dir = std::filesystem::path(HSK_PUBLIC_VECTORS_DIR) / "jcs";
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "input")) {
    const auto input = hsk_test::read_file(entry.path().string());
    const auto expected = hsk_test::read_file((dir / "output" / entry.path().filename()).string());
    INFO(entry.path().filename().string());
    CHECK(canon_text(input) == expected);
    ++n;
  }
  CHECK(n == 6);
}

TEST_CASE("JCS: reference conformance fixtures with expected canonical strings", "[jcs][vectors]") {
  const auto fixtures = hsk_test::read_json(std::string(HSK_REFERENCE_VECTORS_DIR) + "/conformance/fixtures/jcs.json");
  int checked = 0;
  for (const auto& f : fixtures.at("fixtures")) {
    if (!f.contains("expected_canonical") || !f.contains("input")) continue;
    INFO(f.value("name", "?"));
    // Re-read the input through our strict parser from its text form, so numbers keep their
    // literal spelling (nlohmann's dump() would reformat them).
    auto c = hj::canonicalize(f.at("input"));
    REQUIRE(c.ok());
    CHECK(*c == f.at("expected_canonical").get<std::string>());
    ++checked;
  }
  CHECK(checked > 10);
}

TEST_CASE("JCS: number serialization matches the JavaScript engine over the double range", "[jcs][reference]") {
  // The reference is node's own Number::toString, run at test time over ~200k doubles: random bit
  // patterns across every exponent, integers, short decimals, powers of two and ten, edges.
  const std::string script = std::string(HSK_TEST_SOURCE_DIR) + "/tools/gen_doubles.mjs";
  const std::string cmd = "node '" + script + "' 200000 20261121";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char line[128];
  std::size_t count = 0, mismatches = 0;
  while (std::fgets(line, sizeof line, p)) {
    std::string_view l(line);
    if (!l.empty() && l.back() == '\n') l.remove_suffix(1);
    const auto sp = l.find(' ');
    REQUIRE(sp == 16);
    const std::uint64_t bits = std::stoull(std::string(l.substr(0, 16)), nullptr, 16);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    const std::string expected(l.substr(sp + 1));
    const std::string got = hj::format_number(d);
    if (got != expected) {
      if (++mismatches <= 10) FAIL_CHECK("bits " << l.substr(0, 16) << ": got " << got << ", node says " << expected);
    }
    // The canonical text parses back to the same double, and re-canonicalizes to itself.
    auto back = hj::parse_strict(expected);
    if (!back.ok() || hj::canonicalize(*back).value_or(std::string()) != expected) {
      if (++mismatches <= 10) FAIL_CHECK("round trip of " << expected);
    }
    ++count;
  }
  const int rc = pclose(p);
  REQUIRE(rc == 0);
  CHECK(count > 200000);
  CHECK(mismatches == 0);
}

TEST_CASE("JCS: ECMAScript number forms", "[jcs]") {
  CHECK(hj::format_number(1e21) == "1e+21");
  CHECK(hj::format_number(1e20) == "100000000000000000000");
  CHECK(hj::format_number(5e-324) == "5e-324");
  CHECK(hj::format_number(-0.0) == "0");
  CHECK(hj::format_number(0.000001) == "0.000001");
  CHECK(hj::format_number(0.0000001) == "1e-7");
  CHECK(hj::format_number(-1.5) == "-1.5");
  CHECK(hj::format_number(123.456) == "123.456");
  CHECK(canon_text("-0") == "0");
  CHECK(canon_text("1.0") == "1");
  CHECK(canon_text("1E2") == "100");
  CHECK(canon_text("18014398509481984") == "18014398509481984");  // 2^54: exact, allowed
  CHECK(canon_text("1e-400") == "0");                              // underflows like JSON.parse
}

TEST_CASE("JCS: member order is by UTF-16 code units, not code points or bytes", "[jcs]") {
  // U+FB33 (one unit 0xFB33) sorts after U+1F600 (surrogates 0xD83D 0xDE00) in UTF-16,
  // although its code point and its UTF-8 bytes are smaller.
  const std::string text = "{\"\xEF\xAC\xB3\":1,\"\xF0\x9F\x98\x80\":2,\"a\":3}";
  CHECK(canon_text(text) == "{\"a\":3,\"\xF0\x9F\x98\x80\":2,\"\xEF\xAC\xB3\":1}");
  CHECK(hj::utf16_less("\xF0\x9F\x98\x80", "\xEF\xAC\xB3"));
  CHECK_FALSE(hj::utf16_less("\xEF\xAC\xB3", "\xF0\x9F\x98\x80"));
  CHECK(hj::utf16_less("a", "ab"));
  CHECK_FALSE(hj::utf16_less("ab", "ab"));
}

TEST_CASE("JCS: string escaping", "[jcs]") {
  CHECK(canon_text(R"("\u0000\u001f\b\f\n\r\t\"\\\/\u00e9\u20ac")") ==
        "\"\\u0000\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\xC3\xA9\xE2\x82\xAC\"");
  CHECK(canon_text(R"("\ud83d\ude00")") == "\"\xF0\x9F\x98\x80\"");
  CHECK(canon_text("\"\x7f\"") == "\"\x7f\"");  // DEL is not escaped
}

TEST_CASE("JCS: canonical form is idempotent and independent of input order and spacing", "[jcs]") {
  const std::string a = R"({"b": [1, 2.50, {"y": null, "x": true}], "a": "s"})";
  const std::string b = "{\"a\":\"s\",\n\t\"b\":[1,2.5,{\"x\":true,\"y\":null}]}";
  CHECK(canon_text(a) == canon_text(b));
  CHECK(canon_text(canon_text(a)) == canon_text(a));
}

TEST_CASE("JCS: values that have no canonical form are refused", "[jcs]") {
  Json nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(hj::canonicalize(nan).error().reason == "jcs.non_finite");
  Json inf = std::numeric_limits<double>::infinity();
  CHECK(hj::canonicalize(inf).error().reason == "jcs.non_finite");
  Json big = std::uint64_t{18446744073709551615u};
  CHECK(hj::canonicalize(big).error().reason == "jcs.inexact_integer");
  Json big_signed = std::int64_t{9007199254740993};
  CHECK(hj::canonicalize(big_signed).error().reason == "jcs.inexact_integer");
  Json exact = std::int64_t{9007199254740994};
  CHECK(hj::canonicalize(exact).value() == "9007199254740994");
  Json bad_utf8 = std::string("\xC0\xAF");
  CHECK(hj::canonicalize(bad_utf8).error().reason == "jcs.invalid_utf8");
  Json bad_key = Json::object();
  bad_key[std::string("\xFF")] = 1;
  CHECK(hj::canonicalize(bad_key).error().reason == "jcs.invalid_utf8");
}

TEST_CASE("strict parser: rejections carry a clear reason", "[json]") {
  CHECK(reason_of(R"({"a":1,"a":2})") == "json.duplicate_key");
  CHECK(reason_of(R"({"x":{"a":1,"b":{"a":1,"a":1}}})") == "json.duplicate_key");
  // Escaped spelling of the same name is still a duplicate.
  CHECK(reason_of(R"({"a":1,"\u0061":2})") == "json.duplicate_key");
  CHECK(reason_of("\"\xC3\"") == "json.invalid_utf8");               // truncated sequence
  CHECK(reason_of("\"\xC0\xAF\"") == "json.invalid_utf8");           // overlong '/'
  CHECK(reason_of("\"\xED\xA0\x80\"") == "json.invalid_utf8");       // encoded surrogate
  CHECK(reason_of("\"\xF4\x90\x80\x80\"") == "json.invalid_utf8");   // above U+10FFFF
  CHECK(reason_of("\"\xFF\"") == "json.invalid_utf8");
  CHECK(reason_of("\xEF\xBB\xBF{}") == "json.invalid_utf8");         // BOM
  CHECK(reason_of(R"("\ud800")") == "json.lone_surrogate");
  CHECK(reason_of(R"("\udc00")") == "json.lone_surrogate");
  CHECK(reason_of(R"("\ud800\u0041")") == "json.lone_surrogate");
  CHECK(reason_of(R"("\ud800x")") == "json.lone_surrogate");
  CHECK(reason_of("\"a\tb\"") == "json.control_character");
  CHECK(reason_of("9007199254740993") == "json.inexact_integer");
  CHECK(reason_of("-9007199254740993") == "json.inexact_integer");
  CHECK(reason_of("123456789012345678901234567890") == "json.inexact_integer");
  CHECK(reason_of("1e400") == "json.number_out_of_range");
  CHECK(reason_of("-1e309") == "json.number_out_of_range");
  CHECK(reason_of("{} x") == "json.trailing_data");
  CHECK(reason_of("[1,]") == "json.syntax");
  CHECK(reason_of("{\"a\" 1}") == "json.syntax");
  CHECK(reason_of("01") == "json.syntax");
  CHECK(reason_of("1.") == "json.syntax");
  CHECK(reason_of(".5") == "json.syntax");
  CHECK(reason_of("+1") == "json.syntax");
  CHECK(reason_of("NaN") == "json.syntax");
  CHECK(reason_of("tru") == "json.syntax");
  CHECK(reason_of("'a'") == "json.syntax");
  CHECK(reason_of("\"\\x\"") == "json.syntax");
  CHECK(reason_of("\"abc") == "json.syntax");
  CHECK(reason_of("") == "json.syntax");
  CHECK(reason_of("[1] \x0b") == "json.trailing_data");  // vertical tab is not JSON whitespace
}

TEST_CASE("strict parser: the message says where and what", "[json]") {
  auto r = hj::parse_strict(R"({"iss":"a","iss":"b"})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("\"iss\"") != std::string::npos);
  CHECK(r.error().message.find("at byte") != std::string::npos);
  auto n = hj::parse_strict("9007199254740993");
  CHECK(n.error().message.find("9007199254740993") != std::string::npos);
}

TEST_CASE("strict parser: depth and size limits", "[json]") {
  hj::ParseLimits limits;
  limits.max_depth = 8;
  CHECK(hj::parse_strict(std::string(8, '[') + std::string(8, ']'), limits).ok());
  CHECK(reason_of(std::string(9, '[') + std::string(9, ']'), limits) == "json.too_deep");
  CHECK(reason_of(std::string(9, '{').replace(1, 8, "") + "\"a\":" + "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}}", limits) == "json.too_deep");
  // The default depth limit stops a stack-exhaustion attempt long before the stack does.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(reason_of(deep) == "json.too_deep");
  limits = {};
  limits.max_bytes = 16;
  CHECK(hj::parse_strict("[1,2,3,4,5,6,7]", limits).ok());
  CHECK(reason_of("[1,2,3,4,5,6,7,8]", limits) == "json.too_large");
}

TEST_CASE("strict parser: values it accepts keep their meaning", "[json]") {
  auto r = hj::parse_strict(R"( {"i": 9007199254740992, "n": -42, "f": 0.5, "s": "\u00e9", "b": [true, false, null]} )");
  REQUIRE(r.ok());
  const Json& v = *r;
  CHECK(v["i"].get<std::int64_t>() == 9007199254740992);
  CHECK(v["i"].is_number_integer());
  CHECK(v["n"].get<std::int64_t>() == -42);
  CHECK(v["f"].get<double>() == 0.5);
  CHECK(v["s"].get<std::string>() == "\xC3\xA9");
  CHECK(v["b"].size() == 3);
}

TEST_CASE("strict parser: random mutations never crash and canonical output always reparses", "[json][property]") {
  std::mt19937_64 rng(12345);
  const std::string seed = R"({"version":"0.2.3","kind":"DelegationToken","n":[1,2.5,-3e10],"s":"\u00e9\ud83d\ude00","o":{"a":null}})";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = seed;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const auto pos = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[pos] = static_cast<char>(rng() & 0xFF); break;
        case 1: s.erase(pos, 1); break;
        case 2: s.insert(pos, 1, static_cast<char>(rng() & 0xFF)); break;
      }
      if (s.empty()) s = "0";
    }
    auto r = hj::parse_strict(s);
    if (!r.ok()) continue;
    ++accepted;
    auto c = hj::canonicalize(*r);
    REQUIRE(c.ok());
    auto again = hj::parse_strict(*c);
    REQUIRE(again.ok());
    CHECK(hj::canonicalize(*again).value() == *c);
  }
  CHECK(accepted > 0);
}
