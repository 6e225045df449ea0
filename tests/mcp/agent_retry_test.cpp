// The agent gate recovers from a warm call refused for its session: two instances of one service
// (same identity, each with its own session table, as behind a load balancer or across a restart)
// and an agent whose warm session only the first one knows.
#include <variant>

#include "mcp_fixture.hpp"

using namespace mcp_fx;

namespace {

constexpr std::int64_t kSessionTtl = 300;

// Another instance of World's service: the same identity, trust roots and collaborators, but its
// own session table (and nonce store and rate limiter).
struct Instance {
  std::unique_ptr<hs::NonceStore> nonces = hs::make_memory_nonce_store();
  std::unique_ptr<hs::RateLimiter> limiter = hs::make_memory_rate_limiter();
  std::unique_ptr<hs::Service> service;
  std::unique_ptr<mcp::ServiceGate> gate;

  explicit Instance(World& w) {
    hs::ServiceOptions options;
    options.chain.trust_roots = {w.org.did_string()};
    options.session_ttl = std::chrono::seconds(kSessionTtl);
    service = std::make_unique<hs::Service>(identity(hs::PrincipalType::kSvc, 9), options, w.clock, w.keys, w.revocations,
                                            *nonces, *limiter);
    mcp::GateOptions gopts;
    gopts.did_document = w.svc_did_doc;
    gate = std::make_unique<mcp::ServiceGate>(*service, must(mcp::ToolMap::from_yaml(kToolsYaml)), gopts);
  }
  [[nodiscard]] Json handle(const Json& message) const { return mcp::Middleware(*gate).wrap(server)(message); }
};

// The HandshakeRequest a forwarded tools/call carries.
const Json& request_in(const Json& call) { return call.at("params").at("_meta").at(std::string(mcp::kRequestKey)); }
bool is_warm(const Json& call) { return request_in(call).at("agent_attestation").contains(hs::kSessionTokenMember); }
std::string token_of(const Json& call) {
  return request_in(call).at("agent_attestation").at(hs::kSessionTokenMember).get<std::string>();
}
std::string session_of(const Json& response) {
  return response.at("result").at("_meta").at(std::string(mcp::kAcceptanceKey)).at("session_token").get<std::string>();
}

using Upstream = std::function<Json(const Json&)>;

// client -> agent gate -> the instance a "load balancer" picks: `first` for the call, `then` for
// a cold retry the gate asks for (as the proxy's relays do).
struct Agent {
  World& w;
  std::vector<std::string> logs;
  std::unique_ptr<mcp::AgentGate> gate;
  std::vector<Json> forwarded;  // every message sent upstream for the last call
  int retries = 0;              // cold retries of the last call

  explicit Agent(World& world) : w(world) {
    mcp::AgentGateOptions o;
    o.log = [this](const std::string& l) { logs.push_back(l); };
    gate = std::make_unique<mcp::AgentGate>(w.agent(), std::move(o), w.clock);
  }
  Json send(const Json& message, const Upstream& first, const Upstream& then) {
    forwarded.clear();
    retries = 0;
    mcp::AgentInbound in = gate->on_client_message(message);
    forwarded.push_back(in.message);
    mcp::AgentReply reply = gate->on_response(in.exchange, first(in.message));
    while (auto* retry = std::get_if<mcp::ColdRetry>(&reply)) {
      ++retries;
      REQUIRE(retries == 1);  // never twice
      const mcp::AgentInbound cold = retry->request;
      forwarded.push_back(cold.message);
      reply = gate->on_response(cold.exchange, then(cold.message));
    }
    return std::get<mcp::ToClient>(reply).message;
  }
  Json send(const Json& message, const Upstream& to) { return send(message, to, to); }
  [[nodiscard]] std::size_t retry_log_lines() const {
    std::size_t n = 0;
    for (const auto& l : logs) n += l.find("retrying once with a cold handshake") != std::string::npos ? 1 : 0;
    return n;
  }
};

}  // namespace

