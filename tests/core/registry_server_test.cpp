// End to end: a service issues receipts, anchors them over HTTP to a registry on loopback, and
// an offline verifier checks receipt signature + inclusion proof + tree-head signature with only
// public keys.

#include <catch2/catch.hpp>
#include <httplib.h>

#include <filesystem>
#include <thread>

#include "handshake/did_document.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/merkle.hpp"
#include "handshake/net/registry_server.hpp"
#include "handshake/receipt.hpp"
#include "handshake/registry_anchor.hpp"
#include "handshake/registry_log.hpp"

namespace fs = std::filesystem;
namespace hm = handshake::merkle;
using handshake::Json;

namespace {

std::vector<hm::Hash> from_hex(const Json& list) {
  std::vector<hm::Hash> out;
  for (const auto& e : list) {
    auto b = handshake::encoding::hex_decode(e.get<std::string>()).value();
    hm::Hash h{};
    std::copy(b.begin(), b.end(), h.begin());
    out.push_back(h);
  }
  return out;
}

Json receipt_for(const handshake::Identity& svc, const handshake::Identity& agent, int n, handshake::Timestamp now) {
  handshake::Acceptance a;
  a.request_id = handshake::ids::make_id(handshake::ids::kRequestPrefix, now);
  a.iss = svc.did_string();
  a.aud = agent.did_string();
  a.iat = now;
  a.effective_scope = {"billing.invoices.read", Json{{"max_invoices", 10}}};
  return handshake::issue_receipt(svc, a, Json{{"n", n}}, "ok", now).value();
}

}  // namespace

