// The A2A adapter without a network: the envelope helpers, the service gate's every answer, and
// the agent gate checking what a service sends back (including forgeries).

#include <variant>

#include "core/fixtures.hpp"
#include "handshake/a2a/agent_gate.hpp"
#include "handshake/a2a/envelope.hpp"
#include "handshake/a2a/service_gate.hpp"
#include "handshake/did_document.hpp"
#include "handshake/encoding.hpp"

namespace a2a = handshake::a2a;
using namespace hsk_fx;
using hs::Json;

namespace {

const std::string kExt(a2a::kExtensionUri);

hs::ActionMap skills() {
  return hs::ActionMap::from_yaml(R"(
unmapped: refuse
skills:
  list-invoices: {capability: billing.invoices.read, constraints: {max_invoices: data.limit}}
)",
                                  a2a::skill_map_format())
      .value();
}

Json send_v10(const Json& ext, int limit) {
  Json message{{"messageId", "m-1"}, {"role", "ROLE_USER"}, {"parts", Json::array({Json{{"data", Json{{"limit", limit}}}}})}};
  if (!ext.is_null()) message["metadata"] = Json{{kExt, ext}};
  return Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "SendMessage"}, {"params", Json{{"message", message}}}};
}

Json completed_task(const std::string& id, int n) {
  Json invoices = Json::array();
  for (int i = 0; i < n; ++i) invoices.push_back(Json{{"id", "inv-" + std::to_string(i)}});
  return Json{{"jsonrpc", "2.0"},
              {"id", 1},
              {"result", Json{{"task", Json{{"id", id},
                                            {"contextId", "ctx-1"},
                                            {"status", Json{{"state", "TASK_STATE_COMPLETED"}}},
                                            {"artifacts", Json::array({Json{{"artifactId", "a"},
                                                                            {"parts", Json::array({Json{{"data", Json{{"invoices", invoices}}}}})}}})}}}}}};
}

const std::string& refusal_code(const Json& response) {
  return response.at("result").at("task").at("status").at("message").at("metadata").at(kExt).at("refusal").at("reason").at("code").get_ref<const std::string&>();
}

// The agent gate's answer when no retry is expected (one service instance).
Json to_client(a2a::AgentReply reply) {
  REQUIRE(std::holds_alternative<a2a::ToClient>(reply));
  return std::get<a2a::ToClient>(std::move(reply)).message;
}

}  // namespace

TEST_CASE("a2a envelope: versions, activation, parts, results", "[a2a]") {
  CHECK(a2a::version_from_header("1.0") == a2a::Version::kV10);
  CHECK(a2a::version_from_header("") == a2a::Version::kV03);
  CHECK(a2a::parse_extensions(" a ,b,, c ") == std::vector<std::string>{"a", "b", "c"});
  // Activation headers as the relays rewrite them.
  const std::string ext(a2a::kExtensionUri);
  CHECK(a2a::with_extension("") == ext);
  CHECK(a2a::with_extension("urn:other") == "urn:other, " + ext);
  CHECK(a2a::with_extension("urn:other, " + ext) == "urn:other, " + ext);
  CHECK(a2a::without_extension(ext + ", urn:other,urn:third") == "urn:other, urn:third");
  CHECK(a2a::without_extension(" " + ext + " ").empty());
  CHECK(a2a::classify("message/stream") == a2a::Method::kStream);
  CHECK(a2a::classify("GetTask") == a2a::Method::kGetTask);
  CHECK(a2a::classify("tasks/cancel") == a2a::Method::kOther);
  CHECK(a2a::first_data(Json{{"parts", Json::array({Json{{"text", "x"}}, Json{{"data", Json{{"a", 1}}}}})}}) == Json{{"a", 1}});
  CHECK(a2a::first_data(Json{{"parts", Json::array({Json{{"kind", "data"}, {"data", Json{{"b", 2}}}}})}}) == Json{{"b", 2}});
  CHECK(a2a::first_data(Json{{"parts", Json::array({Json{{"kind", "text"}, {"text", "x"}}})}}).is_null());
  Json v03{{"kind", "task"}, {"id", "t"}};
  CHECK(a2a::unwrap(v03, a2a::Version::kV03).kind == a2a::SendResult::Kind::kTask);
  Json v10{{"statusUpdate", Json{{"taskId", "t"}}}};
  CHECK(a2a::unwrap(v10, a2a::Version::kV10).kind == a2a::SendResult::Kind::kStatusUpdate);
  CHECK(a2a::wrap_task(Json{{"id", "t"}}, a2a::Version::kV03)["kind"] == "task");
  CHECK(a2a::state_name(a2a::State::kRejected, a2a::Version::kV10) == "TASK_STATE_REJECTED");
  CHECK(a2a::state_of("rejected") == a2a::State::kRejected);
}

