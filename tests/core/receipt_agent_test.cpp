// Receipts (§12, §18) issued by the service and their DAG, and the agent's side: delegation
// (§9.3) and checking the service's answers.
#include <map>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/fixtures.hpp"
#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"
#include "handshake/receipt.hpp"

using namespace hsk_fx;
using hs::Json;
using hs::RefusalCode;

namespace {

// {"count":2,"invoices":[...]} and its digests of the JCS text, computed outside this library.
const char* const kResultText =
    R"({"invoices": [{"id": "inv_1", "total": 1250}, {"id": "inv_2", "total": 99.5}], "count": 2})";
const char* const kResultJcs = R"({"count":2,"invoices":[{"id":"inv_1","total":1250},{"id":"inv_2","total":99.5}]})";
const char* const kResultSha256 = "8f84ef39bb266419be8c34309e0a591e69a04171175f3f7c003e8c66e9be2c13";
const char* const kResultSha3 = "60c24214472789c0a3527688876c0fcab048e8c5084c10cf445fc7bd5e422d02";

// A world with one accepted handshake.
struct Accepted {
  World w;
  hs::Agent agent = w.default_agent();
  Json request = w.request(agent, read_cap(20));
  hs::Decision decision = w.service().verify(request);

  Accepted() { REQUIRE(decision.accepted); }

