#include <catch2/catch.hpp>

#include <functional>
#include <random>

#include "handshake/encoding.hpp"
#include "handshake/json.hpp"
#include "handshake/merkle.hpp"
#include "test_util.hpp"

namespace hm = handshake::merkle;
namespace enc = handshake::encoding;
using handshake::Json;

namespace {

hm::Hash h(const std::string& hex) {
  auto b = enc::hex_decode(hex);
  REQUIRE(b.ok());
  REQUIRE(b->size() == 32);
  hm::Hash out{};
  std::copy(b->begin(), b->end(), out.begin());
  return out;
}

std::vector<hm::Hash> hashes(const Json& list) {
  std::vector<hm::Hash> out;
  for (const auto& e : list) out.push_back(h(e.get<std::string>()));
  return out;
}

const Json& vectors() {
  static const Json v = hsk_test::read_json(hsk_test::public_vector("merkle_rfc6962.json"));
  return v;
}

hm::MemoryTree tree_of(std::uint64_t n) {
  hm::MemoryTree t;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto data = enc::hex_decode(vectors()["leaf_inputs"][i].get<std::string>()).value();
    t.append(hm::leaf_hash(data));
  }
  return t;
}

}  // namespace

TEST_CASE("merkle: leaf hashes and roots for sizes 0..8 match RFC 6962 vectors", "[merkle][vectors]") {
  const Json& v = vectors();
  for (std::size_t i = 0; i < v["leaf_inputs"].size(); ++i) {
    auto data = enc::hex_decode(v["leaf_inputs"][i].get<std::string>()).value();
    CHECK(enc::hex_encode(hm::leaf_hash(data)) == v["leaf_hashes"][i].get<std::string>());
  }
  const auto full = tree_of(8);
  for (const auto& [size, root] : v["roots_by_size"].items()) {
    INFO("size " << size);
    auto r = hm::root(std::stoull(size), full);
    REQUIRE(r.ok());
    CHECK(enc::hex_encode(*r) == root.get<std::string>());
  }
  CHECK(enc::hex_encode(hm::empty_root()) == v["roots_by_size"]["0"].get<std::string>());
}

TEST_CASE("merkle: inclusion proofs are generated and verified exactly as the vectors", "[merkle][vectors]") {
  const auto full = tree_of(8);
  int n = 0;
  for (const auto& c : vectors()["inclusion_proofs"]) {
    const auto index = c["leaf_index"].get<std::uint64_t>();
    const auto size = c["tree_size"].get<std::uint64_t>();
    INFO("index " << index << " size " << size);
    const auto expected = hashes(c["proof"]);
    auto proof = hm::inclusion_proof(index, size, full);
    REQUIRE(proof.ok());
    CHECK(*proof == expected);
    CHECK(hm::verify_inclusion(index, size, h(c["leaf_hash"]), expected, h(c["root"])).ok());
    // Any single change breaks it.
    if (!expected.empty()) {
      auto bad = expected;
      bad[0][0] ^= 1;
      CHECK(hm::verify_inclusion(index, size, h(c["leaf_hash"]), bad, h(c["root"])).error().reason == "merkle.mismatch");
      bad = expected;
      bad.pop_back();
      CHECK_FALSE(hm::verify_inclusion(index, size, h(c["leaf_hash"]), bad, h(c["root"])).ok());
    }
    auto longer = expected;
    longer.push_back(h(c["root"]));
    CHECK_FALSE(hm::verify_inclusion(index, size, h(c["leaf_hash"]), longer, h(c["root"])).ok());
    if (size > 1) CHECK_FALSE(hm::verify_inclusion((index + 1) % size, size, h(c["leaf_hash"]), expected, h(c["root"])).ok());
    ++n;
  }
  CHECK(n == 36);
  CHECK(hm::inclusion_proof(8, 8, full).error().reason == "merkle.range");
  CHECK(hm::verify_inclusion(3, 3, hm::empty_root(), {}, hm::empty_root()).error().reason == "merkle.range");
}

