// The agent side, wired to the service side in-process: client -> AgentGate -> ServiceGate -> server.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <variant>

#include "mcp_fixture.hpp"

#include "handshake/receipt.hpp"

using namespace mcp_fx;

namespace {

struct MemorySink final : hs::ReceiptStore {
  std::vector<Json> receipts;
  std::vector<Json> chains;
  hs::Status put_receipt(const Json& receipt, const Json&, std::string_view, const Json& chain) override {
    receipts.push_back(receipt);
    chains.push_back(chain);
    return hs::ok_status();
  }
  hs::Status put_refusal(const Json&, std::string_view) override { return hs::ok_status(); }
  hs::Result<std::optional<Json>> find_receipt(std::string_view) const override { return std::optional<Json>(); }
  hs::Result<std::vector<hs::StoredRecord>> list(const hs::RecordFilter&) const override {
    return std::vector<hs::StoredRecord>();
  }
};

// client -> agent gate -> (optional tamper) -> service middleware -> server.
struct Pipeline {
  World& w;
  MemorySink sink;
  std::vector<std::string> logs;
  std::unique_ptr<mcp::AgentGate> agent;
  std::function<Json(Json)> tamper_response = [](Json r) { return r; };
  std::function<Json(Json)> tamper_request = [](Json r) { return r; };
  Json last_forwarded;

  explicit Pipeline(World& world, mcp::AgentGateOptions options = {}) : w(world) {
    options.receipts = &sink;
    options.log = [this](const std::string& l) { logs.push_back(l); };
    agent = std::make_unique<mcp::AgentGate>(w.agent(), std::move(options), w.clock);
  }
  Json send(const Json& message) {
    mcp::AgentInbound in = agent->on_client_message(message);
    if (in.answer_now) {
      last_forwarded = nullptr;  // nothing reached the service
      return in.message;
    }
    last_forwarded = tamper_request(in.message);
    Json response = tamper_response(w.through_middleware(last_forwarded));
    mcp::AgentReply reply = agent->on_response(in.exchange, std::move(response));
    // One service instance: its sessions are never unknown to it, so nothing is retried
    // (agent_retry_test.cpp covers retries).
    REQUIRE(std::holds_alternative<mcp::ToClient>(reply));
    return std::get<mcp::ToClient>(std::move(reply)).message;
  }
  Json list() { return send(Json{{"jsonrpc", "2.0"}, {"id", "l"}, {"method", "tools/list"}}); }
};

}  // namespace

TEST_CASE("mcp agent: signs every tools/call, verifies and keeps every receipt", "[mcp][agent]") {
  World w(300);
  Pipeline p(w);
  REQUIRE(p.list().contains("result"));
  CHECK(p.agent->service_did() == w.svc.did_string());

  const Json r = p.send(World::call(1, "list-invoices", {{"limit", 7}}, std::nullopt));
  REQUIRE(r.contains("result"));
  CHECK(r["result"]["structuredContent"]["count"] == 7);
  // The agent declared what the arguments ask for.
  const Json& sent = p.last_forwarded["params"]["_meta"][std::string(mcp::kRequestKey)];
  CHECK(sent["capability"]["name"] == "billing.invoices.read");
  CHECK(sent["capability"]["constraints"]["max_invoices"] == 7);
  CHECK(p.agent->receipts_verified() == 1);
  REQUIRE(p.sink.receipts.size() == 1);
  CHECK(p.sink.receipts[0] == r["result"]["_meta"][std::string(mcp::kReceiptKey)]);
  CHECK(p.sink.chains[0] == Json(w.agent().chain()));  // kept with the call's delegation chain

  SECTION("the next call is warm and still verified") {
    const Json r2 = p.send(World::call(2, "list-invoices", {{"limit", 3}}, std::nullopt));
    REQUIRE(r2.contains("result"));
    const Json& sent2 = p.last_forwarded["params"]["_meta"][std::string(mcp::kRequestKey)];
    CHECK(sent2["agent_attestation"].contains(hs::kSessionTokenMember));
    CHECK(sent2["delegation_chain"].size() == 1);
    CHECK(p.agent->receipts_verified() == 2);
  }
  SECTION("a call beyond the delegation is refused, signed, and passed on") {
    const Json r2 = p.send(World::call(2, "list-invoices", {{"limit", 500}}, std::nullopt));
    CHECK(refusal_code(r2, w.svc) == "scope_exceeded");
    CHECK(p.agent->receipts_verified() == 1);
    // The refused warm request ended the session: the next one is cold.
    const Json r3 = p.send(World::call(3, "list-invoices", {{"limit", 1}}, std::nullopt));
    REQUIRE(r3.contains("result"));
    CHECK_FALSE(p.last_forwarded["params"]["_meta"][std::string(mcp::kRequestKey)]["agent_attestation"].contains(
        hs::kSessionTokenMember));
  }
  SECTION("a tampered result is caught: the receipt no longer commits to it") {
    p.tamper_response = [](Json resp) {
      resp["result"]["structuredContent"]["count"] = 8;
      return resp;
    };
    const Json r2 = p.send(World::call(2, "list-invoices", {{"limit", 7}}, std::nullopt));
    CHECK(r2["error"]["code"] == mcp::kReceiptUnverified);
    CHECK(r2["error"]["data"].contains("response"));
    CHECK(p.sink.receipts.size() == 1);
  }
  SECTION("a result without receipt is caught") {
    p.tamper_response = [](Json resp) {
      resp["result"].erase("_meta");
      return resp;
    };
    CHECK(p.send(World::call(2, "echo", {{"message", "m"}}, std::nullopt))["error"]["code"] == mcp::kReceiptUnverified);
  }
  SECTION("a forged refusal is caught") {
    p.tamper_response = [&](Json resp) {
      auto refusal = mcp::refusal_of(resp);
      if (refusal) {
        (*refusal)["reason"]["code"] = "policy_denied";
        resp["error"]["data"][std::string(mcp::kRefusalKey)] = *refusal;
      }
      return resp;
    };
    CHECK(p.send(World::call(2, "list-invoices", {{"limit", 500}}, std::nullopt))["error"]["code"] == mcp::kReceiptUnverified);
  }
  SECTION("tools the service did not mark go unsigned") {
    const Json r2 = p.send(World::call(2, "unmapped-tool", Json::object(), std::nullopt));
    CHECK(refusal_code(r2, w.svc) == "policy_denied");
    CHECK_FALSE(p.last_forwarded["params"].contains("_meta"));
  }
}