  Json receipt(const Json& result, const hs::ReceiptOptions& options = {}, std::string_view status = "ok") {
    return must(w.service().issue_receipt(decision, result, status, options));
  }
};

std::set<std::string> keys_of(const Json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

// A receipt signed by `signer` with the given id and upstream ids (for shapes issue_receipt
// cannot produce, such as cycles).
Json hand_receipt(const World& w, const hs::Identity& signer, const std::string& id, const std::string& handshake_id,
                  std::vector<std::string> upstream) {
  hs::Receipt r;
  r.id = id;
  r.handshake_id = handshake_id;
  r.iss = signer.did_string();
  r.sub = w.agent.did_string();
  r.action = "billing.invoices.read";
  r.executed_at = w.now();
  r.result = "ok";
  r.result_hash = must(hs::hash_result(Json{{"n", id}}));
  if (!upstream.empty()) r.upstream_receipts = std::move(upstream);
  return must(hs::sign_message(r.to_json(), signer.key()));
}

}  // namespace

// ---- receipts ------------------------------------------------------------------------------------

TEST_CASE("receipt: issued for an accepted decision", "[receipt]") {
  Accepted s;
  const Json result = Json::parse(kResultText);
  const Json receipt = s.receipt(result);

  const auto schema_ok = hs::schema::validate("receipt.json", receipt);
  INFO(why(schema_ok));
  CHECK(schema_ok.ok());
  const auto r = must(hs::Receipt::from_json(receipt));
  CHECK(r.handshake_id == id_of(s.request));
  CHECK(r.iss == s.w.svc_did());
  CHECK(r.sub == s.w.agent.did_string());
  CHECK(r.action == "billing.invoices.read");
  CHECK(r.result == "ok");
  CHECK(r.executed_at == s.w.now());
  CHECK(hs::ids::is_id(r.id, hs::ids::kReceiptPrefix));
  CHECK_FALSE(r.upstream_receipts.has_value());
  CHECK(hs::verify_message_signature(receipt, s.w.svc.public_key()).ok());

  SECTION("result_hash is SHA-256 of the JCS of the result") {
    const std::string canon = must(hs::json::canonicalize(result));
    CHECK(canon == kResultJcs);
    const std::string independent = hs::encoding::hex_encode(hs::crypto::sha256(hs::encoding::as_bytes(canon)));
    CHECK(r.result_hash.alg == "sha-256");
    CHECK(r.result_hash.value == independent);
    CHECK(r.result_hash.value == kResultSha256);
    // Member order and whitespace of the result do not matter; its values do.
    const Json reordered = Json::parse(R"({"count":2,"invoices":[{"total":1250,"id":"inv_1"},{"total":99.5,"id":"inv_2"}]})");
    CHECK(hs::verify_receipt(receipt, s.w.keys, reordered).ok());
  }
  SECTION("sha3-256 on request") {
    hs::ReceiptOptions o;
    o.hash_alg = "sha3-256";
    const Json r3 = s.receipt(result, o);
    CHECK(hs::schema::validate("receipt.json", r3).ok());
    const auto parsed = must(hs::Receipt::from_json(r3));
    CHECK(parsed.result_hash.alg == "sha3-256");
    const std::string canon = must(hs::json::canonicalize(result));
    CHECK(parsed.result_hash.value ==
          hs::encoding::hex_encode(must(hs::crypto::sha3_256(hs::encoding::as_bytes(canon)))));
    CHECK(parsed.result_hash.value == kResultSha3);
    CHECK(hs::verify_receipt(r3, s.w.keys, result).ok());
    const auto wrong = hs::verify_receipt(r3, s.w.keys, Json{{"count", 3}});
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.error().reason == "receipt.result_mismatch");
  }
  SECTION("an unknown hash algorithm is refused") {
    hs::ReceiptOptions o;
    o.hash_alg = "md5";
    auto bad = s.w.service().issue_receipt(s.decision, result, "ok", o);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().reason == "receipt.hash_alg");
  }
  SECTION("verify_receipt: the right result, another result, no result") {
    CHECK(hs::verify_receipt(receipt, s.w.keys, result).ok());
    CHECK(hs::verify_receipt(receipt, s.w.keys).ok());
    Json other = result;
    other["invoices"][1]["total"] = 99.51;
    const auto st = hs::verify_receipt(receipt, s.w.keys, other);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "receipt.result_mismatch");
    CHECK(st.error().code == hs::ErrorCode::kSignature);
  }
  SECTION("verify_receipt fails after tampering") {
    for (const char* field : {"result", "sub", "action", "handshake_id", "result_hash"}) {
      INFO("tampered " << field);
      Json t = receipt;
      if (std::string(field) == "result") t["result"] = "error";
      if (std::string(field) == "sub") t["sub"] = s.w.mallory.did_string();
      if (std::string(field) == "action") t["action"] = "billing.invoices.write";
      if (std::string(field) == "handshake_id") t["handshake_id"] = hs::ids::make_id(hs::ids::kRequestPrefix, s.w.now());
      if (std::string(field) == "result_hash") t["result_hash"]["value"] = must(hs::hash_result(Json{{"x", 1}})).value;
      const auto st = hs::verify_receipt(t, s.w.keys);
      REQUIRE_FALSE(st.ok());
      CHECK(st.error().code == hs::ErrorCode::kSignature);
      CHECK(st.error().reason == "sig.invalid");
    }
  }
  SECTION("a receipt re-signed by another key does not verify as the service's") {
    const Json forged = resign(receipt, s.w.mallory);
    const auto st = hs::verify_receipt(forged, s.w.keys, result);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "sig.invalid");
  }
  SECTION("a receipt from an unknown service") {
    hs::StaticKeyResolver empty;
    const auto st = hs::verify_receipt(receipt, empty);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "did.unresolved");
  }
  SECTION("statuses") {
    CHECK(must(hs::Receipt::from_json(s.receipt(result, {}, "error"))).result == "error");
    CHECK(must(hs::Receipt::from_json(s.receipt(result, {}, "partial"))).result == "partial");
    auto bad = s.w.service().issue_receipt(s.decision, result, "done");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().reason == "receipt.status");
  }
}

TEST_CASE("receipt: not issued for a refused decision", "[receipt]") {
  World w;
  const Json req = w.request(w.default_agent(), read_cap(500));
  const auto d = w.service().verify(req);
  REQUIRE_FALSE(d.accepted);
  auto r = w.service().issue_receipt(d, Json{{"count", 0}}, "ok");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == "receipt.not_accepted");
  CHECK(r.error().code == hs::ErrorCode::kInvalidArgument);
  // Nor for a decision that merely claims acceptance without one.
  hs::Decision forged = d;
  forged.accepted = true;
  auto r2 = w.service().issue_receipt(forged, Json{{"count", 0}}, "ok");
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().reason == "receipt.not_accepted");
}

