// Receipts that commit to mandate + payment receipt, the A2A metadata that carries them, and
// dispute bundles verified offline end to end (with a real registry log), every tampered piece
// refused.

#include <catch2/catch.hpp>

#include <functional>

#include <filesystem>

#include "core/fixtures.hpp"
#include "handshake/ap2/bundle.hpp"
#include "handshake/ap2/extension.hpp"
#include "handshake/ap2/receipts.hpp"
#include "handshake/merkle.hpp"
#include "handshake/registry_anchor.hpp"
#include "handshake/registry_log.hpp"
#include "samples.hpp"

namespace ap2 = handshake::ap2;
namespace hs = handshake;
using hs::Json;
using namespace hsk_fx;

namespace {

const Json kDelegated{{"max_amount", 20000},
                      {"currency", Json::array({"EUR"})},
                      {"payee", Json::array({"Example Shoes"})},
                      {"execution_window", Json::array({"2026-04-27", "2026-05-03"})}};

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("hsk-ap2-test-" + hs::crypto::make_nonce());
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// A paid mandate: delegation, accepted request, receipt, anchored in a registry log.
struct Paid : World {
  ap2::MandateMap map;
  hs::Identity registry = make_identity(hs::PrincipalType::kSvc, 42);
  TempDir dir;
  std::vector<Json> chain;
  Json mandate = ap2_test::payment_mandate();
  Json payment_receipt = ap2_test::payment_receipt();
  Json request_json, acceptance, receipt, registry_answer;
  hs::Decision decision;