TEST_CASE("mcp agent: a warm call another instance refuses for its session is retried once, cold", "[mcp][agent][retry]") {
  World w(kSessionTtl);
  Instance b(w);
  Agent agent(w);
  const Upstream to_a = [&](const Json& m) { return w.through_middleware(m); };
  const Upstream to_b = [&](const Json& m) { return b.handle(m); };
  REQUIRE(agent.send(Json{{"jsonrpc", "2.0"}, {"id", "l"}, {"method", "tools/list"}}, to_a).contains("result"));

  // A cold call to instance A opens a session there.
  const Json first = agent.send(World::call(1, "list-invoices", {{"limit", 7}}, std::nullopt), to_a);
  REQUIRE(first.contains("result"));
  CHECK_FALSE(is_warm(agent.forwarded[0]));
  const std::string session_a = session_of(first);

  SECTION("instance B does not know A's session: the client still gets the accepted answer") {
    const Json r = agent.send(World::call(2, "list-invoices", {{"limit", 3}}, std::nullopt), to_b);
    INFO(r.dump());
    REQUIRE(r.contains("result"));
    CHECK(r["id"] == 2);
    CHECK(r["result"]["structuredContent"]["count"] == 3);
    CHECK(agent.retries == 1);
    CHECK(agent.gate->cold_retries() == 1);
    REQUIRE(agent.forwarded.size() == 2);
    const Json& warm = agent.forwarded[0];
    const Json& cold = agent.forwarded[1];
    CHECK(token_of(warm) == session_a);
    // The retry is the same call, signed again cold: full chain, fresh nonce and id, no token.
    CHECK_FALSE(is_warm(cold));
    CHECK(cold["id"] == warm["id"]);
    CHECK(cold["params"]["arguments"] == warm["params"]["arguments"]);
    CHECK(request_in(cold)["delegation_chain"].size() == w.chain.size());
    CHECK(request_in(cold)["nonce"] != request_in(warm)["nonce"]);
    CHECK(request_in(cold)["id"] != request_in(warm)["id"]);
    CHECK(request_in(cold)["capability"] == request_in(warm)["capability"]);
    // The answer the client gets is the retry's, verified: acceptance bound to it, receipt kept.
    CHECK(r["result"]["_meta"][std::string(mcp::kAcceptanceKey)]["request_id"] == request_in(cold)["id"]);
    CHECK(agent.gate->receipts_verified() == 2);
    // One log line, naming the refusal, without the token.
    CHECK(agent.retry_log_lines() == 1);
    for (const auto& l : agent.logs) CHECK(l.find(session_a) == std::string::npos);

    // A's session is forgotten; B's new one is used from now on, with no further retry.
    const std::string session_b = session_of(r);
    CHECK(session_b != session_a);
    const Json again = agent.send(World::call(3, "list-invoices", {{"limit", 1}}, std::nullopt), to_b);
    REQUIRE(again.contains("result"));
    CHECK(agent.retries == 0);
    CHECK(token_of(agent.forwarded[0]) == session_b);
    CHECK(agent.gate->cold_retries() == 1);
  }
  SECTION("a second session refusal, for the retry, goes to the client: never a second retry") {
    // The retry meets a session refusal too (here: B is handed the retry with an unknown token,
    // which it checks before the signature).
    const Upstream stale_again = [&](const Json& m) {
      Json t = m;
      t["params"]["_meta"][std::string(mcp::kRequestKey)]["agent_attestation"][std::string(hs::kSessionTokenMember)] =
          "unknown-session";
      return b.handle(t);
    };
    const Json r = agent.send(World::call(2, "list-invoices", {{"limit", 3}}, std::nullopt), to_b, stale_again);
    CHECK(agent.retries == 1);
    CHECK(agent.forwarded.size() == 2);
    CHECK(refusal_code(r, w.svc) == "expired");
    CHECK(agent.gate->cold_retries() == 1);
    CHECK(agent.retry_log_lines() == 1);
  }
  SECTION("a cold call is never retried, even when refused with a session code") {
    // No session to use: the gate sends cold; the answer it gets is a session refusal.
    Agent fresh(w);
    REQUIRE(fresh.send(Json{{"jsonrpc", "2.0"}, {"id", "l"}, {"method", "tools/list"}}, to_a).contains("result"));
    const Upstream as_if_warm = [&](const Json& m) {
      Json t = m;
      t["params"]["_meta"][std::string(mcp::kRequestKey)]["agent_attestation"][std::string(hs::kSessionTokenMember)] =
          "unknown-session";
      return b.handle(t);
    };
    const Json r = fresh.send(World::call(2, "list-invoices", {{"limit", 3}}, std::nullopt), as_if_warm);
    CHECK_FALSE(is_warm(fresh.forwarded[0]));
    CHECK(fresh.retries == 0);
    CHECK(refusal_code(r, w.svc) == "expired");
    CHECK(fresh.gate->cold_retries() == 0);
  }
  SECTION("a session refusal that does not verify is not retried: the client gets the unverified error") {
    const Upstream forged = [&](const Json& m) {
      Json resp = b.handle(m);
      auto refusal = mcp::refusal_of(resp);
      REQUIRE(refusal.has_value());
      (*refusal)["reason"]["detail"] = "edited";
      resp["error"]["data"][std::string(mcp::kRefusalKey)] = *refusal;
      return resp;
    };
    const Json r = agent.send(World::call(2, "list-invoices", {{"limit", 3}}, std::nullopt), forged);
    CHECK(agent.retries == 0);
    CHECK(r["error"]["code"] == mcp::kReceiptUnverified);
    CHECK(agent.gate->cold_retries() == 0);
  }
  SECTION("a session refusal signed by someone else is not retried") {
    const Upstream other_service = [&](const Json& m) {
      Json resp = b.handle(m);
      auto refusal = mcp::refusal_of(resp);
      REQUIRE(refusal.has_value());
      resp["error"]["data"][std::string(mcp::kRefusalKey)] =
          must(hs::sign_message(*refusal, identity(hs::PrincipalType::kSvc, 10).key()));
      return resp;
    };
    const Json r = agent.send(World::call(2, "list-invoices", {{"limit", 3}}, std::nullopt), other_service);
    CHECK(agent.retries == 0);
    CHECK(r["error"]["code"] == mcp::kReceiptUnverified);
  }
}