TEST_CASE("receipt: carries no personal data, only the schema's fields", "[receipt]") {
  Accepted s;
  const Json result = Json::parse(
      R"({"customer": "Bob Example", "email": "bob@acme.com", "account": "DE89370400440532013000", "count": 1})");
  const Json receipt = s.receipt(result);
  const std::string text = receipt.dump();
  for (const char* secret : {"Bob Example", "bob@acme.com", "DE89370400440532013000", "customer", "email"}) {
    INFO(secret);
    CHECK(text.find(secret) == std::string::npos);
  }
  CHECK(keys_of(receipt) == std::set<std::string>{"version", "kind", "id", "handshake_id", "iss", "sub", "action",
                                                  "executed_at", "result", "result_hash", "alg", "signature"});
  CHECK(keys_of(receipt.at("result_hash")) == std::set<std::string>{"alg", "value"});

  // With options, still nothing outside the schema's properties.
  const Json schema = Json::parse(std::string(must(hs::schema::text("receipt.json"))));
  const auto allowed = keys_of(schema.at("properties"));
  hs::ReceiptOptions o;
  o.result_summary = Json{{"count", 1}};
  o.upstream_receipts = {id_of(receipt)};
  const Json with_options = s.receipt(result, o);
  for (const auto& k : keys_of(with_options)) {
    INFO(k);
    CHECK(allowed.count(k) == 1);
  }
  CHECK(with_options.at("result_summary") == Json{{"count", 1}});
  CHECK(with_options.at("upstream_receipts") == Json::array({id_of(receipt)}));
  CHECK(hs::schema::validate("receipt.json", with_options).ok());
}

TEST_CASE("receipt: the receipt DAG", "[receipt]") {
  Accepted s;
  int step = 0;
  auto issue = [&](std::vector<std::string> upstream) {
    hs::ReceiptOptions o;
    o.upstream_receipts = std::move(upstream);
    return s.receipt(Json{{"step", ++step}}, o);
  };
  // Diamond: root -> {left, right} -> join -> base.
  const Json base = issue({});
  const Json join = issue({id_of(base)});
  const Json left = issue({id_of(join)});
  const Json right = issue({id_of(join)});
  const Json root = issue({id_of(left), id_of(right)});
  std::map<std::string, Json> all;
  for (const Json* r : {&base, &join, &left, &right, &root}) all[id_of(*r)] = *r;
  REQUIRE(all.size() == 5);

  SECTION("the whole diamond verifies") {
    const auto st = hs::verify_receipt_dag(id_of(root), all, s.w.keys);
    INFO(why(st));
    CHECK(st.ok());
    CHECK(hs::verify_receipt_dag(id_of(left), all, s.w.keys).ok());
    CHECK(hs::verify_receipt_dag(id_of(base), {{id_of(base), base}}, s.w.keys).ok());
  }
  SECTION("a missing upstream receipt is named") {
    all.erase(id_of(join));
    const auto st = hs::verify_receipt_dag(id_of(root), all, s.w.keys);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "receipt.missing");
    CHECK(st.error().code == hs::ErrorCode::kNotFound);
    CHECK_THAT(st.error().message, Catch::Contains(id_of(join)));
  }
  SECTION("a missing root is named") {
    const std::string ghost = hs::ids::make_id(hs::ids::kReceiptPrefix, s.w.now());
    const auto st = hs::verify_receipt_dag(ghost, all, s.w.keys);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "receipt.missing");
    CHECK_THAT(st.error().message, Catch::Contains(ghost));
  }
  SECTION("a tampered receipt in the middle is named") {
    all[id_of(right)]["result"] = "partial";
    const auto st = hs::verify_receipt_dag(id_of(root), all, s.w.keys);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == hs::ErrorCode::kSignature);
    CHECK_THAT(st.error().message, Catch::Contains(id_of(right)));
  }
  SECTION("a receipt filed under another id") {
    all[id_of(join)] = left;
    const auto st = hs::verify_receipt_dag(id_of(root), all, s.w.keys);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "receipt.missing");
    CHECK_THAT(st.error().message, Catch::Contains(id_of(join)));
  }
  SECTION("a receipt signed by another service in the DAG") {
    const std::string id = hs::ids::make_id(hs::ids::kReceiptPrefix, s.w.now());
    const Json foreign = hand_receipt(s.w, s.w.rogue_org, id, id_of(s.request), {});
    const Json forged = resign([&] {
      Json j = base;
      j["iss"] = s.w.svc_did();
      return j;
    }(), s.w.rogue_org);
    all[id_of(base)] = forged;
    const auto st = hs::verify_receipt_dag(id_of(root), all, s.w.keys);
    REQUIRE_FALSE(st.ok());
    CHECK_THAT(st.error().message, Catch::Contains(id_of(base)));
    // A receipt by a known, other principal verifies on its own (the DAG does not require one issuer).
    CHECK(hs::verify_receipt(foreign, s.w.keys).ok());
  }
  SECTION("the walk is bounded") {
    const auto st = hs::verify_receipt_dag(id_of(root), all, s.w.keys, 3);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "receipt.too_many");
  }
}