TEST_CASE("a2a service gate: every answer, and receipts bound to tasks", "[a2a]") {
  World w;
  a2a::ServiceGate gate(w.service(), skills());
  const auto agent = w.default_agent();
  const std::vector<std::string> on = {kExt};
  auto request = [&](int declared) { return w.request(agent, read_cap(declared)); };

  SECTION("the required extension not activated: -32008; optional: passed through") {
    auto in = gate.on_request(send_v10(nullptr, 1), a2a::Version::kV10, {});
    REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
    CHECK(in.message["error"]["code"] == -32008);
    a2a::GateOptions o;
    o.required = false;
    a2a::ServiceGate optional(w.service(), skills(), o);
    auto pass = optional.on_request(send_v10(nullptr, 1), a2a::Version::kV10, {});
    CHECK(pass.kind == a2a::Inbound::Kind::kForward);
    CHECK_FALSE(pass.exchange.decision);
  }
  SECTION("no skill, an unmapped skill, no request: signed policy_denied in a rejected task") {
    for (const Json& ext : {Json::object(), Json{{"skill", "drop-tables"}}, Json{{"skill", "list-invoices"}}}) {
      auto in = gate.on_request(send_v10(ext, 1), a2a::Version::kV10, on);
      REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
      const Json& task = in.message["result"]["task"];
      CHECK(task["status"]["state"] == "TASK_STATE_REJECTED");
      CHECK(refusal_code(in.message) == "policy_denied");
      CHECK(hs::verify_message_signature(task["status"]["message"]["metadata"][kExt]["refusal"], w.svc.public_key()).ok());
    }
  }
  SECTION("v0.3 shape of a refusal") {
    Json rpc{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "message/send"},
             {"params", Json{{"message", Json{{"kind", "message"}, {"messageId", "m"}, {"role", "user"},
                                              {"parts", Json::array({Json{{"kind", "text"}, {"text", "x"}}})},
                                              {"metadata", Json{{kExt, Json{{"skill", "nope"}}}}}}}}}};
    auto in = gate.on_request(rpc, a2a::Version::kV03, on);
    REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
    CHECK(in.message["result"]["kind"] == "task");
    CHECK(in.message["result"]["status"]["state"] == "rejected");
    CHECK(in.message["result"]["status"]["message"]["role"] == "agent");
  }
  SECTION("the data asks for more than the request declared: scope_exceeded, from the real data") {
    auto in = gate.on_request(send_v10(Json{{"skill", "list-invoices"}, {"request", request(10)}}, 50), a2a::Version::kV10, on);
    REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
    CHECK(refusal_code(in.message) == "scope_exceeded");
  }
  SECTION("every refusal is handed to on_refusal, signed, and nothing else is") {
    std::vector<Json> refused;
    a2a::GateOptions o;
    o.on_refusal = [&](const hs::Decision& d) { refused.push_back(d.response); };
    a2a::ServiceGate audited(w.service(), skills(), o);
    auto in = audited.on_request(send_v10(Json{{"skill", "list-invoices"}, {"request", request(10)}}, 50), a2a::Version::kV10, on);
    REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0]["reason"]["code"] == "scope_exceeded");
    CHECK(hs::verify_message_signature(refused[0], w.svc.public_key()).ok());
    auto ok = audited.on_request(send_v10(Json{{"skill", "list-invoices"}, {"request", request(10)}}, 5), a2a::Version::kV10, on);
    CHECK(ok.kind == a2a::Inbound::Kind::kForward);
    CHECK(refused.size() == 1);
  }
  SECTION("a body that is not strict JSON is refused before anything else") {
    const Json rpc = send_v10(Json{{"skill", "list-invoices"}, {"request", request(10)}}, 5);
    std::string raw = rpc.dump();
    raw.insert(raw.size() - 1, ",\"id\":3");  // a duplicate member at the top level
    auto in = gate.on_request(rpc, a2a::Version::kV10, on, raw);
    REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
    CHECK(in.message["result"]["task"]["status"]["state"] == "TASK_STATE_REJECTED");
  }
  SECTION("accepted: forwarded without our metadata; the answer gains acceptance and receipt") {
    auto in = gate.on_request(send_v10(Json{{"skill", "list-invoices"}, {"request", request(10)}}, 5), a2a::Version::kV10, on);
    REQUIRE(in.kind == a2a::Inbound::Kind::kForward);
    REQUIRE(in.exchange.decision);
    CHECK(a2a::extension_data(in.message["params"]["message"]) == nullptr);
    Json out = gate.on_response(in.exchange, completed_task("t-1", 5));
    const Json& task = out["result"]["task"];
    CHECK(task["status"]["message"]["metadata"][kExt]["acceptance"] == in.exchange.decision->response);
    const Json receipt = task["metadata"][kExt]["receipt"];
    CHECK(task["artifacts"][0]["metadata"][kExt]["receipt"] == receipt);
    Json artifacts = task["artifacts"];
    a2a::strip_extension(artifacts[0]);
    const Json subject{{"a2a_task_id", "t-1"}, {"a2a_context_id", "ctx-1"}, {"state", "TASK_STATE_COMPLETED"}, {"artifacts", artifacts}};
    CHECK(hs::verify_receipt(receipt, w.keys, subject).ok());
    Json other = subject;
    other["a2a_task_id"] = "t-2";
    CHECK_FALSE(hs::verify_receipt(receipt, w.keys, other).ok());
  }
  SECTION("a task still running: its receipt comes with the GetTask that shows it finished, once") {
    auto in = gate.on_request(send_v10(Json{{"skill", "list-invoices"}, {"request", request(10)}}, 2), a2a::Version::kV10, on);
    REQUIRE(in.kind == a2a::Inbound::Kind::kForward);
    Json running = completed_task("t-9", 2);
    running["result"]["task"]["status"]["state"] = "TASK_STATE_WORKING";
    Json first = gate.on_response(in.exchange, running);
    CHECK(a2a::extension_data(first["result"]["task"]) == nullptr);
    Json get{{"jsonrpc", "2.0"}, {"id", 5}, {"method", "GetTask"}, {"params", Json{{"id", "t-9"}}}};
    auto g1 = gate.on_request(get, a2a::Version::kV10, on);
    Json done1 = gate.on_response(g1.exchange, completed_task("t-9", 2));
    auto g2 = gate.on_request(get, a2a::Version::kV10, on);
    Json done2 = gate.on_response(g2.exchange, completed_task("t-9", 2));
    REQUIRE(a2a::extension_data(done1["result"]["task"]) != nullptr);
    CHECK((*a2a::extension_data(done1["result"]["task"]))["receipt"] == (*a2a::extension_data(done2["result"]["task"]))["receipt"]);
    // A task this gate never accepted gets nothing.
    Json stranger = gate.on_response(g1.exchange, completed_task("t-unknown", 1));
    CHECK(a2a::extension_data(stranger["result"]["task"]) == nullptr);
  }
  SECTION("members of the wrong type are not methods: forwarded unchanged, nothing thrown (fuzz-found)") {
    const Json odd = Json::parse(R"({"jsonrpc":"2.0","id":1,"method":{"x":1},"params":{"message":{}}})");
    a2a::Inbound in;
    REQUIRE_NOTHROW(in = gate.on_request(odd, a2a::Version::kV03, on));
    CHECK(in.kind == a2a::Inbound::Kind::kForward);
    CHECK(in.message == odd);
  }
  SECTION("a remembered finished task keeps its receipt, not its decision") {
    auto in = gate.on_request(send_v10(Json{{"skill", "list-invoices"}, {"request", request(10)}}, 1), a2a::Version::kV10, on);
    Json first = gate.on_response(in.exchange, completed_task("t-r", 1));
    Json get{{"jsonrpc", "2.0"}, {"id", 5}, {"method", "GetTask"}, {"params", Json{{"id", "t-r"}}}};
    auto g = gate.on_request(get, a2a::Version::kV10, on);
    Json again = gate.on_response(g.exchange, completed_task("t-r", 1));
    CHECK(again["result"]["task"]["metadata"][kExt]["receipt"] == first["result"]["task"]["metadata"][kExt]["receipt"]);
    CHECK(again["result"]["task"]["artifacts"][0]["metadata"][kExt]["receipt"] == first["result"]["task"]["metadata"][kExt]["receipt"]);
  }
  SECTION("a refusal before verification names the request when there is one") {
    const Json req = request(10);
    auto in = gate.on_request(send_v10(Json{{"skill", "drop-tables"}, {"request", req}}, 1), a2a::Version::kV10, on);
    REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
    const Json& refusal = in.message["result"]["task"]["status"]["message"]["metadata"][kExt]["refusal"];
    CHECK(refusal["request_id"] == req["id"]);
    CHECK(refusal["aud"] == req["iss"]);
    CHECK(refusal["reason"]["code"] == "policy_denied");
  }
  SECTION("a derive hook that fails refuses, bound to the request") {
    a2a::GateOptions o;
    o.derive = [](const hs::ActionRule&, const Json&) -> std::optional<hs::Result<hs::ActionBinding>> {
      return hs::Result<hs::ActionBinding>(hs::make_error(hs::ErrorCode::kNotFound, "ap2.not_found", "no mandate"));
    };
    a2a::ServiceGate hooked(w.service(), skills(), o);
    const Json req = request(10);
    auto in = hooked.on_request(send_v10(Json{{"skill", "list-invoices"}, {"request", req}}, 1), a2a::Version::kV10, on);
    REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
    CHECK(refusal_code(in.message) == "policy_denied");
    CHECK(in.message["result"]["task"]["status"]["message"]["metadata"][kExt]["refusal"]["request_id"] == req["id"]);
  }
  SECTION("a skill with its own evidence: the receipt commits to it, its members ride beside the receipt") {
    a2a::GateOptions o;
    Json seen_message;
    o.evidence = [&](std::string_view skill, const Json& message, const Json& artifacts,
                     a2a::State state) -> std::optional<hs::Result<a2a::ReceiptEvidence>> {
      CHECK(skill == "list-invoices");
      CHECK(state == a2a::State::kCompleted);
      seen_message = message;
      if (artifacts.size() != 1) return hs::Result<a2a::ReceiptEvidence>(hs::make_error(hs::ErrorCode::kInvalidArgument, "x.bad", ""));
      a2a::ReceiptEvidence e;
      e.result = Json{{"paid", artifacts[0]["artifactId"]}};
      e.summary = Json{{"n", 1}};
      e.carried = Json{{"extra", Json{{"k", "v"}}}};
      return hs::Result<a2a::ReceiptEvidence>(std::move(e));
    };
    a2a::ServiceGate hooked(w.service(), skills(), o);
    auto in = hooked.on_request(send_v10(Json{{"skill", "list-invoices"}, {"request", request(10)}}, 5), a2a::Version::kV10, on);
    REQUIRE(in.kind == a2a::Inbound::Kind::kForward);
    Json out = hooked.on_response(in.exchange, completed_task("t-1", 5));
    CHECK(seen_message["parts"][0]["data"]["limit"] == 5);
    CHECK_FALSE(seen_message.contains("metadata"));  // our member removed
    const Json& task = out["result"]["task"];
    const Json receipt = task["metadata"][kExt]["receipt"];
    CHECK(hs::verify_receipt(receipt, w.keys, Json{{"paid", "a"}}).ok());
    CHECK(receipt["result_summary"] == Json{{"n", 1}});
    CHECK(task["metadata"][kExt]["extra"] == Json{{"k", "v"}});
    CHECK(task["artifacts"][0]["metadata"][kExt]["extra"] == Json{{"k", "v"}});

    // The evidence cannot be formed: the task subject, status error, the reason in the summary.
    Json two = completed_task("t-2", 1);
    two["result"]["task"]["artifacts"].push_back(two["result"]["task"]["artifacts"][0]);
    auto in2 = hooked.on_request(send_v10(Json{{"skill", "list-invoices"}, {"request", request(10)}}, 1), a2a::Version::kV10, on);
    Json out2 = hooked.on_response(in2.exchange, two);
    const Json& t2 = out2["result"]["task"];
    const Json r2 = t2["metadata"][kExt]["receipt"];
    CHECK(r2["result"] == "error");
    CHECK(r2["result_summary"]["evidence_error"] == "x.bad");
    const Json subject{{"a2a_task_id", "t-2"}, {"a2a_context_id", "ctx-1"}, {"state", "TASK_STATE_COMPLETED"},
                       {"artifacts", a2a::artifacts_without_ours(t2)}};
    CHECK(hs::verify_receipt(r2, w.keys, subject).ok());
  }
  SECTION("the Agent Card gains the extension (once) and loses a stale signature") {
    Json card{{"name", "x"}, {"capabilities", Json{{"extensions", Json::array({Json{{"uri", kExt}, {"required", false}}})}}},
              {"signatures", Json::array({Json{{"protected", "x"}, {"signature", "y"}}})}};
    Json out = gate.agent_card(card);
    REQUIRE(out["capabilities"]["extensions"].size() == 1);
    const Json& e = out["capabilities"]["extensions"][0];
    CHECK(e["required"] == true);
    CHECK(e["params"]["service_did"] == w.svc_did());
    CHECK(e["params"]["skills"]["list-invoices"]["constraints"]["max_invoices"]["from"] == "data.limit");
    CHECK(out["signatures"].empty());
  }
}

