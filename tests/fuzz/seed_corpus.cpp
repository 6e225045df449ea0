// Writes the seed corpora of the core fuzz harnesses: hsk_fuzz_seeds OUT_DIR VECTORS_DIR
//
//   OUT_DIR/json/       every vector file as it is, and every message found in one
//   OUT_DIR/messages/   every message (six kinds) and DID Document found in the vectors, and one
//                       of each kind from the fixed fuzz world
//   OUT_DIR/service/    requests from the vectors, and requests valid (or refused for a known
//                       reason) under the fixed fuzz world
//   OUT_DIR/merkle/     the RFC 6962 vectors' proofs and genuine proofs of the fixed tree
//   OUT_DIR/encoding/   every string of the base64url / base58 / multibase vectors, every hex
//   OUT_DIR/mcp_stdio/, OUT_DIR/a2a_envelope/   JSON-RPC around the fixed world's requests
//   OUT_DIR/ap2_mandates/   a paid mandate's dispute bundles and receipt metadata (when the AP2
//                       adapter is built)
// File names are content hashes, so running it again adds nothing twice.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>

#include "fuzz_support.hpp"
#ifdef HSK_FUZZ_SEEDS_AP2
#include "handshake/ap2/bundle.hpp"
#include "handshake/ap2/receipts.hpp"
#endif

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

// JSON-RPC traffic of the adapters' gates around the fixed world's requests. Built here, from
// core alone, because the signatures must come from the world's keys; the adapters' own wire
// constants are spelled out (a test pins each adapter to them). The tools and skills match the
// maps in fuzz_mcp_stdio.cpp and fuzz_a2a_envelope.cpp.
void adapter_seeds(const FuzzWorld& w, Corpus& c) {
  using Cap = hs::Capability;
  const Json one = w.link(w.root, w.agent, {FuzzWorld::cap("billing.invoices.read", {{"max_invoices", 100}}, true),
                                            FuzzWorld::cap("files.read", {{"path", "/data/**"}})},
                          1);
  const Json two = w.link(w.agent, w.sub_agent, {FuzzWorld::cap("billing.invoices.read", {{"max_invoices", 40}})}, 0, &one);
  struct Call {
    std::string tool;
    Json arguments;
    Json request;  // null: none
  };
  const Cap invoices = FuzzWorld::cap("billing.invoices.read", {{"max_invoices", 50}});
  const std::vector<Call> calls = {
      {"list-invoices", {{"limit", 10}}, w.request(w.agent, {one}, invoices)},
      {"list-invoices", {{"limit", 20}, {"min", 5}}, w.request(w.sub_agent, {one, two}, FuzzWorld::cap("billing.invoices.read", {{"max_invoices", 30}}))},
      {"read-file", {{"path", "/data/q1/report.csv"}}, w.request(w.agent, {one}, FuzzWorld::cap("files.read", {{"path", "/data/q1/**"}}))},
      {"list-invoices", {{"limit", 80}}, w.request(w.agent, {one}, invoices)},  // scope_exceeded
      {"delete-invoices", Json::object(), w.request(w.agent, {one}, FuzzWorld::cap("billing.invoices.delete"))},
      {"list-invoices", {{"limit", 10}}, nullptr},
  };
  // MCP (stdio lines): a session's opening, then tools/call lines; responses for the finishing path.
  const std::string opening =
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}})"
      "\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\r\n"
      R"({"jsonrpc":"2.0","id":"list","method":"tools/list"})"
      "\n";
  int id = 1;
  for (const auto& call : calls) {
    Json params{{"name", call.tool}, {"arguments", call.arguments}};
    if (!call.request.is_null()) params["_meta"] = Json{{"ai.handshake/request", call.request}, {"progressToken", id}};
    const Json rpc{{"jsonrpc", "2.0"}, {"id", id++}, {"method", "tools/call"}, {"params", params}};
    c.add("mcp_stdio", rpc.dump() + "\n");
    if (id == 2) c.add("mcp_stdio", opening + rpc.dump() + "\n");
  }
  // A2A (JSON-RPC bodies): message/send (v0.3 shape) and SendMessage (v1.0 shape) of a skill.
  const std::string ext = "https://handshake.ai/ext/a2a/v1";
  id = 1;
  for (const auto& call : calls) {
    for (const bool v10 : {false, true}) {
      Json meta{{"skill", call.tool}};
      if (!call.request.is_null()) meta["request"] = call.request;
      Json message{{"messageId", "msg-" + std::to_string(id)}, {"contextId", "ctx-fuzz"}, {"metadata", {{ext, meta}}}};
      if (v10) {
        message["role"] = "ROLE_USER";
        message["parts"] = Json::array({Json{{"text", "list my invoices"}}, Json{{"data", call.arguments}}});
      } else {
        message["role"] = "user";
        message["kind"] = "message";
        message["parts"] = Json::array({Json{{"kind", "text"}, {"text", "list my invoices"}}, Json{{"kind", "data"}, {"data", call.arguments}}});
      }
      const Json rpc{{"jsonrpc", "2.0"}, {"id", id++}, {"method", v10 ? "SendMessage" : "message/send"},
                     {"params", {{"message", message}}}};
      // Byte 0 of an a2a_envelope input: bit 0 = v1.0, bit 1 = extension activated.
      c.add("a2a_envelope", std::string(1, static_cast<char>((v10 ? 1 : 0) | 2)) + rpc.dump());
    }
  }
}

