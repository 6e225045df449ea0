#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/encoding.hpp"
#include "test_util.hpp"

namespace enc = handshake::encoding;
using handshake::ErrorCode;

namespace {

enc::Bytes unhex(const std::string& hex) {
  auto r = enc::hex_decode(hex);
  REQUIRE(r.ok());
  return r.value();
}

void require_rejected(const handshake::Result<enc::Bytes>& r, const std::string& reason) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  CHECK(r.error().reason == reason);
}

}  // namespace

TEST_CASE("hex encodes lowercase and decodes either case", "[encoding][hex]") {
  const enc::Bytes bytes{0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
  CHECK(enc::hex_encode(bytes) == "00017f80abcdefff");
  CHECK(enc::hex_encode({}) == "");

  auto lower = enc::hex_decode("00017f80abcdefff");
  REQUIRE(lower.ok());
  CHECK(lower.value() == bytes);
  auto upper = enc::hex_decode("00017F80ABCDEFFF");
  REQUIRE(upper.ok());
  CHECK(upper.value() == bytes);
  auto mixed = enc::hex_decode("aBcD");
  REQUIRE(mixed.ok());
  CHECK(mixed.value() == enc::Bytes{0xab, 0xcd});
  auto empty = enc::hex_decode("");
  REQUIRE(empty.ok());
  CHECK(empty.value().empty());
}

TEST_CASE("hex rejects odd length and non-hex characters", "[encoding][hex]") {
  require_rejected(enc::hex_decode("a"), "hex.invalid");
  require_rejected(enc::hex_decode("abc"), "hex.invalid");
  require_rejected(enc::hex_decode("0g"), "hex.invalid");
  require_rejected(enc::hex_decode("g0"), "hex.invalid");
  require_rejected(enc::hex_decode("0x00"), "hex.invalid");
  require_rejected(enc::hex_decode(" 0"), "hex.invalid");
  require_rejected(enc::hex_decode(std::string("0\0", 2)), "hex.invalid");
  require_rejected(enc::hex_decode("\xff\xff"), "hex.invalid");
}

TEST_CASE("base64url RFC 4648 vectors round-trip", "[encoding][base64url][vectors]") {
  const auto doc = hsk_test::read_json(hsk_test::public_vector("base64url_rfc4648.json"));
  const auto& vectors = doc.at("vectors");
  REQUIRE(vectors.size() >= 20);
  for (const auto& v : vectors) {
    const std::string text = v.at("base64url").get<std::string>();
    const enc::Bytes bytes = unhex(v.at("bytes_hex").get<std::string>());
    INFO(v.at("source").get<std::string>() << ": " << text);

    CHECK(enc::base64url_encode(bytes) == text);
    auto decoded = enc::base64url_decode(text);
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == bytes);

    // The padded and standard-alphabet forms are different texts and must not be accepted.
    for (const char* other : {"base64url_padded", "base64"}) {
      const std::string alt = v.at(other).get<std::string>();
      if (alt != text) require_rejected(enc::base64url_decode(alt), "base64url.invalid");
    }
  }
}

TEST_CASE("base64url strict decode rejects non-canonical input", "[encoding][base64url][vectors]") {
  const auto doc = hsk_test::read_json(hsk_test::public_vector("base64url_rfc4648.json"));
  const auto& rows = doc.at("strict_decode_must_fail");
  REQUIRE(rows.size() >= 10);
  for (const auto& row : rows) {
    const std::string input = row.at("input").get<std::string>();
    INFO(row.at("why").get<std::string>() << ": '" << input << "'");
    require_rejected(enc::base64url_decode(input), "base64url.invalid");
  }
}

TEST_CASE("base64url rejects every byte outside the alphabet", "[encoding][base64url]") {
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (alphabet.find(c) != std::string::npos) continue;
    INFO("byte " << b);
    std::string text = "AAAA";
    text[2] = c;
    require_rejected(enc::base64url_decode(text), "base64url.invalid");
  }
}

TEST_CASE("base64url rejects every non-zero trailing-bit pattern", "[encoding][base64url]") {
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (std::size_t v = 0; v < 64; ++v) {
    INFO("last symbol value " << v);
    // Two symbols carry 12 bits for 8: the low 4 bits of the last symbol must be zero.
    auto two = enc::base64url_decode(std::string("A") + alphabet[v]);
    CHECK(two.ok() == ((v & 0x0f) == 0));
    // Three symbols carry 18 bits for 16: the low 2 bits must be zero.
    auto three = enc::base64url_decode(std::string("AA") + alphabet[v]);
    CHECK(three.ok() == ((v & 0x03) == 0));
    // Four symbols carry exactly 24 bits: always valid.
    CHECK(enc::base64url_decode(std::string("AAA") + alphabet[v]).ok());
  }
}