TEST_CASE("merkle: consistency proofs are generated and verified exactly as the vectors", "[merkle][vectors]") {
  const auto full = tree_of(8);
  int n = 0;
  for (const auto& c : vectors()["consistency_proofs"]) {
    const auto s1 = c["size1"].get<std::uint64_t>(), s2 = c["size2"].get<std::uint64_t>();
    INFO("sizes " << s1 << " -> " << s2);
    const auto expected = hashes(c["proof"]);
    auto proof = hm::consistency_proof(s1, s2, full);
    REQUIRE(proof.ok());
    CHECK(*proof == expected);
    CHECK(hm::verify_consistency(s1, s2, expected, h(c["root1"]), h(c["root2"])).ok());
    if (!expected.empty()) {
      auto bad = expected;
      bad.back()[31] ^= 0x80;
      CHECK_FALSE(hm::verify_consistency(s1, s2, bad, h(c["root1"]), h(c["root2"])).ok());
      if (s1 != s2 && c["root1"] != c["root2"]) {
        CHECK_FALSE(hm::verify_consistency(s1, s2, expected, h(c["root2"]), h(c["root2"])).ok());
      }
    }
    ++n;
  }
  CHECK(n == 36);
  // The upstream tables (transparency-dev/merkle) agree too.
  for (const auto& c : vectors()["upstream_consistency_vectors"]) {
    const auto s1 = c["size1"].get<std::uint64_t>(), s2 = c["size2"].get<std::uint64_t>();
    auto proof = hm::consistency_proof(s1, s2, full);
    REQUIRE(proof.ok());
    CHECK(*proof == hashes(c["proof"]));
  }
  CHECK(hm::consistency_proof(0, 3, full).error().reason == "merkle.range");
  CHECK(hm::consistency_proof(4, 3, full).error().reason == "merkle.range");
  CHECK(hm::verify_consistency(0, 3, {}, hm::empty_root(), hm::empty_root()).error().reason == "merkle.range");
  const auto r3 = hm::root(3, full).value(), r5 = hm::root(5, full).value();
  CHECK(hm::verify_consistency(3, 5, {}, r3, r5).error().reason == "merkle.proof");
  CHECK(hm::verify_consistency(3, 3, {}, r3, r5).error().reason == "merkle.mismatch");
  CHECK(hm::verify_consistency(3, 3, std::vector<hm::Hash>{r3}, r3, r3).error().reason == "merkle.proof");
}

TEST_CASE("merkle: random trees — every proof verifies, every root matches a direct computation", "[merkle][property]") {
  std::mt19937_64 rng(7);
  hm::MemoryTree t;
  std::vector<hm::Hash> leaves;
  for (int i = 0; i < 300; ++i) {
    hm::Hash leaf{};
    for (auto& b : leaf) b = static_cast<std::uint8_t>(rng());
    leaves.push_back(leaf);
    t.append(leaf);
  }
  // Direct RFC 9162 MTH, recursively, as a reference.
  std::function<hm::Hash(std::size_t, std::size_t)> mth = [&](std::size_t a, std::size_t b) -> hm::Hash {
    if (b - a == 1) return leaves[a];
    std::size_t k = 1;
    while (k * 2 < b - a) k *= 2;
    return hm::node_hash(mth(a, a + k), mth(a + k, b));
  };
  for (int trial = 0; trial < 300; ++trial) {
    const std::uint64_t size = 1 + rng() % 300;
    const std::uint64_t index = rng() % size;
    const auto r = hm::root(size, t).value();
    CHECK(r == mth(0, size));
    const auto proof = hm::inclusion_proof(index, size, t).value();
    CHECK(proof.size() <= 9);
    CHECK(hm::verify_inclusion(index, size, leaves[index], proof, r).ok());
    const std::uint64_t size1 = 1 + rng() % size;
    const auto cp = hm::consistency_proof(size1, size, t).value();
    CHECK(hm::verify_consistency(size1, size, cp, hm::root(size1, t).value(), r).ok());
  }
}