TEST_CASE("receipt: cycles in the DAG are refused", "[receipt]") {
  World w;
  const std::string hs_id = hs::ids::make_id(hs::ids::kRequestPrefix, w.now());
  auto rid = [&] { return hs::ids::make_id(hs::ids::kReceiptPrefix, w.now()); };

  SECTION("two receipts naming each other") {
    const std::string x = rid(), y = rid();
    std::map<std::string, Json> all{{x, hand_receipt(w, w.svc, x, hs_id, {y})}, {y, hand_receipt(w, w.svc, y, hs_id, {x})}};
    REQUIRE(hs::verify_receipt(all[x], w.keys).ok());
    const auto st = hs::verify_receipt_dag(x, all, w.keys);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "receipt.cycle");
    CHECK(st.error().code == hs::ErrorCode::kInvalidArgument);
  }
  SECTION("a receipt naming itself") {
    const std::string z = rid();
    std::map<std::string, Json> all{{z, hand_receipt(w, w.svc, z, hs_id, {z})}};
    const auto st = hs::verify_receipt_dag(z, all, w.keys);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "receipt.cycle");
  }
  SECTION("a longer cycle below a diamond") {
    const std::string a = rid(), b = rid(), c = rid(), d = rid();
    std::map<std::string, Json> all{{a, hand_receipt(w, w.svc, a, hs_id, {b, c})},
                                    {b, hand_receipt(w, w.svc, b, hs_id, {d})},
                                    {c, hand_receipt(w, w.svc, c, hs_id, {d})},
                                    {d, hand_receipt(w, w.svc, d, hs_id, {a})}};
    const auto st = hs::verify_receipt_dag(a, all, w.keys);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "receipt.cycle");
  }
  SECTION("a shared upstream is not a cycle") {
    const std::string a = rid(), b = rid(), c = rid();
    std::map<std::string, Json> all{{a, hand_receipt(w, w.svc, a, hs_id, {b, c})},
                                    {b, hand_receipt(w, w.svc, b, hs_id, {c})},
                                    {c, hand_receipt(w, w.svc, c, hs_id, {})}};
    CHECK(hs::verify_receipt_dag(a, all, w.keys).ok());
  }
}

// ---- the agent's side ----------------------------------------------------------------------------