TEST_CASE("base58btc bitcoin vectors round-trip", "[encoding][base58][vectors]") {
  const auto doc = hsk_test::read_json(hsk_test::public_vector("base58btc_multibase.json"));
  const auto& rows = doc.at("bitcoin_encode_decode");
  REQUIRE(rows.size() >= 20);
  for (const auto& row : rows) {
    const std::string text = row.at("base58btc").get<std::string>();
    const enc::Bytes bytes = unhex(row.at("bytes_hex").get<std::string>());
    INFO("'" << text << "'");
    CHECK(enc::base58btc_encode(bytes) == text);
    auto decoded = enc::base58btc_decode(text);
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == bytes);
  }
}

TEST_CASE("multibase spec rows: base58btc round-trips, other bases are unsupported",
          "[encoding][multibase][vectors]") {
  const auto doc = hsk_test::read_json(hsk_test::public_vector("base58btc_multibase.json"));
  const auto& rows = doc.at("multibase_spec_tests");
  int base58_rows = 0;
  int other_rows = 0;
  for (const auto& row : rows) {
    const std::string encoding = row.at("encoding").get<std::string>();
    const std::string text = row.at("multibase").get<std::string>();
    const enc::Bytes bytes = unhex(row.at("bytes_hex").get<std::string>());
    INFO(encoding << ": '" << text << "'");
    if (encoding == "base58btc") {
      ++base58_rows;
      CHECK(enc::multibase_z_encode(bytes) == text);
      auto decoded = enc::multibase_decode(text);
      REQUIRE(decoded.ok());
      CHECK(decoded.value() == bytes);
    } else {
      ++other_rows;
      require_rejected(enc::multibase_decode(text), "multibase.unsupported");
    }
  }
  CHECK(base58_rows == 3);
  CHECK(other_rows == 15);
}

TEST_CASE("multibase did:key Ed25519 values", "[encoding][multibase][vectors]") {
  const auto doc = hsk_test::read_json(hsk_test::public_vector("base58btc_multibase.json"));
  for (const auto& row : doc.at("did_key_ed25519_derived").at("vectors")) {
    enc::Bytes bytes = unhex(row.at("multicodec_prefix_hex").get<std::string>());
    const enc::Bytes key = unhex(row.at("ed25519_public_key_hex").get<std::string>());
    bytes.insert(bytes.end(), key.begin(), key.end());
    const std::string text = row.at("publicKeyMultibase").get<std::string>();
    INFO(text);
    CHECK(enc::multibase_z_encode(bytes) == text);
    auto decoded = enc::multibase_decode(text);
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == bytes);
  }
}

TEST_CASE("base58btc rejects characters outside the alphabet", "[encoding][base58][vectors]") {
  const auto doc = hsk_test::read_json(hsk_test::public_vector("base58btc_multibase.json"));
  const auto& rows = doc.at("decode_must_fail_derived");
  REQUIRE(rows.size() >= 8);
  for (const auto& row : rows) {
    const std::string input = row.at("input").get<std::string>();
    INFO(row.at("why").get<std::string>());
    require_rejected(enc::base58btc_decode(input), "base58.invalid");
    require_rejected(enc::multibase_decode("z" + input), "base58.invalid");
  }

  const std::string alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (alphabet.find(c) != std::string::npos) continue;
    INFO("byte " << b);
    require_rejected(enc::base58btc_decode(std::string("2") + c + "g"), "base58.invalid");
  }
}

TEST_CASE("base58btc bounds the input length", "[encoding][base58]") {
  require_rejected(enc::base58btc_decode(std::string(enc::kMaxBase58Chars + 1, '2')),
                   "base58.too_long");
  require_rejected(enc::base58btc_decode(std::string(100000, 'z')), "base58.too_long");
  require_rejected(enc::multibase_decode("z" + std::string(enc::kMaxBase58Chars + 1, '1')),
                   "base58.too_long");

  auto ones = enc::base58btc_decode(std::string(enc::kMaxBase58Chars, '1'));
  REQUIRE(ones.ok());
  CHECK(ones.value() == enc::Bytes(enc::kMaxBase58Chars, 0));

  const std::string max_z(enc::kMaxBase58Chars, 'z');
  auto big = enc::base58btc_decode(max_z);
  REQUIRE(big.ok());
  CHECK(enc::base58btc_encode(big.value()) == max_z);
}