TEST_CASE("a2a agent gate: signs sends, checks every answer", "[a2a]") {
  World w;
  a2a::GateOptions go;
  go.did_document = must(hs::make_did_document(w.svc, {w.now() - 24h, {}, Json::array(), Json::array()}));
  a2a::ServiceGate service_gate(w.service(), skills(), go);
  const Json card = service_gate.agent_card(Json{{"name", "x"}});
  std::vector<Json> kept;
  a2a::AgentGateOptions ao;
  ao.on_receipt = [&](const Json& r, const Json&) { kept.push_back(r); };
  a2a::AgentGate gate(hs::Agent(make_identity(hs::PrincipalType::kAgent, kAgentSeed), {w.grant(w.root, w.agent, {read_cap(100)})},
                                attestation(w.root.did_string())),
                      w.clock, ao);
  must_ok(gate.learn(card));
  const std::vector<std::string> on = {kExt};

  auto round_trip = [&](int limit, const std::function<void(Json&)>& tamper) {
    a2a::AgentExchange ax;
    Json rpc = must(gate.on_request(send_v10(Json{{"skill", "list-invoices"}}, limit), a2a::Version::kV10, ax));
    REQUIRE(ax.request_id);
    auto in = service_gate.on_request(rpc, a2a::Version::kV10, on, rpc.dump());
    Json answer = in.kind == a2a::Inbound::Kind::kAnswer ? in.message : service_gate.on_response(in.exchange, completed_task("t-" + *ax.request_id, limit));
    tamper(answer);
    return to_client(gate.on_response(ax, answer, a2a::Version::kV10));
  };

  SECTION("an honest exchange passes and its receipt is kept") {
    Json out = round_trip(5, [](Json&) {});
    CHECK(out.contains("result"));
    CHECK(kept.size() == 1);
  }
  SECTION("a signed refusal reaches the client, verified") {
    Json out = round_trip(500, [](Json&) {});
    CHECK(refusal_code(out) == "scope_exceeded");
    CHECK(kept.empty());
  }
  SECTION("a tampered artifact: the receipt no longer matches -> -32006") {
    Json out = round_trip(5, [](Json& a) { a["result"]["task"]["artifacts"][0]["parts"][0]["data"]["invoices"].push_back(Json{{"id", "x"}}); });
    CHECK(out["error"]["code"] == -32006);
    CHECK(kept.empty());
  }
  SECTION("an acceptance signed by someone else -> -32006") {
    Json out = round_trip(5, [&](Json& a) {
      Json& acc = a["result"]["task"]["status"]["message"]["metadata"][kExt]["acceptance"];
      acc = resign(acc, w.mallory);
    });
    CHECK(out["error"]["code"] == -32006);
  }
  SECTION("no acceptance at all -> -32006") {
    Json out = round_trip(5, [](Json& a) { a["result"]["task"]["status"].erase("message"); });
    CHECK(out["error"]["code"] == -32006);
  }
  SECTION("a skill with its own evidence: the agent checks the receipt against the evidence it recomputes") {
    a2a::EvidenceFn evidence = [](std::string_view, const Json& message, const Json& artifacts,
                                  a2a::State) -> std::optional<hs::Result<a2a::ReceiptEvidence>> {
      a2a::ReceiptEvidence e;
      e.result = Json{{"asked", a2a::first_data(message)}, {"got", artifacts.size()}};
      return hs::Result<a2a::ReceiptEvidence>(std::move(e));
    };
    a2a::GateOptions hooked_options = go;
    hooked_options.evidence = evidence;
    a2a::ServiceGate hooked(w.service(), skills(), hooked_options);
    auto exchange = [&](a2a::AgentGate& agent_gate) {
      a2a::AgentExchange ax;
      Json rpc = must(agent_gate.on_request(send_v10(Json{{"skill", "list-invoices"}}, 3), a2a::Version::kV10, ax));
      auto in = hooked.on_request(rpc, a2a::Version::kV10, on, rpc.dump());
      REQUIRE(in.kind == a2a::Inbound::Kind::kForward);
      return to_client(agent_gate.on_response(ax, hooked.on_response(in.exchange, completed_task("t-e", 3)), a2a::Version::kV10));
    };
    a2a::AgentGateOptions with = ao;
    with.evidence = evidence;
    a2a::AgentGate knowing(hs::Agent(make_identity(hs::PrincipalType::kAgent, kAgentSeed), {w.grant(w.root, w.agent, {read_cap(100)})},
                                     attestation(w.root.did_string())),
                           w.clock, with);
    must_ok(knowing.learn(card));
    CHECK(exchange(knowing).contains("result"));
    // An agent that expects the task subject cannot verify it: -32006.
    CHECK(exchange(gate)["error"]["code"] == -32006);
  }
  SECTION("a card whose DID Document is not the service's is not learned") {
    Json forged = card;
    forged["capabilities"]["extensions"][0]["params"]["did_document"] =
        must(hs::make_did_document(w.mallory, {w.now() - 24h, {}, Json::array(), Json::array()}));
    a2a::AgentGate other(w.default_agent(), w.clock);
    CHECK_FALSE(other.learn(forged).ok());
    CHECK_FALSE(other.learn(Json{{"name", "no extension"}}).ok());
  }
}