TEST_CASE("mcp agent: refusals that do not end the session are passed on, never retried", "[mcp][agent][retry]") {
  World w(kSessionTtl);
  Agent agent(w);
  const Upstream to_a = [&](const Json& m) { return w.through_middleware(m); };
  REQUIRE(agent.send(Json{{"jsonrpc", "2.0"}, {"id", "l"}, {"method", "tools/list"}}, to_a).contains("result"));
  REQUIRE(agent.send(World::call(1, "list-invoices", {{"limit", 7}}, std::nullopt), to_a).contains("result"));

  SECTION("scope_exceeded for a warm call") {
    const Json r = agent.send(World::call(2, "list-invoices", {{"limit", 500}}, std::nullopt), to_a);
    CHECK(is_warm(agent.forwarded[0]));
    CHECK(refusal_code(r, w.svc) == "scope_exceeded");
    CHECK(agent.retries == 0);
    CHECK(agent.forwarded.size() == 1);
  }
  SECTION("replay_detected for a warm call") {
    // The same warm request reaches the service twice (e.g. a network retry below the gate).
    Json accepted;
    const Upstream twice = [&](const Json& m) {
      accepted = w.through_middleware(m);
      return w.through_middleware(m);
    };
    const Json r = agent.send(World::call(2, "list-invoices", {{"limit", 2}}, std::nullopt), twice);
    CHECK(is_warm(agent.forwarded[0]));
    CHECK(accepted.contains("result"));
    CHECK(refusal_code(r, w.svc) == "replay_detected");
    CHECK(agent.retries == 0);
  }
  SECTION("a revoked delegation (credential_revoked at the session step)") {
    const std::string delegation = w.chain.front()["id"].get<std::string>();
    REQUIRE(w.revocations
                .add_statement(must(hs::make_revocation(w.org, delegation, std::nullopt, "policy_change", w.clock.now())),
                               w.keys)
                .ok());
    const Json r = agent.send(World::call(2, "list-invoices", {{"limit", 2}}, std::nullopt), to_a);
    CHECK(is_warm(agent.forwarded[0]));
    CHECK(refusal_code(r, w.svc) == "credential_revoked");
    CHECK(agent.retries == 0);
  }
  CHECK(agent.gate->cold_retries() == 0);
  CHECK(agent.retry_log_lines() == 0);
}

