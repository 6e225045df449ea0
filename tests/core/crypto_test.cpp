#include <algorithm>
#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"
#include "test_util.hpp"

namespace crypto = handshake::crypto;
namespace enc = handshake::encoding;
using handshake::ErrorCode;

namespace {

enc::Bytes unhex(const std::string& hex) {
  auto r = enc::hex_decode(hex);
  REQUIRE(r.ok());
  return r.value();
}

template <std::size_t N>
std::array<std::uint8_t, N> unhex_array(const std::string& hex) {
  const enc::Bytes bytes = unhex(hex);
  REQUIRE(bytes.size() == N);
  std::array<std::uint8_t, N> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

// Bit positions to flip in an n-bit string: every bit for short strings, otherwise a spread
// that still covers the first and last byte of the string.
std::vector<std::size_t> sample_bits(std::size_t nbits) {
  std::vector<std::size_t> bits;
  const std::size_t stride = nbits <= 512 ? 1 : nbits / 200 + 1;
  for (std::size_t b = 0; b < nbits; b += stride) bits.push_back(b);
  for (std::size_t b = 0; b < 8 && b < nbits; ++b) {
    bits.push_back(b);
    bits.push_back(nbits - 1 - b);
  }
  return bits;
}

template <typename Container>
void flip(Container& c, std::size_t bit) {
  c[bit / 8] = static_cast<std::uint8_t>(c[bit / 8] ^ (1u << (bit % 8)));
}

}  // namespace

TEST_CASE("Ed25519 RFC 8032 vectors", "[crypto][ed25519][vectors]") {
  const auto doc = hsk_test::read_json(hsk_test::public_vector("ed25519_rfc8032.json"));
  const auto& vectors = doc.at("vectors");
  REQUIRE(vectors.size() == 5);
  for (const auto& v : vectors) {
    INFO(v.at("name").get<std::string>());
    const enc::Bytes seed = unhex(v.at("secret_key").get<std::string>());
    const auto public_key = unhex_array<crypto::kPublicKeyBytes>(v.at("public_key").get<std::string>());
    const enc::Bytes message = unhex(v.at("message").get<std::string>());
    const auto expected = unhex_array<crypto::kSignatureBytes>(v.at("signature").get<std::string>());

    auto key = crypto::SigningKey::from_seed(seed);
    REQUIRE(key.ok());
    CHECK(key->public_key() == public_key);
    CHECK(std::equal(seed.begin(), seed.end(), key->seed_bytes().begin()));
    CHECK(crypto::is_valid_public_key(public_key));

    const crypto::Signature signature = key->sign(message);
    CHECK(signature == expected);
    CHECK(crypto::verify(public_key, message, expected));

    // Flipping any single bit of message, signature or key must break verification.
    for (const std::size_t bit : sample_bits(message.size() * 8)) {
      enc::Bytes tampered = message;
      flip(tampered, bit);
      INFO("message bit " << bit);
      CHECK_FALSE(crypto::verify(public_key, tampered, expected));
    }
    for (const std::size_t bit : sample_bits(crypto::kSignatureBytes * 8)) {
      crypto::Signature tampered = expected;
      flip(tampered, bit);
      INFO("signature bit " << bit);
      CHECK_FALSE(crypto::verify(public_key, message, tampered));
    }
    for (const std::size_t bit : sample_bits(crypto::kPublicKeyBytes * 8)) {
      crypto::PublicKey tampered = public_key;
      flip(tampered, bit);
      INFO("key bit " << bit);
      CHECK_FALSE(crypto::verify(tampered, message, expected));
    }

    // A signature span of the wrong length is a verification failure, not a crash.
    const std::span<const std::uint8_t> sig(expected);
    CHECK_FALSE(crypto::verify(public_key, message, sig.first(63)));
    CHECK_FALSE(crypto::verify(public_key, message, sig.first(0)));
    enc::Bytes longer(expected.begin(), expected.end());
    longer.push_back(0);
    CHECK_FALSE(crypto::verify(public_key, message, longer));
  }
}

TEST_CASE("SigningKey::from_seed rejects seeds that are not 32 bytes", "[crypto][ed25519]") {
  for (const std::size_t length : {0, 1, 31, 33, 64}) {
    INFO("length " << length);
    const enc::Bytes seed(length, 0x42);
    auto key = crypto::SigningKey::from_seed(seed);
    REQUIRE_FALSE(key.ok());
    CHECK(key.error().code == ErrorCode::kKey);
    CHECK(key.error().reason == "key.seed_length");
  }
  CHECK(crypto::SigningKey::from_seed(enc::Bytes(32, 0x42)).ok());
}

TEST_CASE("generated keys sign, verify and reload from their seed", "[crypto][ed25519]") {
  const crypto::SigningKey a = crypto::SigningKey::generate();
  const crypto::SigningKey b = crypto::SigningKey::generate();
  CHECK(a.public_key() != b.public_key());
  CHECK(crypto::is_valid_public_key(a.public_key()));

  const auto message = enc::as_bytes("handshake");
  const crypto::Signature sig = a.sign(message);
  CHECK(crypto::verify(a.public_key(), message, sig));
  CHECK_FALSE(crypto::verify(b.public_key(), message, sig));
  CHECK_FALSE(crypto::verify(a.public_key(), enc::as_bytes("handshakf"), sig));
  // Ed25519 is deterministic.
  CHECK(a.sign(message) == sig);

  auto reloaded = crypto::SigningKey::from_seed(a.seed_bytes());
  REQUIRE(reloaded.ok());
  CHECK(reloaded->public_key() == a.public_key());
  CHECK(reloaded->sign(message) == sig);
}

TEST_CASE("SigningKey moves wipe the source", "[crypto][ed25519]") {
  const std::array<std::uint8_t, 32> zeros{};
  auto seeded = crypto::SigningKey::from_seed(enc::Bytes(32, 0x5a));
  REQUIRE(seeded.ok());
  crypto::SigningKey original = std::move(seeded).value();
  const crypto::PublicKey public_key = original.public_key();
  const auto message = enc::as_bytes("move me");

  crypto::SigningKey moved(std::move(original));
  // NOLINTNEXTLINE(bugprone-use-after-move): checking the moved-from state is the point.
  CHECK(std::equal(zeros.begin(), zeros.end(), original.seed_bytes().begin()));
  CHECK(std::equal(moved.seed_bytes().begin(), moved.seed_bytes().end(), enc::Bytes(32, 0x5a).begin()));
  CHECK(moved.public_key() == public_key);
  CHECK(crypto::verify(public_key, message, moved.sign(message)));

  crypto::SigningKey target = crypto::SigningKey::generate();
  target = std::move(moved);
  // NOLINTNEXTLINE(bugprone-use-after-move)
  CHECK(std::equal(zeros.begin(), zeros.end(), moved.seed_bytes().begin()));
  CHECK(target.public_key() == public_key);
  CHECK(crypto::verify(public_key, message, target.sign(message)));

  crypto::SigningKey& alias = target;
  target = std::move(alias);
  CHECK(target.public_key() == public_key);
  CHECK(crypto::verify(public_key, message, target.sign(message)));
}

TEST_CASE("is_valid_public_key rejects malformed and small-order keys", "[crypto][ed25519]") {
  const auto valid = unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  CHECK(crypto::is_valid_public_key(valid));
  CHECK_FALSE(crypto::is_valid_public_key(std::span(valid).first(31)));
  enc::Bytes longer = valid;
  longer.push_back(0);
  CHECK_FALSE(crypto::is_valid_public_key(longer));
  CHECK_FALSE(crypto::is_valid_public_key({}));

  // Small-order points: y = 0 (order 4), the identity y = 1, and y = p - 1 (order 2).
  CHECK_FALSE(crypto::is_valid_public_key(enc::Bytes(32, 0)));
  CHECK_FALSE(crypto::is_valid_public_key(
      unhex("0100000000000000000000000000000000000000000000000000000000000000")));
  CHECK_FALSE(crypto::is_valid_public_key(
      unhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")));
  // Non-canonical: y >= p.
  CHECK_FALSE(crypto::is_valid_public_key(
      unhex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")));

  // A small-order key must not verify anything, whatever the signature.
  crypto::PublicKey identity{};
  identity[0] = 1;
  const crypto::Signature zero_sig{};
  CHECK_FALSE(crypto::verify(identity, enc::as_bytes("x"), zero_sig));
}

TEST_CASE("SHA-256 known answers (FIPS 180)", "[crypto][sha256]") {
  CHECK(enc::hex_encode(crypto::sha256(enc::as_bytes("abc"))) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(enc::hex_encode(crypto::sha256(enc::as_bytes(""))) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(enc::hex_encode(crypto::sha256({})) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(enc::hex_encode(crypto::sha256(enc::as_bytes(
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("SHA3-256 known answers (FIPS 202)", "[crypto][sha3]") {
  auto empty = crypto::sha3_256(enc::as_bytes(""));
  REQUIRE(empty.ok());
  CHECK(enc::hex_encode(empty.value()) ==
        "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
  auto abc = crypto::sha3_256(enc::as_bytes("abc"));
  REQUIRE(abc.ok());
  CHECK(enc::hex_encode(abc.value()) ==
        "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
  // SHA3-256 is not SHA-256.
  CHECK(abc.value() != crypto::sha256(enc::as_bytes("abc")));
}

TEST_CASE("random_bytes and make_nonce", "[crypto][random]") {
  std::array<std::uint8_t, 64> a{};
  std::array<std::uint8_t, 64> b{};
  crypto::random_bytes(a);
  crypto::random_bytes(b);
  CHECK(a != b);
  CHECK(a != std::array<std::uint8_t, 64>{});
  crypto::random_bytes(std::span<std::uint8_t>{});

  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string nonce = crypto::make_nonce();
    CHECK(nonce.size() == 22);
    auto decoded = enc::base64url_decode(nonce);
    REQUIRE(decoded.ok());
    CHECK(decoded.value().size() == crypto::kNonceBytes);
    seen.insert(nonce);
  }
  CHECK(seen.size() == 100);
  CHECK(crypto::make_nonce() != crypto::make_nonce());
}

TEST_CASE("constant_time_equal", "[crypto][compare]") {
  const enc::Bytes a{1, 2, 3, 4};
  const enc::Bytes same{1, 2, 3, 4};
  const enc::Bytes last_differs{1, 2, 3, 5};
  const enc::Bytes first_differs{0, 2, 3, 4};
  const enc::Bytes shorter{1, 2, 3};
  CHECK(crypto::constant_time_equal(a, same));
  CHECK_FALSE(crypto::constant_time_equal(a, last_differs));
  CHECK_FALSE(crypto::constant_time_equal(a, first_differs));
  CHECK_FALSE(crypto::constant_time_equal(a, shorter));
  CHECK_FALSE(crypto::constant_time_equal(shorter, a));
  CHECK(crypto::constant_time_equal(std::span<const std::uint8_t>{}, std::span<const std::uint8_t>{}));
  CHECK_FALSE(crypto::constant_time_equal(std::span<const std::uint8_t>{}, a));

  CHECK(crypto::constant_time_equal(std::string_view("nonce"), std::string_view("nonce")));
  CHECK_FALSE(crypto::constant_time_equal(std::string_view("nonce"), std::string_view("nonc3")));
  CHECK_FALSE(crypto::constant_time_equal(std::string_view("nonce"), std::string_view("nonce!")));
  CHECK(crypto::constant_time_equal(std::string_view(""), std::string_view("")));
}

TEST_CASE("ensure_initialized is safe to call concurrently", "[crypto]") {
  std::vector<std::thread> threads;
  std::array<crypto::Digest, 8> digests{};
  for (std::size_t i = 0; i < digests.size(); ++i) {
    threads.emplace_back([&digests, i] {
      crypto::ensure_initialized();
      crypto::ensure_initialized();
      digests[i] = crypto::sha256(enc::as_bytes("abc"));
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& d : digests) CHECK(d == crypto::sha256(enc::as_bytes("abc")));
}