TEST_CASE("agent: delegate() only attenuates", "[receipt][agent]") {
  World w;
  auto spec_for = [](const hs::Identity& holder, std::vector<hs::Capability> caps) {
    hs::DelegationSpec spec;
    spec.holder = holder.did_string();
    spec.capabilities = std::move(caps);
    return spec;
  };
  const Json parent = w.grant(w.root, w.agent, {read_cap(100, true)}, 1);

  SECTION("widening a constraint") {
    auto r = hs::delegate(w.agent, {parent}, spec_for(w.sub_agent, {read_cap(200)}), w.now());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "delegation.widen");
  }
  SECTION("a non-delegable parent") {
    const Json fixed = w.grant(w.root, w.agent, {read_cap(100, false)}, 1);
    auto r = hs::delegate(w.agent, {fixed}, spec_for(w.sub_agent, {read_cap(50)}), w.now());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "delegation.not_delegable");
  }
  SECTION("a capability the parent does not grant") {
    auto r = hs::delegate(w.agent, {parent}, spec_for(w.sub_agent, {cap("billing.invoices.write")}), w.now());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "delegation.not_delegable");
  }
  SECTION("a parent with depth 0") {
    const Json flat = w.grant(w.root, w.agent, {read_cap(100, true)}, 0);
    auto r = hs::delegate(w.agent, {flat}, spec_for(w.sub_agent, {read_cap(50)}), w.now());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "delegation.depth");
  }
  SECTION("a child depth not below the parent's") {
    auto spec = spec_for(w.sub_agent, {read_cap(50)});
    spec.depth = 1;
    auto r = hs::delegate(w.agent, {parent}, spec, w.now());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "delegation.depth");
  }
  SECTION("an issuer that does not hold the parent") {
    auto r = hs::delegate(w.sub_agent, {parent}, spec_for(w.third_agent, {read_cap(50)}), w.now());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "delegation.not_holder");
  }
  SECTION("no capabilities") {
    auto r = hs::delegate(w.root, {}, spec_for(w.agent, {}), w.now());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "delegation.invalid");
  }
  SECTION("a rate limit widened under a capability schema") {
    w.options.capabilities = must(hs::capability::CapabilitySchemaSet::from_json(Json::parse(
        R"({"capabilities": [{"name": "billing.invoices.read",
                              "constraints": {"rate": {"type": "rate_limit"}}}]})")));
    const Json limited = w.grant(w.root, w.agent,
                                 {cap("billing.invoices.read", Json::parse(R"({"rate": {"count": 5, "per_seconds": 60}})"),
                                      true)},
                                 1);
    auto r = hs::delegate(w.agent, {limited},
                          spec_for(w.sub_agent, {cap("billing.invoices.read",
                                                     Json::parse(R"({"rate": {"count": 6, "per_seconds": 60}})"))}),
                          w.now(), w.options.capabilities);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "delegation.widen");
  }
  SECTION("an honest sub-delegation: exp capped at the parent's, depth decremented, parent named") {
    w.clock.advance(std::chrono::seconds(100));
    auto spec = spec_for(w.sub_agent, {read_cap(50)});
    spec.ttl = std::chrono::seconds(600);
    const Json child = must(hs::delegate(w.agent, {parent}, spec, w.now()));
    CHECK(hs::schema::validate("delegation-token.json", child).ok());
    const auto t = must(hs::DelegationToken::from_json(child));
    const auto p = must(hs::DelegationToken::from_json(parent));
    CHECK(t.exp == p.exp);
    CHECK(t.exp == t0() + std::chrono::seconds(600));
    CHECK(t.iat == w.now());
    CHECK(t.sub_delegation_depth_remaining == 0);
    CHECK(t.parent_delegation_id == std::optional<std::string>(p.id));
    CHECK(t.iss == w.agent.did_string());
    CHECK(t.aud == w.sub_agent.did_string());
    CHECK(t.sub == w.sub_agent.did_string());
    CHECK(hs::verify_message_signature(child, w.agent.public_key()).ok());
    // And the service accepts the chain with the narrowed scope.
    const auto sub = w.agent_for(kSubAgentSeed, {parent, child});
    const Json req = w.request(sub, read_cap(std::nullopt));
    const auto acc = w.expect_acceptance(w.service().verify(req), req);
    CHECK(acc.effective_scope.constraints == Json{{"max_invoices", 50}});
  }
  SECTION("a shorter child ttl is kept") {
    auto spec = spec_for(w.sub_agent, {read_cap(50)});
    spec.ttl = std::chrono::seconds(60);
    const auto t = must(hs::DelegationToken::from_json(must(hs::delegate(w.agent, {parent}, spec, w.now()))));
    CHECK(t.exp == w.now() + std::chrono::seconds(60));
  }
}