// ---- a warm send refused for its session: the agent gate retries once, cold ----------------------
namespace {

// Two instances of one service (same identity and configuration, each with its own session table,
// nonce store and rate limiter), as behind a load balancer or across a restart, and an agent gate
// that learned the service from the first.
struct TwoInstances {
  World w;
  a2a::GateOptions go;
  std::unique_ptr<a2a::ServiceGate> a;
  std::unique_ptr<hs::NonceStore> b_nonces = hs::make_memory_nonce_store();
  std::unique_ptr<hs::RateLimiter> b_limiter = hs::make_memory_rate_limiter();
  std::unique_ptr<hs::Service> b_service;
  std::unique_ptr<a2a::ServiceGate> b;
  std::vector<Json> kept;
  std::vector<std::string> logs;
  std::unique_ptr<a2a::AgentGate> gate;
  const std::vector<std::string> on = {kExt};

  TwoInstances() {
    w.options.session_ttl = 300s;
    go.did_document = must(hs::make_did_document(w.svc, {w.now() - 24h, {}, Json::array(), Json::array()}));
    a = std::make_unique<a2a::ServiceGate>(w.service(), skills(), go);
    b_service = std::make_unique<hs::Service>(make_identity(hs::PrincipalType::kSvc, kServiceSeed), w.options, w.clock, w.keys,
                                              w.revocations, *b_nonces, *b_limiter);
    b = std::make_unique<a2a::ServiceGate>(*b_service, skills(), go);
    a2a::AgentGateOptions ao;
    ao.on_receipt = [this](const Json& r, const Json&) { kept.push_back(r); };
    ao.log = [this](const std::string& l) { logs.push_back(l); };
    gate = std::make_unique<a2a::AgentGate>(
        hs::Agent(make_identity(hs::PrincipalType::kAgent, kAgentSeed), {w.grant(w.root, w.agent, {read_cap(100)})},
                  attestation(w.root.did_string())),
        w.clock, ao);
    must_ok(gate->learn(a->agent_card(Json{{"name", "x"}})));
  }