TEST_CASE("registry server: receipts anchored over HTTP verify offline", "[registry][http]") {
  std::string tmpl = (fs::temp_directory_path() / "hsk-reg-XXXXXX").string();
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  const fs::path dir = tmpl;
  const auto seed = [](std::uint8_t b) { return std::vector<std::uint8_t>(32, b); };
  const auto registry = handshake::Identity::generate({handshake::PrincipalType::kSvc, {}, {}, seed(1)}).value();
  const auto svc = handshake::Identity::generate({handshake::PrincipalType::kSvc, {}, {}, seed(2)}).value();
  const auto agent = handshake::Identity::generate({handshake::PrincipalType::kAgent, {}, {}, seed(3)}).value();
  const auto stranger = handshake::Identity::generate({handshake::PrincipalType::kSvc, {}, {}, seed(4)}).value();
  handshake::StaticKeyResolver keys;  // the registry knows the services whose receipts it anchors
  keys.add(svc.did_string(), svc.public_key());
  const auto now = std::chrono::floor<std::chrono::seconds>(handshake::SystemClock().now());
  handshake::FixedClock clock(now);
  auto log = handshake::registry::open_sqlite_log(dir / "log.db");
  REQUIRE(log.ok());
  handshake::net::RegistryServer server(registry, **log, keys, clock);
  auto port = server.start("127.0.0.1", 0);
  REQUIRE(port.ok());
  httplib::Client client("127.0.0.1", *port);

  // Concurrent anchoring: every receipt gets a leaf; appends are integrated in groups.
  std::vector<Json> receipts;
  for (int i = 0; i < 24; ++i) receipts.push_back(receipt_for(svc, agent, i, now));
  std::vector<Json> answers(receipts.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", *port);
      for (std::size_t i = static_cast<std::size_t>(t); i < receipts.size(); i += 8) {
        auto res = c.Post("/v1/receipts", receipts[i].dump(), "application/json");
        if (res && res->status == 200) answers[i] = Json::parse(res->body);
      }
    });
  }
  for (auto& th : threads) th.join();

  // Offline: only the service's and the registry's public keys.
  handshake::StaticKeyResolver offline;
  offline.add(svc.did_string(), svc.public_key());
  for (std::size_t i = 0; i < receipts.size(); ++i) {
    INFO("receipt " << i);
    REQUIRE(answers[i].is_object());
    CHECK(handshake::verify_receipt(receipts[i], offline, Json{{"n", static_cast<int>(i)}}).ok());
    auto head = handshake::registry::verify_tree_head(answers[i]["tree_head"], registry.public_key());
    REQUIRE(head.ok());
    const auto leaf = handshake::registry::receipt_leaf(receipts[i]).value();
    CHECK(answers[i]["leaf_hash"] == handshake::encoding::hex_encode(leaf));
    CHECK(hm::verify_inclusion(answers[i]["leaf_index"].get<std::uint64_t>(), head->tree_size, leaf,
                               from_hex(answers[i]["inclusion_proof"]), head->root_hash)
              .ok());
  }
  CHECK((*log)->size().value() == receipts.size());

  // Anchoring the same receipt again: same leaf, no growth.
  auto again = client.Post("/v1/receipts", receipts[0].dump(), "application/json");
  REQUIRE(again);
  CHECK(again->status == 200);
  CHECK(Json::parse(again->body)["leaf_index"] == answers[0]["leaf_index"]);
  CHECK((*log)->size().value() == receipts.size());

  SECTION("bad requests get 4xx with a JSON error, and nothing is committed") {
    Json tampered = receipts[1];
    tampered["result"] = "error";
    const Json by_stranger = receipt_for(stranger, agent, 99, now);
    struct Case {
      std::string body;
      int status;
      std::string code;
    } cases[] = {
        {tampered.dump(), 400, "sig.invalid"},
        {by_stranger.dump(), 404, "did.unresolved"},
        {"{\"kind\":\"Receipt\",\"kind\":\"Receipt\"}", 400, "json.duplicate_key"},
        {"not json", 400, "json.syntax"},
        {Json{{"kind", "Receipt"}, {"version", "0.2.3"}}.dump(), 400, "message.field"},
        {std::string(300 * 1024, ' '), 413, ""},
    };
    for (const auto& c : cases) {
      INFO(c.code);
      auto res = client.Post("/v1/receipts", c.body, "application/json");
      REQUIRE(res);
      CHECK(res->status == c.status);
      if (!c.code.empty()) CHECK(Json::parse(res->body)["error"]["code"] == c.code);
    }
    CHECK((*log)->size().value() == receipts.size());
  }

  SECTION("tree head, inclusion by leaf hash, consistency") {
    auto head_res = client.Get("/v1/tree-head");
    REQUIRE(head_res);
    CHECK(head_res->get_header_value("Cache-Control") == "no-store");
    auto head = handshake::registry::verify_tree_head(Json::parse(head_res->body), registry.public_key());
    REQUIRE(head.ok());
    const auto leaf = handshake::registry::receipt_leaf(receipts[5]).value();
    auto inc = client.Get("/v1/proofs/inclusion?leaf_hash=" + handshake::encoding::hex_encode(leaf));
    REQUIRE(inc);
    REQUIRE(inc->status == 200);
    const Json body = Json::parse(inc->body);
    CHECK(hm::verify_inclusion(body["leaf_index"].get<std::uint64_t>(), body["tree_size"].get<std::uint64_t>(), leaf,
                               from_hex(body["inclusion_proof"]), head->root_hash)
              .ok());
    auto missing = client.Get("/v1/proofs/inclusion?leaf_hash=" + std::string(64, '0'));
    REQUIRE(missing);
    CHECK(missing->status == 404);
    auto bad = client.Get("/v1/proofs/inclusion?leaf_hash=zz");
    REQUIRE(bad);
    CHECK(bad->status == 400);
    // A later tree is consistent with an earlier one.
    const auto old_size = head->tree_size;
    const auto old_root = head->root_hash;
    REQUIRE(client.Post("/v1/receipts", receipt_for(svc, agent, 1000, now).dump(), "application/json"));
    auto cons = client.Get("/v1/proofs/consistency?first=" + std::to_string(old_size) + "&second=" +
                           std::to_string(old_size + 1));
    REQUIRE(cons);
    REQUIRE(cons->status == 200);
    auto new_head = handshake::registry::verify_tree_head(Json::parse(client.Get("/v1/tree-head")->body),
                                                          registry.public_key());
    REQUIRE(new_head.ok());
    CHECK(hm::verify_consistency(old_size, new_head->tree_size, from_hex(Json::parse(cons->body)["consistency_proof"]),
                                 old_root, new_head->root_hash)
              .ok());
    auto wrong = client.Get("/v1/proofs/consistency?first=0&second=3");
    REQUIRE(wrong);
    CHECK(wrong->status == 400);
  }

  server.stop();
  fs::remove_all(dir);
}