#ifdef HSK_FUZZ_SEEDS_AP2
// A paid v0.1 PaymentMandate under the fixed world: its dispute bundle (with and without the
// request and PaymentReceipt) and the A2A metadata its receipt rides in, for fuzz_ap2_mandates.
void ap2_seeds(const FuzzWorld& w, Corpus& c) {
  namespace ap2 = hs::ap2;
  const ap2::MandateMap map;
  hs::ServiceOptions options = w.options;
  options.capabilities.add(map.capability_schema());
  auto nonces = hs::make_memory_nonce_store();
  auto limiter = hs::make_memory_rate_limiter();
  hs::Service service(clone(w.svc), options, w.clock, w.keys, w.revocations, *nonces, *limiter);

  const Json mandate = must(hs::json::parse_strict(
      R"({"payment_mandate_contents":{"payment_mandate_id":"pm-1","payment_details_id":"order_shoes_123",)"
      R"("payment_details_total":{"label":"Total","amount":{"currency":"EUR","value":125.5},"pending":null,"refund_period":30},)"
      R"("payment_response":{"request_id":"order_shoes_123","method_name":"CARD","payer_email":null},)"
      R"("merchant_agent":"Example Shoes","timestamp":"2026-05-01T11:59:00Z"},"user_authorization":null})"));
  const Json payment_receipt = must(hs::json::parse_strict(
      R"({"payment_mandate_id":"pm-1","timestamp":"2026-05-01T12:00:05Z","payment_id":"pay_001",)"
      R"("amount":{"currency":"EUR","value":125.5},"payment_status":{"merchant_confirmation_id":"ord_88"}})"));
  const Json delegated{{"max_amount", 20000}, {"currency", Json::array({"EUR"})}, {"payee", Json::array({"Example Shoes"})}};
  const Json one = w.link(w.root, w.agent, {FuzzWorld::cap("pay.transfer", delegated, true)}, 1);
  const Json two = w.link(w.agent, w.sub_agent, {FuzzWorld::cap("pay.transfer", {{"max_amount", 15000}})}, 0, &one);
  const auto binding = must(map.binding(ap2::terms_of(must(ap2::parse_payment_mandate(mandate, map.currencies())))));
  const Json request = w.request(w.sub_agent, {one, two}, FuzzWorld::cap("pay.transfer", binding.constraints));
  const hs::Decision d = service.verify(request, binding);
  if (!d.accepted) violated("fixture: the world's payment was refused", d.response.dump());
  const ap2::PaymentEvidence evidence{std::string(ap2::kPaymentMandateKey), mandate, payment_receipt};
  const Json receipt = must(ap2::issue_payment_receipt(service, d, evidence, map.currencies()));
  for (const bool full : {true, false}) {
    const ap2::BundleInputs in{{std::string(ap2::kPaymentMandateKey), mandate, "$"},
                               full ? std::optional<Json>(payment_receipt) : std::nullopt,
                               Json::array({one, two}),
                               full ? std::optional<Json>(request) : std::nullopt,
                               d.response,
                               full ? receipt : must(ap2::issue_payment_receipt(service, d, {evidence.mandate_key, mandate, std::nullopt}, map.currencies())),
                               std::nullopt,
                               map.to_json()};
    c.add("ap2_mandates", must(ap2::make_dispute_bundle(in)).dump());
  }
  Json metadata = Json::object();
  if (auto s = ap2::attach_to_metadata(metadata, receipt, evidence); !s.ok()) violated("fixture: attach_to_metadata", s.error().to_string());
  c.add("ap2_mandates", Json{{"messageId", "m-1"}, {"role", "agent"}, {"parts", Json::array()}, {"metadata", metadata}}.dump());
}
#endif

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
  adapter_seeds(w, c);
#ifdef HSK_FUZZ_SEEDS_AP2
  ap2_seeds(w, c);
#endif
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