  // What an instance answers to a (non-streaming) send: the refusal, or the task it accepted.
  using Upstream = std::function<Json(const Json& rpc)>;
  int tasks = 0;
  Upstream serve(a2a::ServiceGate& g, int limit) {
    return [&g, this, limit](const Json& rpc) {
      auto in = g.on_request(rpc, a2a::Version::kV10, on, rpc.dump());
      if (in.kind == a2a::Inbound::Kind::kAnswer) return in.message;
      return g.on_response(in.exchange, completed_task("t-" + std::to_string(++tasks), limit));  // a new task each time
    };
  }

  std::vector<Json> sent;  // every request sent upstream for the last send
  int retries = 0;
  // Sends through the agent gate: to `first`, and a cold retry (if asked for) to `then`.
  Json send(int limit, const Upstream& first, const Upstream& then) {
    sent.clear();
    retries = 0;
    a2a::AgentExchange ax;
    Json rpc = must(gate->on_request(send_v10(Json{{"skill", "list-invoices"}}, limit), a2a::Version::kV10, ax));
    sent.push_back(rpc);
    a2a::AgentReply reply = gate->on_response(ax, first(rpc), a2a::Version::kV10);
    while (auto* retry = std::get_if<a2a::ColdRetry>(&reply)) {
      ++retries;
      REQUIRE(retries == 1);  // never twice
      const Json cold = retry->rpc;
      a2a::AgentExchange cold_ex = retry->exchange;
      sent.push_back(cold);
      reply = gate->on_response(cold_ex, then(cold), a2a::Version::kV10);
    }
    return std::get<a2a::ToClient>(std::move(reply)).message;
  }
  Json send(int limit, const Upstream& to) { return send(limit, to, to); }
  [[nodiscard]] std::size_t retry_log_lines() const {
    std::size_t n = 0;
    for (const auto& l : logs) n += l.find("retrying once with a cold handshake") != std::string::npos ? 1 : 0;
    return n;
  }
};

const Json& request_of(const Json& rpc) { return rpc.at("params").at("message").at("metadata").at(kExt).at("request"); }
bool warm(const Json& rpc) { return request_of(rpc).at("agent_attestation").contains(hs::kSessionTokenMember); }
std::string token_in(const Json& rpc) { return request_of(rpc).at("agent_attestation").at(hs::kSessionTokenMember).get<std::string>(); }
const Json& acceptance_of(const Json& response) {
  return response.at("result").at("task").at("status").at("message").at("metadata").at(kExt).at("acceptance");
}
Json with_unknown_token(const Json& rpc) {
  Json t = rpc;
  t["params"]["message"]["metadata"][kExt]["request"]["agent_attestation"][std::string(hs::kSessionTokenMember)] = "unknown";
  return t;
}

}  // namespace