TEST_CASE("agent: check_answer", "[receipt][agent]") {
  World w;
  const auto a = w.default_agent();
  const Json ok_req = w.request(a, read_cap(10));
  const auto ok = w.service().verify(ok_req);
  REQUIRE(ok.accepted);
  const Json bad_req = w.request(a, read_cap(500));
  const auto bad = w.service().verify(bad_req);
  REQUIRE_FALSE(bad.accepted);
  const auto& key = w.svc.public_key();

  {  // a genuine Acceptance
    auto r = a.check_answer(ok.response, w.svc_did(), key, id_of(ok_req));
    INFO(why(r));
    REQUIRE(r.ok());
    CHECK(r->accepted);
    REQUIRE(r->acceptance.has_value());
    CHECK(r->acceptance->request_id == id_of(ok_req));
    CHECK_FALSE(r->refusal.has_value());
  }
  {  // a genuine Refusal
    auto r = a.check_answer(bad.response, w.svc_did(), key, id_of(bad_req));
    INFO(why(r));
    REQUIRE(r.ok());
    CHECK_FALSE(r->accepted);
    REQUIRE(r->refusal.has_value());
    CHECK(r->refusal->reason.code == "scope_exceeded");
  }
  {  // an answer about another request
    for (const auto* d : {&ok, &bad}) {
      auto r = a.check_answer(d->response, w.svc_did(), key, id_of(d == &ok ? bad_req : ok_req));
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().reason == "answer.binding");
    }
  }
  {  // an answer addressed to another agent
    const auto other = w.agent_for(kSubAgentSeed, a.chain());
    for (const auto* d : {&ok, &bad}) {
      auto r = other.check_answer(d->response, w.svc_did(), key, d == &ok ? id_of(ok_req) : id_of(bad_req));
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().reason == "answer.binding");
    }
  }
  {  // an answer from another service
    const auto other = make_identity(hs::PrincipalType::kSvc, kOtherServiceSeed);
    auto r = a.check_answer(ok.response, other.did_string(), key, id_of(ok_req));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "answer.binding");
  }
  {  // an answer signed by another key
    for (const auto* d : {&ok, &bad}) {
      const Json forged = resign(d->response, w.mallory);
      auto r = a.check_answer(forged, w.svc_did(), key, d == &ok ? id_of(ok_req) : id_of(bad_req));
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().reason == "sig.invalid");
      // And the genuine answer does not verify under another key.
      auto r2 = a.check_answer(d->response, w.svc_did(), w.mallory.public_key(),
                               d == &ok ? id_of(ok_req) : id_of(bad_req));
      REQUIRE_FALSE(r2.ok());
      CHECK(r2.error().reason == "sig.invalid");
    }
  }
  {  // a tampered Acceptance (scope widened)
    Json t = ok.response;
    t["effective_scope"]["constraints"]["max_invoices"] = 100000;
    auto r = a.check_answer(t, w.svc_did(), key, id_of(ok_req));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "sig.invalid");
  }
  {  // a Refusal turned into an Acceptance
    Json t = bad.response;
    t["kind"] = "Acceptance";
    auto r = a.check_answer(t, w.svc_did(), key, id_of(bad_req));
    CHECK_FALSE(r.ok());
  }
  {  // something that is not an answer
    auto r = a.check_answer(a.chain()[0], w.svc_did(), key, id_of(ok_req));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "message.kind");
  }
}
