// Writes the seed corpora of the core fuzz harnesses: hsk_fuzz_seeds OUT_DIR VECTORS_DIR
//
//   OUT_DIR/json/       every vector file as it is, and every message found in one
//   OUT_DIR/messages/   every message (six kinds) and DID Document found in the vectors, and one
//                       of each kind from the fixed fuzz world
//   OUT_DIR/service/    requests from the vectors, and requests valid (or refused for a known
//                       reason) under the fixed fuzz world
//   OUT_DIR/merkle/     the RFC 6962 vectors' proofs and genuine proofs of the fixed tree
//   OUT_DIR/encoding/   every string of the base64url / base58 / multibase vectors, every hex
// File names are content hashes, so running it again adds nothing twice.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>

#include "fuzz_support.hpp"

namespace {

using namespace hsk_fuzz;
namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class Corpus {
 public:
  explicit Corpus(fs::path root) : root_(std::move(root)) {}
  void add(const std::string& target, const std::string& bytes) {
    const auto digest = hs::crypto::sha256(hs::encoding::as_bytes(bytes));
    const fs::path dir = root_ / target;
    fs::create_directories(dir);
    const fs::path file = dir / hs::encoding::hex_encode(std::span(digest).first(12));
    if (fs::exists(file)) return;
    std::ofstream(file, std::ios::binary) << bytes;
    ++counts_[target];
  }
  void report() const {
    for (const auto& [t, n] : counts_) std::printf("%-10s %zu new seeds\n", t.c_str(), n);
  }

 private:
  fs::path root_;
  std::map<std::string, std::size_t> counts_;
};

bool is_message_kind(const Json& j) { return hs::kind_of(j).ok(); }
bool is_did_document(const Json& j) { return j.is_object() && j.contains("verificationMethod") && j.contains("id"); }

// Every object inside `j` that is a message or a DID Document.
void collect(const Json& j, Corpus& c) {
  if (j.is_object()) {
    if (is_message_kind(j)) {
      c.add("messages", j.dump());
      c.add("json", j.dump());
      if (j.at("kind") == "HandshakeRequest") c.add("service", j.dump());
    } else if (is_did_document(j)) {
      c.add("messages", j.dump());
    }
  }
  if (j.is_structured()) {
    for (const auto& v : j) collect(v, c);
  }
}

void encoding_strings(const Json& j, const std::string& key, bool base58_file, Corpus& c) {
  if (j.is_structured()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      encoding_strings(*it, j.is_object() ? it.key() : key, base58_file, c);
    }
    return;
  }
  if (!j.is_string() || key == "description" || key == "why" || key == "file" || key == "source" || key == "encoding") {
    return;
  }
  const std::string s = j.get<std::string>();
  auto add = [&](Codec codec, const std::string& text) { c.add("encoding", std::string(1, static_cast<char>(codec)) + text); };
  if (key == "bytes_hex") {
    add(Codec::kHex, s);
  } else if (base58_file) {
    add(Codec::kBase58btc, s);
    add(Codec::kMultibase, s);
    if (!s.empty() && s[0] == 'z') add(Codec::kBase58btc, s.substr(1));
  } else {
    add(Codec::kBase64url, s);
  }
}

std::vector<hs::merkle::Hash> hashes(const Json& hex_list) {
  std::vector<hs::merkle::Hash> out;
  for (const auto& h : hex_list) {
    const auto bytes = must(hs::encoding::hex_decode(h.get<std::string>()));
    hs::merkle::Hash x{};
    std::copy(bytes.begin(), bytes.end(), x.begin());
    out.push_back(x);
  }
  return out;
}

void merkle_seeds(const fs::path& vectors, Corpus& c) {
  const FixedTree& t = fixed_tree();
  const auto v = nlohmann::json::parse(read_file(vectors / "public" / "merkle_rfc6962.json"));
  for (const auto& p : v.at("inclusion_proofs")) {
    const auto index = p.at("leaf_index").get<std::uint64_t>();
    c.add("merkle", encode_merkle_input(false, index, p.at("tree_size").get<std::uint64_t>(),
                                        static_cast<std::uint8_t>(index), {}, hashes(p.at("proof"))));
  }
  for (const auto& p : v.at("consistency_proofs")) {
    c.add("merkle", encode_merkle_input(true, p.at("size1").get<std::uint64_t>(), p.at("size2").get<std::uint64_t>(),
                                        std::nullopt, {}, hashes(p.at("proof"))));
  }
  for (const std::uint64_t size : {9u, 13u, 16u, 31u, 33u, 64u, 69u, 70u}) {
    for (const std::uint64_t index : {std::uint64_t{0}, size / 2, size - 1}) {
      const auto proof = must(hs::merkle::inclusion_proof(index, size, t.tree));
      c.add("merkle", encode_merkle_input(false, index, size, static_cast<std::uint8_t>(index), {}, proof));
      c.add("merkle", encode_merkle_input(false, index, size, std::nullopt, t.leaves[index], proof, /*wide=*/true));
    }
    for (const std::uint64_t size1 : {std::uint64_t{1}, size / 3 + 1, size - 1}) {
      const auto proof = must(hs::merkle::consistency_proof(size1, size, t.tree));
      c.add("merkle", encode_merkle_input(true, size1, size, std::nullopt, {}, proof));
      c.add("merkle", encode_merkle_input(true, size1, size, std::nullopt, {}, proof, /*wide=*/true));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR VECTORS_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path vectors = argv[2];
  Corpus c(out);
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(vectors)) {
    if (!e.is_regular_file() || e.path().extension() != ".json") continue;
    const std::string text = read_file(e.path());
    ++files;
    if (text.size() <= 256 * 1024) c.add("json", text);
    const auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) continue;
    collect(doc, c);
    const auto name = e.path().filename().string();
    if (name == "base64url_rfc4648.json") encoding_strings(doc, "", false, c);
    if (name == "base58btc_multibase.json") encoding_strings(doc, "", true, c);
  }
  if (files == 0) {
    std::fprintf(stderr, "no vector files under %s\n", vectors.c_str());
    return 1;
  }
  merkle_seeds(vectors, c);

  const FuzzWorld& w = world();
  for (const auto& r : w.seed_requests()) {
    c.add("service", r.dump());
    c.add("service", r.dump(2));
  }
  for (const auto& m : w.seed_messages()) {
    c.add("messages", m.dump());
    c.add("json", m.dump());
  }
  // Hand-written JSON corners the vectors may not hold.
  for (const char* s : {R"({"a":1,"b":[true,false,null],"c":{"d":"\u00e9\ud83d\ude00"}})", "[1e21,1e-7,-0,0.1,5e-324]",
                        R"("\u2028\u2029\b\f\n\r\t\"\\/")", "9007199254740992", "36028797018963970", "{}", "[]", R"("")"}) {
    c.add("json", s);
  }
  c.report();
  return 0;
}