TEST_CASE("a2a agent gate: a warm send another instance refuses for its session is retried once, cold", "[a2a][retry]") {
  TwoInstances t;
  const Json first = t.send(5, t.serve(*t.a, 5));
  REQUIRE(first.contains("result"));
  CHECK_FALSE(warm(t.sent[0]));
  const std::string session_a = acceptance_of(first).at("session_token").get<std::string>();

  SECTION("the client gets the accepted task; the retry is the same send, signed cold") {
    const Json r = t.send(3, t.serve(*t.b, 3));
    INFO(r.dump());
    REQUIRE(r.contains("result"));
    CHECK(r["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED");
    CHECK(t.retries == 1);
    CHECK(t.gate->cold_retries() == 1);
    REQUIRE(t.sent.size() == 2);
    CHECK(token_in(t.sent[0]) == session_a);
    CHECK_FALSE(warm(t.sent[1]));
    CHECK(t.sent[1]["id"] == t.sent[0]["id"]);
    CHECK(t.sent[1]["method"] == t.sent[0]["method"]);
    CHECK(t.sent[1]["params"]["message"]["parts"] == t.sent[0]["params"]["message"]["parts"]);
    CHECK(request_of(t.sent[1])["delegation_chain"].size() == 1);  // the whole chain (one link here)
    CHECK(request_of(t.sent[1])["nonce"] != request_of(t.sent[0])["nonce"]);
    CHECK(request_of(t.sent[1])["id"] != request_of(t.sent[0])["id"]);
    CHECK(acceptance_of(r)["request_id"] == request_of(t.sent[1])["id"]);
    CHECK(t.kept.size() == 2);
    CHECK(t.retry_log_lines() == 1);
    for (const auto& l : t.logs) CHECK(l.find(session_a) == std::string::npos);

    // A's session is forgotten; the next send is warm with B's, and not retried.
    const std::string session_b = acceptance_of(r).at("session_token").get<std::string>();
    CHECK(session_b != session_a);
    REQUIRE(t.send(2, t.serve(*t.b, 2)).contains("result"));
    CHECK(t.retries == 0);
    CHECK(token_in(t.sent[0]) == session_b);
  }
  SECTION("a second session refusal, for the retry, goes to the client") {
    auto b = t.serve(*t.b, 3);
    const Json r = t.send(3, b, [&](const Json& rpc) { return b(with_unknown_token(rpc)); });
    CHECK(t.retries == 1);
    CHECK(refusal_code(r) == "expired");
    CHECK(t.gate->cold_retries() == 1);
  }
  SECTION("a refusal that does not verify is not retried") {
    auto b = t.serve(*t.b, 3);
    const Json r = t.send(3, [&](const Json& rpc) {
      Json answer = b(rpc);
      answer["result"]["task"]["status"]["message"]["metadata"][kExt]["refusal"]["reason"]["detail"] = "edited";
      return answer;
    });
    CHECK(t.retries == 0);
    CHECK(r["error"]["code"] == -32006);
  }
  SECTION("refusals that do not end the session: passed on, never retried") {
    const Json wide = t.send(500, t.serve(*t.a, 500));
    CHECK(warm(t.sent[0]));
    CHECK(refusal_code(wide) == "scope_exceeded");
    CHECK(t.retries == 0);
    // The refused warm send ended the session here: the next one is cold; then a warm replay.
    REQUIRE(t.send(1, t.serve(*t.a, 1)).contains("result"));
    auto a = t.serve(*t.a, 1);
    const Json replayed = t.send(1, [&](const Json& rpc) {
      CHECK(a(rpc).contains("result"));
      return a(rpc);
    });
    CHECK(warm(t.sent[0]));
    CHECK(refusal_code(replayed) == "replay_detected");
    CHECK(t.retries == 0);
    CHECK(t.gate->cold_retries() == 0);
    CHECK(t.retry_log_lines() == 0);
  }
  SECTION("a cold send refused with a session code is not retried") {
    a2a::AgentExchange ax;
    // A second agent gate with no session: its send is cold.
    a2a::AgentGate fresh(hs::Agent(make_identity(hs::PrincipalType::kAgent, kAgentSeed), {t.w.grant(t.w.root, t.w.agent, {read_cap(100)})},
                                   attestation(t.w.root.did_string())),
                         t.w.clock);
    must_ok(fresh.learn(t.a->agent_card(Json{{"name", "x"}})));
    Json rpc = must(fresh.on_request(send_v10(Json{{"skill", "list-invoices"}}, 1), a2a::Version::kV10, ax));
    CHECK_FALSE(warm(rpc));
    a2a::AgentReply reply = fresh.on_response(ax, t.serve(*t.b, 1)(with_unknown_token(rpc)), a2a::Version::kV10);
    REQUIRE(std::holds_alternative<a2a::ToClient>(reply));
    CHECK(refusal_code(std::get<a2a::ToClient>(reply).message) == "expired");
    CHECK(fresh.cold_retries() == 0);
  }
}

TEST_CASE("a2a agent gate: a streamed warm send refused for its session is retried cold", "[a2a][retry]") {
  TwoInstances t;
  REQUIRE(t.send(5, t.serve(*t.a, 5)).contains("result"));
  a2a::AgentExchange ax;
  Json stream = send_v10(Json{{"skill", "list-invoices"}}, 3);
  stream["method"] = "SendStreamingMessage";
  Json rpc = must(t.gate->on_request(stream, a2a::Version::kV10, ax));
  REQUIRE(warm(rpc));
  // Instance B answers the stream with one event: the rejected task.
  auto in = t.b->on_request(rpc, a2a::Version::kV10, t.on, rpc.dump());
  REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
  a2a::AgentReply reply = t.gate->on_stream_event(ax, in.message, a2a::Version::kV10);
  auto* retry = std::get_if<a2a::ColdRetry>(&reply);
  REQUIRE(retry != nullptr);
  CHECK(retry->rpc["method"] == "SendStreamingMessage");
  CHECK_FALSE(warm(retry->rpc));
  CHECK(t.gate->cold_retries() == 1);
  // The retry is accepted; its stream's events reach the client verified, and are not retried.
  a2a::AgentExchange cold = retry->exchange;
  auto accepted = t.b->on_request(retry->rpc, a2a::Version::kV10, t.on, retry->rpc.dump());
  REQUIRE(accepted.kind == a2a::Inbound::Kind::kForward);
  Json working = completed_task("t-s", 3);
  working["result"]["task"]["status"]["state"] = "TASK_STATE_WORKING";
  a2a::AgentReply event = t.gate->on_stream_event(cold, t.b->on_stream_event(accepted.exchange, working), a2a::Version::kV10);
  REQUIRE(std::holds_alternative<a2a::ToClient>(event));
  CHECK(std::get<a2a::ToClient>(event).message.contains("result"));
  CHECK(cold.acceptance.has_value());

  SECTION("a streamed refusal that does not end the session goes to the client") {
    a2a::AgentExchange wide_ex;
    Json wide = send_v10(Json{{"skill", "list-invoices"}}, 500);
    wide["method"] = "SendStreamingMessage";
    Json wide_rpc = must(t.gate->on_request(wide, a2a::Version::kV10, wide_ex));
    CHECK(warm(wide_rpc));
    auto refused = t.b->on_request(wide_rpc, a2a::Version::kV10, t.on, wide_rpc.dump());
    REQUIRE(refused.kind == a2a::Inbound::Kind::kAnswer);
    a2a::AgentReply r = t.gate->on_stream_event(wide_ex, refused.message, a2a::Version::kV10);
    REQUIRE(std::holds_alternative<a2a::ToClient>(r));
    CHECK(refusal_code(std::get<a2a::ToClient>(r).message) == "scope_exceeded");
    CHECK(t.gate->cold_retries() == 1);
  }
}

TEST_CASE("a2a envelope: what a relay passes on, and the card pointed at the relay", "[a2a]") {
  using handshake::a2a::is_end_to_end_header;
  for (const char* keep : {"A2A-Version", "a2a-extensions", "X-A2A-EXTENSIONS", "Accept"}) CHECK(is_end_to_end_header(keep));
  for (const char* drop : {"Authorization", "Cookie", "remote_addr", "Host", "A2A-Versions", ""}) {
    CHECK_FALSE(is_end_to_end_header(drop));
  }
  handshake::Json card = {{"url", "http://agent/"},
                          {"supportedInterfaces", {{{"url", "http://agent/a"}}, {{"protocol", "x"}}}},
                          {"additionalInterfaces", {{{"url", "http://agent/b"}}}},
                          {"name", "kept"}};
  handshake::a2a::point_card_at(card, "https://relay:8443/");
  CHECK(card["url"] == "https://relay:8443/");
  CHECK(card["supportedInterfaces"][0]["url"] == "https://relay:8443/");
  CHECK_FALSE(card["supportedInterfaces"][1].contains("url"));
  CHECK(card["additionalInterfaces"][0]["url"] == "https://relay:8443/");
  CHECK(card["name"] == "kept");
  handshake::Json not_a_card = "text";
  handshake::a2a::point_card_at(not_a_card, "x");  // nothing to point: no crash
  CHECK(not_a_card == "text");
}

// ---- the reference SDKs' forms (docs/interop.md) -------------------------------------------------

namespace {

// JSON text in reverse member order (as a JSON.stringify of a differently built object might
// be): not JCS, yet the signature over JCS of the object verifies.
std::string stringify_reversed(const Json& v) {
  if (v.is_object()) {
    std::vector<std::string> keys;
    for (const auto& [k, _] : v.items()) keys.push_back(k);
    std::string out = "{";
    for (auto k = keys.rbegin(); k != keys.rend(); ++k) out += (out.size() > 1 ? "," : "") + Json(*k).dump() + ":" + stringify_reversed(v[*k]);
    return out + "}";
  }
  if (v.is_array()) {
    std::string out = "[";
    for (const auto& e : v) out += (out.size() > 1 ? "," : "") + stringify_reversed(e);
    return out + "]";
  }
  return v.dump();
}

std::string b64u(std::string_view text) { return hs::encoding::base64url_encode(hs::encoding::as_bytes(text)); }

}  // namespace

TEST_CASE("a2a service gate: the reference SDKs' header and envelope forms", "[a2a][interop]") {
  World w;
  a2a::ServiceGate gate(w.service(), skills());
  const auto agent = w.default_agent();
  const Json request = w.request(agent, read_cap(10));
  const std::string text = stringify_reversed(request);
  REQUIRE(text != hs::json::canonicalize(request).value());
  // No activation header: the reference SDKs know no extension URI.
  const std::vector<std::string> none;
  const Json plain = send_v10(nullptr, 5);
  auto header = [&](const Json& rpc, const std::string& value) {
    return gate.on_request(rpc, a2a::Version::kV10, none, rpc.dump(), std::string_view(value));
  };

  SECTION("X-Handshake-Request: accepted without activation, the skill found by capability, receipt id exposed") {
    auto in = header(plain, b64u(text));
    REQUIRE(in.kind == a2a::Inbound::Kind::kForward);
    REQUIRE(in.exchange.decision);
    CHECK(in.exchange.form == a2a::Exchange::Form::kHeader);
    CHECK(in.exchange.skill == "list-invoices");
    Json out = gate.on_response(in.exchange, completed_task("t-h", 5));
    const Json receipt = out["result"]["task"]["metadata"][kExt]["receipt"];
    REQUIRE(receipt.is_object());
    CHECK(in.exchange.receipt_id == receipt["id"]);
    CHECK_FALSE(out.contains("metadata"));  // the header form is answered by the relay's header
    // A task still running has no receipt yet: nothing to put in a header.
    auto in2 = header(plain, b64u(stringify_reversed(w.request(agent, read_cap(10)))));
    Json running = completed_task("t-run", 1);
    running["result"]["task"]["status"]["state"] = "TASK_STATE_WORKING";
    (void)gate.on_response(in2.exchange, running);
    CHECK(in2.exchange.receipt_id.empty());
  }
  SECTION("the data still binds: asking for more than declared is scope_exceeded") {
    auto in = header(send_v10(nullptr, 50), b64u(text));
    REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
    CHECK(refusal_code(in.message) == "scope_exceeded");
  }
  SECTION("not base64url, or not strict JSON inside: signed protocol_version_unsupported") {
    std::string dup = text;
    dup.insert(1, "\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAA\",");
    for (const std::string& bad : std::vector<std::string>{b64u(text) + "=", "a+b/", "x", "", b64u(dup), b64u(text + "}")}) {
      auto in = header(plain, bad);
      REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
      CHECK(refusal_code(in.message) == "protocol_version_unsupported");
      CHECK(hs::verify_message_signature(in.message["result"]["task"]["status"]["message"]["metadata"][kExt]["refusal"],
                                         w.svc.public_key()).ok());
    }
    // None of that spent the nonce.
    CHECK(header(plain, b64u(text)).kind == a2a::Inbound::Kind::kForward);
  }
  SECTION("replayed through the header, or across forms: replay_detected") {
    REQUIRE(header(plain, b64u(text)).kind == a2a::Inbound::Kind::kForward);
    CHECK(refusal_code(header(plain, b64u(text)).message) == "replay_detected");
    auto ours = gate.on_request(send_v10(Json{{"skill", "list-invoices"}, {"request", request}}, 5), a2a::Version::kV10, {kExt});
    CHECK(refusal_code(ours.message) == "replay_detected");
  }
  SECTION("two forms at once: policy_denied (ambiguous), nothing spent") {
    const Json both = send_v10(Json{{"skill", "list-invoices"}, {"request", request}}, 5);
    auto in = gate.on_request(both, a2a::Version::kV10, {kExt}, both.dump(), std::string_view(b64u(text)));
    REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
    CHECK(refusal_code(in.message) == "policy_denied");
    Json rpc_and_header = plain;
    rpc_and_header["metadata"] = Json{{"handshake", Json{{"request", request}, {"spec_version", "0.2.3"}}}};
    CHECK(refusal_code(header(rpc_and_header, b64u(text)).message) == "policy_denied");
    CHECK(header(plain, b64u(text)).kind == a2a::Inbound::Kind::kForward);
  }
  SECTION("a capability no skill needs: policy_denied, bound to the request") {
    hs::Capability other = read_cap(10);
    other.name = "billing.invoices.write";
    const Json req = w.request(agent, other);
    auto in = header(plain, b64u(req.dump()));
    REQUIRE(in.kind == a2a::Inbound::Kind::kAnswer);
    CHECK(refusal_code(in.message) == "policy_denied");
    CHECK(in.message["result"]["task"]["status"]["message"]["metadata"][kExt]["refusal"]["request_id"] == req["id"]);
  }
  SECTION("metadata.handshake.request (TypeScript): accepted, stripped, receipt_id in the response envelope") {
    Json rpc = plain;
    rpc["metadata"] = Json{{"handshake", Json{{"request", request}, {"spec_version", "0.2.3"}}}, {"trace", "t"}};
    auto in = gate.on_request(rpc, a2a::Version::kV10, none, stringify_reversed(rpc));
    REQUIRE(in.kind == a2a::Inbound::Kind::kForward);
    CHECK(in.exchange.form == a2a::Exchange::Form::kRpcMetadata);
    CHECK(in.message["metadata"] == Json{{"trace", "t"}});
    Json out = gate.on_response(in.exchange, completed_task("t-ts", 5));
    const Json receipt = out["result"]["task"]["metadata"][kExt]["receipt"];
    REQUIRE(receipt.is_object());
    CHECK(out["metadata"]["handshake"]["receipt_id"] == receipt["id"]);
    // A duplicate member in the raw body is refused, though the decoded rpc looked fine.
    Json again = plain;
    again["metadata"] = Json{{"handshake", Json{{"request", w.request(agent, read_cap(10))}}}};
    std::string raw = again.dump();
    raw.insert(raw.size() - 1, ",\"id\":3");
    auto dup = gate.on_request(again, a2a::Version::kV10, none, raw);
    CHECK(refusal_code(dup.message) == "protocol_version_unsupported");
    again["metadata"]["handshake"]["spec_version"] = "0.3";
    CHECK(refusal_code(gate.on_request(again, a2a::Version::kV10, none, again.dump()).message) == "protocol_version_unsupported");
  }
  SECTION("streamed: the final status update carries the receipt; metadata.handshake.receipt_id for the envelope form") {
    Json rpc = plain;
    rpc["method"] = "SendStreamingMessage";
    rpc["metadata"] = Json{{"handshake", Json{{"request", request}}}};
    auto in = gate.on_request(rpc, a2a::Version::kV10, none, rpc.dump());
    REQUIRE(in.kind == a2a::Inbound::Kind::kForward);
    Json final_update{{"jsonrpc", "2.0"}, {"id", 1},
                      {"result", Json{{"statusUpdate", Json{{"taskId", "t-s"}, {"contextId", "c"},
                                                            {"status", Json{{"state", "TASK_STATE_COMPLETED"}}}}}}}};
    Json ev = gate.on_stream_event(in.exchange, final_update);
    const Json receipt = ev["result"]["statusUpdate"]["metadata"][kExt]["receipt"];
    REQUIRE(receipt.is_object());
    CHECK(ev["metadata"]["handshake"]["receipt_id"] == receipt["id"]);
  }
}