TEST_CASE("registry server: DID Documents are checked as histories and countersigned", "[registry][http][did]") {
  std::string tmpl = (fs::temp_directory_path() / "hsk-regdid-XXXXXX").string();
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  const fs::path dir = tmpl;
  const auto registry = handshake::Identity::generate({handshake::PrincipalType::kSvc, {}, {}, {}}).value();
  const auto agent = handshake::Identity::generate({handshake::PrincipalType::kAgent, {}, {}, {}}).value();
  const auto bob = handshake::Identity::generate({handshake::PrincipalType::kUser, "bob@acme.com", {}, {}}).value();
  handshake::StaticKeyResolver keys;
  const auto t0 = handshake::time::parse_rfc3339("2026-05-01T12:00:00Z").value();
  handshake::FixedClock clock(t0);
  auto log = handshake::registry::open_sqlite_log(dir / "log.db");
  auto dids = handshake::registry::DidStore::open(dir / "dids.db");
  REQUIRE(log.ok());
  REQUIRE(dids.ok());
  handshake::net::RegistryServerOptions options;
  options.dids = dids->get();
  handshake::net::RegistryServer server(registry, **log, keys, clock, options);
  auto port = server.start("127.0.0.1", 0);
  REQUIRE(port.ok());
  httplib::Client client("127.0.0.1", *port);
  const auto url_of = [](const std::string& did) {
    std::string out;
    for (char c : did) out += c == ':' ? std::string("%3A") : std::string(1, c);
    return "/v1/dids/" + out;
  };

  handshake::DidDocumentOptions o1;
  o1.version_time = t0 - std::chrono::hours(2);
  const Json v1 = handshake::make_did_document(agent, o1).value();
  auto posted = client.Post("/v1/dids", v1.dump(), "application/json");
  REQUIRE(posted);
  REQUIRE(posted->status == 200);

  auto got = client.Get(url_of(agent.did_string()));
  REQUIRE(got);
  REQUIRE(got->status == 200);
  Json body = Json::parse(got->body);
  CHECK(body["role"] == "agent");
  CHECK(body["doc_version"] == "1");
  CHECK(body["primary_ed25519_pubkey_b64u"] == handshake::encoding::base64url_encode(agent.public_key()));
  const Json& served = body["document"];
  auto parsed = handshake::parse_did_document(served);
  REQUIRE(parsed.ok());
  CHECK(handshake::verify_did_document_proof(*parsed).ok());  // the principal's proof still holds
  CHECK(handshake::verify_did_document_proof_by(served, registry.public_key(), registry.did_string() + "#keys-1").ok());
  CHECK_FALSE(handshake::verify_did_document_proof_by(served, agent.public_key(), registry.did_string() + "#keys-1").ok());

  // The same version again, a version out of order, a forged rotation: refused, nothing stored.
  auto again = client.Post("/v1/dids", v1.dump(), "application/json");
  REQUIRE(again);
  CHECK(again->status == 400);
  CHECK(Json::parse(again->body)["error"]["code"] == "diddoc.history");
  const auto next = agent.rotated();
  handshake::DidDocumentOptions o2;
  o2.version_time = t0 - std::chrono::hours(1);
  const auto mallory = handshake::Identity::generate({handshake::PrincipalType::kAgent, {}, {}, {}}).value();
  auto forged = handshake::rotate_did_document(v1, mallory.key(), next, o2);
  CHECK_FALSE(forged.ok());  // the library itself will not build it with the wrong previous key
  Json tampered_v2 = handshake::rotate_did_document(v1, agent.key(), next, o2).value();
  tampered_v2["previousVersionSignature"] = handshake::encoding::base64url_encode(std::vector<std::uint8_t>(64, 7));
  auto bad = client.Post("/v1/dids", tampered_v2.dump(), "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);

  // A genuine rotation is accepted; the newest version is served.
  const Json v2 = handshake::rotate_did_document(v1, agent.key(), next, o2).value();
  auto rotated = client.Post("/v1/dids", v2.dump(), "application/json");
  REQUIRE(rotated);
  REQUIRE(rotated->status == 200);
  body = Json::parse(client.Get(url_of(agent.did_string()))->body);
  CHECK(body["doc_version"] == "2");
  CHECK(body["primary_ed25519_pubkey_b64u"] == handshake::encoding::base64url_encode(next.public_key()));

  // A user handle proves nothing by itself: the registry will not vouch for it.
  handshake::DidDocumentOptions ob;
  ob.version_time = t0;
  auto user_doc = client.Post("/v1/dids", handshake::make_did_document(bob, ob).value().dump(), "application/json");
  REQUIRE(user_doc);
  CHECK(user_doc->status == 400);
  CHECK(Json::parse(user_doc->body)["error"]["code"] == "diddoc.untrusted");

  auto unknown = client.Get(url_of("did:hsk:agent:zNothingHere"));
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  CHECK(Json::parse(unknown->body)["error"]["code"] == "did.not_found");
  auto malformed = client.Get("/v1/dids/not-a-did");
  REQUIRE(malformed);
  CHECK(malformed->status == 400);

  server.stop();
  fs::remove_all(dir);
}