TEST_CASE("multibase rejects a missing or foreign prefix", "[encoding][multibase]") {
  require_rejected(enc::multibase_decode(""), "multibase.unsupported");
  require_rejected(enc::multibase_decode("Z2g"), "multibase.unsupported");
  require_rejected(enc::multibase_decode("f61"), "multibase.unsupported");
  require_rejected(enc::multibase_decode(" z2g"), "multibase.unsupported");
  auto empty = enc::multibase_decode("z");
  REQUIRE(empty.ok());
  CHECK(empty.value().empty());
  CHECK(enc::multibase_z_encode({}) == "z");
}

TEST_CASE("random byte strings round-trip through every encoding", "[encoding][property]") {
  std::mt19937 rng(0x48534b31);  // fixed seed: failures are reproducible
  std::uniform_int_distribution<int> length_dist(0, 64);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  std::uniform_int_distribution<int> zeros_dist(0, 3);
  for (int iteration = 0; iteration < 3000; ++iteration) {
    enc::Bytes bytes(static_cast<std::size_t>(length_dist(rng)));
    for (auto& b : bytes) b = static_cast<std::uint8_t>(byte_dist(rng));
    // Leading zero bytes are the special case of base58; make them common.
    if (iteration % 4 == 0) {
      const auto zeros = std::min<std::size_t>(bytes.size(), static_cast<std::size_t>(zeros_dist(rng)));
      for (std::size_t i = 0; i < zeros; ++i) bytes[i] = 0;
    }
    INFO("iteration " << iteration << " bytes " << enc::hex_encode(bytes));

    const std::string b64 = enc::base64url_encode(bytes);
    CHECK(b64.size() == (bytes.size() * 4 + 2) / 3);
    auto b64_back = enc::base64url_decode(b64);
    REQUIRE(b64_back.ok());
    CHECK(b64_back.value() == bytes);

    const std::string b58 = enc::base58btc_encode(bytes);
    auto b58_back = enc::base58btc_decode(b58);
    REQUIRE(b58_back.ok());
    CHECK(b58_back.value() == bytes);

    const std::string mb = enc::multibase_z_encode(bytes);
    CHECK(mb == "z" + b58);
    auto mb_back = enc::multibase_decode(mb);
    REQUIRE(mb_back.ok());
    CHECK(mb_back.value() == bytes);

    const std::string hex = enc::hex_encode(bytes);
    CHECK(hex.size() == bytes.size() * 2);
    auto hex_back = enc::hex_decode(hex);
    REQUIRE(hex_back.ok());
    CHECK(hex_back.value() == bytes);
  }
}

TEST_CASE("random text: decoders accept only canonical encodings", "[encoding][property]") {
  // Any text a strict decoder accepts must be exactly what the encoder produces for the result;
  // otherwise two texts would map to the same bytes.
  std::mt19937 rng(0x7a7a7a7a);
  const std::string b64_chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n";
  const std::string b58_chars =
      "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz111110OIl+ ";
  std::uniform_int_distribution<int> length_dist(0, 40);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  int b64_accepted = 0;
  int b58_accepted = 0;
  for (int iteration = 0; iteration < 3000; ++iteration) {
    const auto length = static_cast<std::size_t>(length_dist(rng));
    std::string b64(length, 'A');
    std::string b58(length, '1');
    std::string raw(length, '\0');
    for (std::size_t i = 0; i < length; ++i) {
      b64[i] = b64_chars[static_cast<std::size_t>(byte_dist(rng)) % b64_chars.size()];
      b58[i] = b58_chars[static_cast<std::size_t>(byte_dist(rng)) % b58_chars.size()];
      raw[i] = static_cast<char>(byte_dist(rng));
    }
    INFO("iteration " << iteration);

    if (auto r = enc::base64url_decode(b64); r.ok()) {
      ++b64_accepted;
      CHECK(enc::base64url_encode(r.value()) == b64);
    }
    if (auto r = enc::base58btc_decode(b58); r.ok()) {
      ++b58_accepted;
      CHECK(enc::base58btc_encode(r.value()) == b58);
    }
    // Arbitrary bytes must never crash any decoder.
    for (const auto& r : {enc::base64url_decode(raw), enc::base58btc_decode(raw),
                          enc::multibase_decode(raw), enc::hex_decode(raw)}) {
      if (r.ok()) CHECK(r.value().size() <= raw.size());
    }
  }
  // The generators must exercise the accepting path too, or the checks above prove nothing.
  CHECK(b64_accepted > 100);
  CHECK(b58_accepted > 100);
}