  Paid() {
    options.capabilities.add(map.capability_schema());
    chain = {grant(root, agent, {cap("pay.transfer", kDelegated, true)}, 1),
             Json()};
    chain[1] = grant(agent, sub_agent, {cap("pay.transfer", Json{{"max_amount", 15000}})}, 0, {chain[0]});
    keys.add(registry.did_string(), registry.public_key());
    const auto payer = agent_for(kSubAgentSeed, chain);
    auto terms = ap2::terms_of(ap2::parse_payment_mandate(mandate, map.currencies()).value());
    const auto binding = map.binding(terms).value();
    request_json = request(payer, cap("pay.transfer", binding.constraints));
    decision = service().verify(request_json, binding);
    REQUIRE(decision.accepted);
    acceptance = decision.response;
    auto r = ap2::issue_payment_receipt(service(), decision, evidence(), map.currencies());
    REQUIRE(r.ok());
    receipt = std::move(r).value();
    // The registry: two earlier leaves, then this receipt's, then one more.
    auto log = hs::registry::open_sqlite_log(dir.path / "log.db").value();
    std::vector<hs::merkle::Hash> leaves{hs::merkle::leaf_hash(hs::encoding::as_bytes("a")),
                                         hs::merkle::leaf_hash(hs::encoding::as_bytes("b")),
                                         hs::registry::receipt_leaf(receipt).value(),
                                         hs::merkle::leaf_hash(hs::encoding::as_bytes("c"))};
    REQUIRE(log->append(leaves).ok());
    const auto head = hs::registry::sign_tree_head(*log, registry, now()).value();
    const auto proof = hs::merkle::inclusion_proof(2, 4, *log).value();
    Json proof_json = Json::array();
    for (const auto& h : proof) proof_json.push_back(hs::encoding::hex_encode(h));
    registry_answer = Json{{"leaf_index", 2}, {"leaf_hash", hs::encoding::hex_encode(leaves[2])},
                           {"tree_head", head}, {"inclusion_proof", proof_json}};
  }
  [[nodiscard]] ap2::PaymentEvidence evidence() const {
    return {std::string(ap2::kPaymentMandateKey), mandate, payment_receipt};
  }
  [[nodiscard]] Json bundle(bool with_registry = true, bool with_request = true) const {
    ap2::BundleInputs in{{std::string(ap2::kPaymentMandateKey), mandate, "$"},
                         payment_receipt,
                         Json(chain),
                         with_request ? std::optional<Json>(request_json) : std::nullopt,
                         acceptance,
                         receipt,
                         with_registry ? std::optional<Json>(registry_answer) : std::nullopt,
                         map.to_json()};
    return ap2::make_dispute_bundle(in).value();
  }
  [[nodiscard]] ap2::BundleVerifyOptions verify_options() const {
    ap2::BundleVerifyOptions o;
    o.trust_roots = {root.did_string()};
    o.registry_key = registry.public_key();
    o.registry_did = registry.did_string();
    return o;
  }
  [[nodiscard]] std::string verify(const Json& b, const ap2::BundleVerifyOptions& o) const {
    auto v = ap2::verify_dispute_bundle(b, keys, o);
    return v.ok() ? std::string("ok") : v.error().reason + " (" + v.error().message + ")";
  }
  [[nodiscard]] std::string verify(const Json& b) const { return verify(b, verify_options()); }
};

bool starts(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST_CASE("the payment receipt's result hash commits to the mandate and the payment receipt", "[ap2][receipt]") {
  Paid p;
  const auto result = ap2::payment_result(p.evidence()).value();
  CHECK(result["type"] == "ap2.payment.v1");
  CHECK(result["mandate"]["key"] == "ap2.mandates.PaymentMandate");
  CHECK(result["mandate"]["hash"] == ap2::commitment(p.mandate)->to_json());
  CHECK(result["payment_receipt"]["hash"] == ap2::commitment(p.payment_receipt)->to_json());
  CHECK(p.receipt["result_hash"] == hs::hash_result(result)->to_json());
  CHECK(p.receipt["result"] == "ok");
  CHECK(p.receipt["action"] == "pay.transfer");
  CHECK(p.receipt["result_summary"] == Json{{"ap2_mandate", "ap2.mandates.PaymentMandate"}, {"ap2_payment_status", "success"}});
  CHECK(ap2::verify_payment_receipt(p.receipt, p.evidence(), p.keys).ok());

  // Other evidence does not match.
  auto other = p.evidence();
  other.payment_receipt = ap2_test::payment_receipt(125.0, "EUR", "3f8e2b1c9d7a4e6f8a0b1c2d3e4f5a6b");
  (*other.payment_receipt)["payment_id"] = "pay_002";
  CHECK(ap2::verify_payment_receipt(p.receipt, other, p.keys).error().reason == "receipt.result_mismatch");
  auto no_pr = p.evidence();
  no_pr.payment_receipt.reset();
  CHECK(ap2::verify_payment_receipt(p.receipt, no_pr, p.keys).error().reason == "receipt.result_mismatch");
  CHECK_FALSE(ap2::payment_result(no_pr)->contains("payment_receipt"));
  // Nulls dropped before hashing: the Go form of the same mandate commits identically.
  auto go_form = p.evidence();
  go_form.mandate = ap2::drop_nulls(p.mandate);
  CHECK(ap2::verify_payment_receipt(p.receipt, go_form, p.keys).ok());
  auto bad_key = p.evidence();
  bad_key.mandate_key = "risk_data";
  CHECK(ap2::payment_result(bad_key).error().reason == "ap2.evidence_invalid");
}

TEST_CASE("a receipt is refused for a payment receipt of another mandate or amount", "[ap2][receipt]") {
  Paid p;
  auto ev = p.evidence();
  ev.payment_receipt = ap2_test::payment_receipt(125.0, "EUR", "another-mandate");
  CHECK(ap2::issue_payment_receipt(p.service(), p.decision, ev, p.map.currencies()).error().reason == "ap2.receipt_mismatch");
  ev.payment_receipt = ap2_test::payment_receipt(126.0, "EUR");
  CHECK(ap2::issue_payment_receipt(p.service(), p.decision, ev, p.map.currencies()).error().reason == "ap2.receipt_mismatch");
  ev.payment_receipt = ap2_test::payment_receipt(125.0, "USD");
  CHECK(ap2::issue_payment_receipt(p.service(), p.decision, ev, p.map.currencies()).error().reason == "ap2.receipt_mismatch");
  ev.payment_receipt = Json{{"not", "a receipt"}};
  CHECK(ap2::issue_payment_receipt(p.service(), p.decision, ev, p.map.currencies()).error().reason ==
        "ap2.payment_receipt_invalid");
  // A failed payment gets an "error" receipt.
  ev.payment_receipt = ap2_test::payment_receipt();
  (*ev.payment_receipt)["payment_status"] = {{"failure_message", "declined"}};
  auto failed = ap2::issue_payment_receipt(p.service(), p.decision, ev, p.map.currencies());
  REQUIRE(failed.ok());
  CHECK((*failed)["result"] == "error");
  CHECK((*failed)["result_summary"]["ap2_payment_status"] == "failure");
  // A refused decision gets no receipt.
  hs::Decision refused = p.decision;
  refused.accepted = false;
  CHECK(ap2::issue_payment_receipt(p.service(), refused, p.evidence(), p.map.currencies()).error().reason ==
        "receipt.not_accepted");
}

TEST_CASE("receipt and mandate travel together in A2A metadata under our extension key", "[ap2][a2a]") {
  Paid p;
  Json metadata = Json{{"other", 1}, {std::string(ap2::kExtensionUri), {{"a2a_member", true}}}};
  REQUIRE(ap2::attach_to_metadata(metadata, p.receipt, p.evidence()).ok());
  const Json& ours = metadata[std::string(ap2::kExtensionUri)];
  CHECK(ours["a2a_member"] == true);  // left as it was
  CHECK(ours["receipt"] == p.receipt);
  CHECK(ours["ap2"]["mandate_key"] == "ap2.mandates.PaymentMandate");
  CHECK(ours["ap2"]["mandate"] == p.mandate);
  CHECK(ours["ap2"]["payment_receipt"] == p.payment_receipt);
  auto back = ap2::read_from_metadata(metadata);
  REQUIRE(back.ok());
  CHECK(ap2::verify_payment_receipt(back->receipt, back->evidence, p.keys).ok());

  Json null_md;
  REQUIRE(ap2::attach_to_metadata(null_md, p.receipt, p.evidence()).ok());
  CHECK(null_md.is_object());
  Json not_object = Json::array();
  CHECK(ap2::attach_to_metadata(not_object, p.receipt, p.evidence()).error().reason == "ap2.metadata_invalid");
  Json ours_not_object{{std::string(ap2::kExtensionUri), "x"}};
  CHECK(ap2::attach_to_metadata(ours_not_object, p.receipt, p.evidence()).error().reason == "ap2.metadata_invalid");

  CHECK(ap2::read_from_metadata(Json::object()).error().reason == "ap2.metadata_missing");
  Json tampered = metadata;
  tampered[std::string(ap2::kExtensionUri)]["ap2"]["mandate"]["payment_mandate_contents"]["merchant_agent"] = "Mallory";
  CHECK(ap2::read_from_metadata(tampered).error().reason == "ap2.metadata_invalid");
  Json no_receipt = metadata;
  no_receipt[std::string(ap2::kExtensionUri)].erase("receipt");
  CHECK(ap2::read_from_metadata(no_receipt).error().reason == "ap2.metadata_invalid");
}

TEST_CASE("a dispute bundle verifies offline end to end", "[ap2][bundle]") {
  Paid p;
  const Json b = p.bundle();
  CHECK(b["type"] == "handshake.ap2.dispute_bundle");
  CHECK(b["version"] == 1);
  CHECK(b["registry"]["leaf_index"] == 2);
  auto v = ap2::verify_dispute_bundle(b, p.keys, p.verify_options());
  INFO((v.ok() ? "" : v.error().to_string()));
  REQUIRE(v.ok());
  CHECK(v->capability == "pay.transfer");
  CHECK(v->derived_constraints["max_amount"] == 12500);
  CHECK(v->chain_root == p.root.did_string());
  CHECK(v->agent == p.sub_agent.did_string());
  CHECK(v->service == p.svc_did());
  CHECK(v->payment_receipt);
  CHECK(v->leaf_index == std::optional<std::uint64_t>(2));
  CHECK(v->tree_size == std::optional<std::uint64_t>(4));
  // Without the optional parts, and with no trust root pinned (the chain's root is taken).
  auto o = p.verify_options();
  o.trust_roots.clear();
  CHECK(p.verify(p.bundle(false, false), o) == "ok");
  o.require_registry = true;
  CHECK(starts(p.verify(p.bundle(false, false), o), "ap2.bundle_registry_missing"));
  // The anchored receipt (registry_anchor inside, re-signed) verifies with the same proof.
  const auto head = hs::registry::verify_tree_head(p.registry_answer["tree_head"], p.registry.public_key()).value();
  const Json anchor = hs::registry::sign_registry_anchor(p.registry, head.tree_size, head.root_hash).value();
  Json anchored_bundle = b;
  anchored_bundle["receipt"] = hs::registry::attach_registry_anchor(p.receipt, anchor, p.svc).value();
  CHECK(p.verify(anchored_bundle) == "ok");
}

TEST_CASE("tampered dispute bundles are refused", "[ap2][bundle]") {
  Paid p;
  const Json good = p.bundle();
  auto with = [&](const std::function<void(Json&)>& edit) {
    Json b = good;
    edit(b);
    return p.verify(b);
  };
  SECTION("shape") {
    CHECK(starts(with([](Json& b) { b["type"] = "something"; }), "ap2.bundle_invalid"));
    CHECK(starts(with([](Json& b) { b["version"] = 2; }), "ap2.bundle_invalid"));
    CHECK(starts(with([](Json& b) { b.erase("receipt"); }), "ap2.bundle_invalid"));
    CHECK(starts(with([](Json& b) { b["delegation_chain"] = Json::array(); }), "ap2.bundle_invalid"));
    CHECK(starts(with([](Json& b) { b["mandate"].erase("key"); }), "ap2.bundle_invalid"));
    CHECK(starts(with([](Json& b) { b["registry"] = "x"; }), "ap2.bundle_invalid"));
    CHECK(starts(p.verify(Json::array()), "ap2.bundle_invalid"));
  }
  SECTION("the mandate's amount edited: the receipt no longer commits to it") {
    CHECK(starts(with([](Json& b) {
      b["mandate"]["value"]["payment_mandate_contents"]["payment_details_total"]["amount"]["value"] = 120.0;
      b["payment_receipt"]["amount"]["value"] = 120.0;
    }), "receipt.result_mismatch"));
  }
  SECTION("a mandate over the delegation (sub-delegated 150 EUR) is refused by the chain") {
    CHECK(starts(with([](Json& b) {
      b["mandate"]["value"]["payment_mandate_contents"]["payment_details_total"]["amount"]["value"] = 180.0;
      b["payment_receipt"]["amount"]["value"] = 180.0;
    }), "ap2.bundle_chain (scope_exceeded"));
  }
  SECTION("the mandate's merchant or date edited") {
    CHECK(starts(with([](Json& b) { b["mandate"]["value"]["payment_mandate_contents"]["merchant_agent"] = "Mallory"; }),
                 "ap2.bundle_chain (scope_exceeded"));
    CHECK(starts(with([](Json& b) { b["mandate"]["value"]["payment_mandate_contents"]["timestamp"] = "2026-04-29T13:59:01Z"; }),
                 "ap2.bundle_scope"));  // inside the chain's week, but not what the service accepted
  }
  SECTION("the payment receipt swapped or removed") {
    CHECK(starts(with([](Json& b) { b["payment_receipt"]["payment_id"] = "pay_999"; }), "receipt.result_mismatch"));
    CHECK(starts(with([](Json& b) { b["payment_receipt"]["payment_mandate_id"] = "other"; }), "ap2.receipt_mismatch"));
    CHECK(starts(with([](Json& b) { b.erase("payment_receipt"); }), "receipt.result_mismatch"));
  }
  SECTION("the acceptance's signature or content") {
    CHECK(starts(with([](Json& b) { b["acceptance"]["effective_scope"]["constraints"]["max_amount"] = 99999; }), "sig.invalid"));
    CHECK(starts(with([](Json& b) {
      auto s = b["acceptance"]["signature"].get<std::string>();
      s[5] = s[5] == 'A' ? 'B' : 'A';
      b["acceptance"]["signature"] = s;
    }), "sig.invalid"));
    CHECK(starts(with([&](Json& b) { b["acceptance"] = resign(b["acceptance"], p.mallory); }), "sig.invalid"));
  }
  SECTION("an acceptance of another request") {
    CHECK(starts(with([&](Json& b) {
      b["acceptance"]["request_id"] = "hs_01J00000000000000000000000";
      b["acceptance"] = resign(b["acceptance"], p.svc);
    }), "ap2.bundle_binding"));
  }
  SECTION("the chain") {
    // With the request bundled, any other chain than the one it carries is refused first.
    CHECK(starts(with([](Json& b) { b["delegation_chain"].erase(0); }), "ap2.bundle_binding"));
    // Without it, core's chain validation catches every tampering.
    const Json bare = p.bundle(true, false);
    auto without_request = [&](const std::function<void(Json&)>& edit) {
      Json b = bare;
      edit(b);
      return p.verify(b);
    };
    CHECK(without_request([](Json&) {}) == "ok");
    CHECK(starts(without_request([](Json& b) { b["delegation_chain"].erase(0); }), "ap2.bundle_chain (chain_broken"));
    CHECK(starts(without_request([](Json& b) { b["delegation_chain"][1]["capabilities"][0]["constraints"]["max_amount"] = 19000; }),
                 "ap2.bundle_chain (signature_invalid"));
    CHECK(starts(without_request([&](Json& b) {
      b["delegation_chain"][0]["capabilities"][0]["constraints"]["max_amount"] = 50000;
      b["delegation_chain"][0] = resign(b["delegation_chain"][0], p.rogue_org);
    }), "ap2.bundle_chain (signature_invalid"));
    CHECK(starts(without_request([&](Json& b) { b["delegation_chain"].erase(1); }), "ap2.bundle_chain (chain_broken"));
  }
  SECTION("a pinned trust root that is not the chain's root") {
    auto o = p.verify_options();
    o.trust_roots = {p.rogue_org.did_string()};
    CHECK(starts(p.verify(good, o), "ap2.bundle_chain (chain_broken"));
  }
  SECTION("the request") {
    CHECK(starts(with([](Json& b) { b["request"]["nonce"] = "AAAAAAAAAAAAAAAAAAAAAA"; }), "sig.invalid (request: "));
    CHECK(starts(with([&](Json& b) {
      b["request"]["delegation_chain"] = Json::array({b["delegation_chain"][0]});
      b["request"] = resign(b["request"], p.sub_agent);
    }), "ap2.bundle_binding"));
  }
  SECTION("the receipt") {
    CHECK(starts(with([](Json& b) { b["receipt"]["result"] = "partial"; }), "sig.invalid (receipt: "));
    CHECK(starts(with([&](Json& b) {
      b["receipt"]["handshake_id"] = "hs_01J00000000000000000000000";
      b["receipt"] = resign(b["receipt"], p.svc);
    }), "ap2.bundle_binding"));
    CHECK(starts(with([&](Json& b) { b["receipt"] = resign(b["receipt"], p.mallory); }), "sig.invalid (receipt: "));
  }
  SECTION("the registry proof") {
    CHECK(starts(with([](Json& b) { b["registry"]["leaf_index"] = 1; }), "merkle.mismatch (registry: "));
    CHECK(starts(with([](Json& b) { b["registry"]["inclusion_proof"].erase(0); }), "merkle.proof (registry: "));
    CHECK(starts(with([](Json& b) { b["registry"]["tree_head"]["tree_size"] = 5; }), "sig.invalid"));
    CHECK(starts(with([](Json& b) { b["registry"]["inclusion_proof"][0] = "zz"; }), "ap2.bundle_invalid"));
    CHECK(starts(with([](Json& b) { b["registry"].erase("tree_head"); }), "ap2.bundle_invalid"));
    auto o = p.verify_options();
    o.registry_key.reset();
    CHECK(starts(p.verify(good, o), "ap2.bundle_registry_missing"));
    o = p.verify_options();
    o.registry_key = p.mallory.public_key();
    CHECK(starts(p.verify(good, o), "sig.invalid"));
    o = p.verify_options();
    o.registry_did = p.mallory.did_string();
    CHECK(starts(p.verify(good, o), "ap2.bundle_binding"));
  }
  SECTION("the verifier's own mapping decides, not the bundle's") {
    CHECK(with([](Json& b) { b["mapping"] = {{"capability", "x.y"}}; }) == "ok");
    auto o = p.verify_options();
    o.map = ap2::MandateMap::from_yaml("capability: pay.other\n").value();
    CHECK(starts(p.verify(good, o), "ap2.bundle_chain (scope_exceeded"));
  }
}

TEST_CASE("make_dispute_bundle catches wrong files early", "[ap2][bundle]") {
  Paid p;
  ap2::BundleInputs in{{std::string(ap2::kPaymentMandateKey), p.mandate, "$"}, std::nullopt, Json(p.chain), std::nullopt,
                       p.acceptance, p.receipt, p.registry_answer, p.map.to_json()};
  CHECK(ap2::make_dispute_bundle(in).ok());
  auto wrong_answer = in;
  (*wrong_answer.registry_answer)["leaf_hash"] = std::string(64, '0');
  CHECK(ap2::make_dispute_bundle(wrong_answer).error().reason == "ap2.bundle_binding");
  auto no_proof = in;
  no_proof.registry_answer->erase("inclusion_proof");
  CHECK(ap2::make_dispute_bundle(no_proof).error().reason == "ap2.bundle_invalid");
  auto other_acceptance = in;
  other_acceptance.acceptance["request_id"] = "hs_01J00000000000000000000000";
  CHECK(ap2::make_dispute_bundle(other_acceptance).error().reason == "ap2.bundle_binding");
  auto empty_chain = in;
  empty_chain.delegation_chain = Json::array();
  CHECK(ap2::make_dispute_bundle(empty_chain).error().reason == "ap2.bundle_invalid");
  // A single token is wrapped into a one-link chain.
  auto one = in;
  one.delegation_chain = p.chain[0];
  CHECK(ap2::make_dispute_bundle(one)->at("delegation_chain").size() == 1);
}

TEST_CASE("mandate files: message, DataPart data, bare mandate, SD-JWT string", "[ap2][bundle]") {
  const Json m = ap2_test::payment_mandate();
  CHECK(ap2::mandate_from_document(ap2_test::payment_message(m))->key == ap2::kPaymentMandateKey);
  CHECK(ap2::mandate_from_document(Json{{"ap2.mandates.PaymentMandate", m}, {"risk_data", "x"}})->value == m);
  CHECK(ap2::mandate_from_document(m)->key == ap2::kPaymentMandateKey);
  CHECK(ap2::mandate_from_document(ap2_test::cart_artifact())->key == ap2::kCartMandateKey);
  CHECK(ap2::mandate_from_document(Json("a.b.c~"))->key == ap2::kPaymentMandateSdJwtKey);
  CHECK(ap2::mandate_from_document(Json{{"x", 1}}).error().reason == "ap2.mandate_unrecognised");
  CHECK(ap2::mandate_from_document(Json(5)).error().reason == "ap2.mandate_unrecognised");
  CHECK(ap2::mandate_from_document(Json{{"ap2.mandates.PaymentMandate", m}, {"ap2.mandates.CartMandate", m}}).error().reason ==
        "ap2.ambiguous");
}

TEST_CASE("bundle members of the wrong type are refused, not thrown", "[ap2][bundle][fuzz]") {
  // Same class as the fuzz_a2a_envelope finding: Json::value() throws on a member of another type.
  Paid p;
  Json b = p.bundle();
  b["type"] = 5;
  CHECK(starts(p.verify(b), "ap2.bundle_invalid"));
  ap2::BundleInputs in{{std::string(ap2::kPaymentMandateKey), p.mandate, "$"}, std::nullopt, Json(p.chain), std::nullopt,
                       p.acceptance, p.receipt, std::nullopt, p.map.to_json()};
  in.acceptance["request_id"] = Json::array();
  CHECK(ap2::make_dispute_bundle(in).error().reason == "ap2.bundle_binding");
}