TEST_CASE("refusal_ends_session: the service's session refusals, and no other", "[mcp][agent][retry]") {
  World w(kSessionTtl);
  Instance b(w);
  const Json cold = w.request("billing.invoices.read", Json{{"max_invoices", 5}});
  const hs::Decision opened = w.service->verify(cold);
  REQUIRE(opened.accepted);
  const std::string token = *opened.acceptance->session_token;

  // Unknown to another instance: expired at the session step.
  const hs::Decision unknown = b.service->verify(w.request("billing.invoices.read", Json{{"max_invoices", 5}}, token));
  REQUIRE(unknown.refusal.has_value());
  CHECK(unknown.refusal->code == hs::RefusalCode::kExpired);
  CHECK(hs::refusal_ends_session(*unknown.refusal));
  CHECK(hs::refusal_ends_session(must(hs::Refusal::from_json(unknown.response))));

  // Another agent presenting the token: signature_invalid at the session step.
  hs::DelegationSpec spec;
  const hs::Identity other = identity(hs::PrincipalType::kAgent, 3);
  w.keys.add(other.did_string(), other.public_key());
  spec.holder = other.did_string();
  spec.capabilities = {{"billing.invoices.read", Json{{"max_invoices", 100}}, std::nullopt}};
  hs::AgentAttestation att;
  att.deployer = w.org.did_string();
  att.model = "m";
  att.instance_id = "i";
  const hs::Agent thief(identity(hs::PrincipalType::kAgent, 3), {must(hs::delegate(w.org, {}, spec, t0()))}, att);
  const hs::Decision stolen = w.service->verify(must(thief.request(
      w.svc.did_string(), {"billing.invoices.read", Json{{"max_invoices", 5}}, std::nullopt}, w.clock.now(), token)));
  REQUIRE(stolen.refusal.has_value());
  CHECK(stolen.refusal->code == hs::RefusalCode::kSignatureInvalid);
  CHECK(hs::refusal_ends_session(*stolen.refusal));

  // Refusals from other steps do not end a session.
  const hs::Decision wide = w.service->verify(w.request("billing.invoices.read", Json{{"max_invoices", 500}}, token));
  REQUIRE(wide.refusal.has_value());
  CHECK(wide.refusal->code == hs::RefusalCode::kScopeExceeded);
  CHECK_FALSE(hs::refusal_ends_session(*wide.refusal));
  CHECK_FALSE(hs::refusal_ends_session(must(hs::Refusal::from_json(wide.response))));
  hs::RefusalInfo stale{hs::RefusalCode::kExpired, hs::VerificationStep::kRequestSignature, "iat", {}, {}};
  CHECK_FALSE(hs::refusal_ends_session(stale));
  hs::RefusalInfo replay{hs::RefusalCode::kReplayDetected, hs::VerificationStep::kReplay, "nonce", {}, {}};
  CHECK_FALSE(hs::refusal_ends_session(replay));
}