TEST_CASE("mcp agent: an expired delegation is refused expired", "[mcp][agent]") {
  World w(0, mcp::UnmappedTools::kRefuse, std::chrono::seconds(10));
  Pipeline p(w);
  p.list();
  w.clock.advance(std::chrono::microseconds(std::chrono::seconds(120)));
  CHECK(refusal_code(p.send(World::call(1, "echo", {{"message", "x"}}, std::nullopt)), w.svc) == "expired");
}

TEST_CASE("mcp agent: whom it trusts", "[mcp][agent]") {
  World w;
  SECTION("a pinned service DID that does not match: no call reaches it, the client gets -32011") {
    mcp::AgentGateOptions o;
    o.service_did = identity(hs::PrincipalType::kSvc, 10).did_string();
    Pipeline p(w, o);
    p.list();
    CHECK_FALSE(p.agent->service_did().has_value());
    const Json answer = p.send(World::call(7, "echo", {{"message", "secret"}}, std::nullopt));
    CHECK(p.last_forwarded.is_null());  // the arguments never left
    REQUIRE(answer.contains("error"));
    CHECK(answer["id"] == 7);
    CHECK(answer["error"]["code"] == mcp::kReceiptUnverified);
    CHECK_THAT(answer["error"]["message"].get<std::string>(), Catch::Contains(w.svc.did_string()) &&
                                                                   Catch::Contains("--service-did"));
  }
  SECTION("a published DID Document that does not prove the DID is not taken") {
    Pipeline p(w);
    p.tamper_response = [&](Json resp) {
      if (resp.contains("result") && resp["result"].contains("tools")) {
        resp["result"]["_meta"][std::string(mcp::kServiceKey)]["did_document"] =
            must(hs::make_did_document(identity(hs::PrincipalType::kSvc, 11), {}));
      }
      return resp;
    };
    p.list();
    CHECK_FALSE(p.agent->service_did().has_value());
  }
  SECTION("a configured DID Document is used") {
    mcp::AgentGateOptions o;
    o.service_did_document = w.svc_did_doc;
    Pipeline p(w, o);
    CHECK(p.agent->service_did() == w.svc.did_string());
    p.list();
    CHECK(p.send(World::call(1, "echo", {{"message", "x"}}, std::nullopt)).contains("result"));
  }
  SECTION("no tools/list yet: the call goes unsigned and is refused") {
    Pipeline p(w);
    CHECK(refusal_code(p.send(World::call(1, "echo", {{"message", "x"}}, std::nullopt)), w.svc) == "policy_denied");
    CHECK_FALSE(p.logs.empty());
  }
}

