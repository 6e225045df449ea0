// The service side: every tools/call gated, receipts on every call that ran, every refusal path.
#include "mcp_fixture.hpp"

#include "handshake/encoding.hpp"
#include "handshake/receipt.hpp"

using namespace mcp_fx;

namespace {

// The acceptance and receipt in a result's _meta, with the receipt checked against the result.
void check_receipt(const World& w, const Json& response, const std::string& status) {
  REQUIRE(response.contains("result"));
  const Json& result = response["result"];
  REQUIRE(result["_meta"].contains(mcp::kAcceptanceKey));
  REQUIRE(result["_meta"].contains(mcp::kReceiptKey));
  const Json& receipt = result["_meta"][std::string(mcp::kReceiptKey)];
  CHECK(hs::verify_receipt(receipt, w.keys, mcp::receipt_subject(result)).ok());
  CHECK(receipt["result"] == status);
  CHECK(receipt["iss"] == w.svc.did_string());
  CHECK(receipt["sub"] == w.agent_id.did_string());
  // Tampering with what the receipt commits to is detected.
  Json other = result;
  if (other.contains("structuredContent")) {
    other["structuredContent"]["tampered"] = true;
  } else {
    other["content"] = Json::array();
  }
  CHECK_FALSE(hs::verify_receipt(receipt, w.keys, mcp::receipt_subject(other)).ok());
}

}  // namespace

TEST_CASE("mcp gate: tools/list and initialize carry the handshake metadata", "[mcp][gate]") {
  World w;
  const Json list = w.through_middleware(Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"}});
  const Json& tools = list["result"]["tools"];
  REQUIRE(tools.size() == 4);  // unmapped-tool is left out: under `unmapped: refuse` it would be refused
  std::map<std::string, Json> by_name;
  for (const auto& t : tools) by_name[t["name"]] = t;
  const Json& sum = by_name["get-sum"]["_meta"][std::string(mcp::kToolKey)];
  CHECK(sum["capability"] == "math.sum");
  CHECK(sum["constraints"]["max_a"]["type"] == "numeric_max");
  CHECK(sum["constraints"]["max_a"]["from"] == "arguments.a");
  CHECK(sum["constraints"]["max_b"]["default"] == 0);
  CHECK(by_name["echo"]["_meta"][std::string(mcp::kToolKey)]["capability"] == "text.echo");
  CHECK(by_name.count("unmapped-tool") == 0);
  const Json& svc = list["result"]["_meta"][std::string(mcp::kServiceKey)];
  CHECK(svc["did"] == w.svc.did_string());
  CHECK(svc["version"] == "0.2.3");
  CHECK(hs::DidKeyHistory::build({svc["did_document"]}, false).ok());

  const Json init = w.through_middleware(Json{{"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"}, {"params", Json::object()}});
  CHECK(init["result"]["_meta"][std::string(mcp::kServiceKey)]["did"] == w.svc.did_string());
  CHECK(init["result"]["protocolVersion"] == "2025-11-25");
}

TEST_CASE("mcp gate: an allowed call runs and gets a receipt", "[mcp][gate]") {
  World w;
  SECTION("structuredContent is what the receipt commits to") {
    const Json call = World::call(7, "get-sum", {{"a", 20}, {"b", 3}}, w.request("math.sum", {{"max_a", 30}}));
    // The server never sees the handshake, but keeps the rest of _meta.
    const mcp::Inbound in = w.gate->on_client_message(call);
    REQUIRE(in.kind == mcp::Inbound::Kind::kForward);
    CHECK_FALSE(in.message["params"]["_meta"].contains(mcp::kRequestKey));
    CHECK(in.message["params"]["_meta"]["progressToken"] == "p1");
    const Json response = w.gate->on_response(in.exchange, server(in.message));
    CHECK(response["id"] == 7);
    CHECK(response["result"]["structuredContent"]["sum"] == 23.0);
    check_receipt(w, response, "ok");
    const Json& acc = response["result"]["_meta"][std::string(mcp::kAcceptanceKey)];
    CHECK(acc["kind"] == "Acceptance");
    CHECK(acc["effective_scope"]["constraints"]["max_a"] == 30);
    CHECK(response["result"]["_meta"][std::string(mcp::kReceiptKey)]["result_hash"]["value"] ==
          hs::hash_result(response["result"]["structuredContent"]).value().value);
  }
  SECTION("without structuredContent the whole result is committed to") {
    const Json response = w.through_middleware(World::call(8, "echo", {{"message", "hi"}}, w.request("text.echo", Json::object())));
    CHECK(response["result"]["content"][0]["text"] == "Echo: hi");
    check_receipt(w, response, "ok");
  }
  SECTION("isError results get a receipt with result error") {
    const Json response = w.through_middleware(World::call(9, "fail", Json::object(), w.request("text.echo", Json::object())));
    CHECK(response["result"]["isError"] == true);
    check_receipt(w, response, "error");
  }
  SECTION("a JSON-RPC error from the server gets an error receipt in error.data") {
    const Json call = World::call(10, "echo", {{"message", "x"}}, w.request("text.echo", Json::object()));
    const mcp::Inbound in = w.gate->on_client_message(call);
    REQUIRE(in.kind == mcp::Inbound::Kind::kForward);
    const Json response = w.gate->on_response(in.exchange, mcp::error_response(10, mcp::kInternalError, "boom"));
    const Json& receipt = response["error"]["data"][std::string(mcp::kReceiptKey)];
    CHECK(receipt["result"] == "error");
    CHECK(hs::verify_receipt(receipt, w.keys, mcp::error_response(10, mcp::kInternalError, "boom")["error"]).ok());
  }
  SECTION("a result whose _meta is not an object: the receipt commits to what the client gets") {
    // Found by fuzz_mcp_stdio: the receipt committed to "_meta": null (or 5) while the client
    // received _meta as the adapter's object, so receipt_subject(result) never matched.
    for (const Json& odd : {Json(nullptr), Json(5), Json("x"), Json::array({1})}) {
      const Json call = World::call(11, "echo", {{"message", "m"}}, w.request("text.echo", Json::object()));
      const mcp::Inbound in = w.gate->on_client_message(call);
      REQUIRE(in.kind == mcp::Inbound::Kind::kForward);
      const Json upstream{{"jsonrpc", "2.0"}, {"id", 11},
                          {"result", {{"content", Json::array({{{"type", "text"}, {"text", "m"}}})}, {"_meta", odd}}}};
      check_receipt(w, w.gate->on_response(in.exchange, upstream), "ok");
    }
  }
  SECTION("receipts reach the on_receipt hook (registry anchoring)") {
    std::vector<Json> seen;
    mcp::GateOptions o;
    o.on_receipt = [&](const Json& r, const handshake::Decision&) { seen.push_back(r); };
    const mcp::ServiceGate gate(*w.service, *w.gate->tool_map(), o);
    const mcp::Middleware mw(gate);
    const Json response = mw.wrap(server)(World::call(1, "echo", {{"message", "a"}}, w.request("text.echo", Json::object())));
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == response["result"]["_meta"][std::string(mcp::kReceiptKey)]);
  }
}

TEST_CASE("mcp gate: refusals are signed JSON-RPC errors naming the code", "[mcp][gate][refusal]") {
  World w;
  SECTION("declared 10, called with 500: the arguments are checked -> scope_exceeded") {
    const Json r = w.through_middleware(
        World::call(1, "list-invoices", {{"limit", 500}}, w.request("billing.invoices.read", {{"max_invoices", 10}})));
    CHECK(refusal_code(r, w.svc) == "scope_exceeded");
    CHECK(r["error"]["message"].get<std::string>().find("arguments") != std::string::npos);
  }
  SECTION("declared nothing, arguments beyond the delegation -> scope_exceeded") {
    const Json r = w.through_middleware(World::call(1, "list-invoices", {{"limit", 101}}, w.request("billing.invoices.read", Json::object())));
    CHECK(refusal_code(r, w.svc) == "scope_exceeded");
  }
  SECTION("declared beyond the delegation -> scope_exceeded") {
    const Json r = w.through_middleware(
        World::call(1, "list-invoices", {{"limit", 5}}, w.request("billing.invoices.read", {{"max_invoices", 500}})));
    CHECK(refusal_code(r, w.svc) == "scope_exceeded");
  }
  SECTION("a request for another capability than the tool needs -> scope_exceeded") {
    const Json r = w.through_middleware(World::call(1, "get-sum", {{"a", 1}, {"b", 1}}, w.request("text.echo", Json::object())));
    CHECK(refusal_code(r, w.svc) == "scope_exceeded");
  }
  SECTION("a default applies when the argument is absent") {
    // max_b has default 0, and the chain does not bound max_b: accepted.
    const Json r = w.through_middleware(World::call(1, "get-sum", {{"a", 1}}, w.request("math.sum", Json::object())));
    CHECK(r.contains("result"));
  }
  SECTION("within scope: accepted") {
    const Json r = w.through_middleware(
        World::call(1, "list-invoices", {{"limit", 10}}, w.request("billing.invoices.read", {{"max_invoices", 10}})));
    CHECK(r.contains("result"));
  }
  SECTION("the same request twice -> replay_detected") {
    const Json req = w.request("text.echo", Json::object());
    CHECK(w.through_middleware(World::call(1, "echo", {{"message", "a"}}, req)).contains("result"));
    CHECK(refusal_code(w.through_middleware(World::call(2, "echo", {{"message", "a"}}, req)), w.svc) == "replay_detected");
  }
  SECTION("an expired delegation -> expired") {
    const Json req = w.request("text.echo", Json::object());
    w.clock.advance(std::chrono::microseconds(std::chrono::seconds(700)));
    // A fresh request on the old chain (the request itself is new).
    const Json fresh = w.request("text.echo", Json::object());
    CHECK(refusal_code(w.through_middleware(World::call(1, "echo", {{"message", "a"}}, fresh)), w.svc) == "expired");
    // And an old request is expired for its own age.
    CHECK(refusal_code(w.through_middleware(World::call(2, "echo", {{"message", "a"}}, req)), w.svc) == "expired");
  }
  SECTION("no handshake at all -> policy_denied, naming the capability") {
    const Json r = w.through_middleware(World::call(1, "echo", {{"message", "a"}}, std::nullopt));
    CHECK(refusal_code(r, w.svc) == "policy_denied");
    CHECK(r["error"]["message"].get<std::string>().find("text.echo") != std::string::npos);
  }
  SECTION("a tool not in the map, map says refuse -> policy_denied") {
    const Json r = w.through_middleware(World::call(1, "unmapped-tool", Json::object(), w.request("text.echo", Json::object())));
    CHECK(refusal_code(r, w.svc) == "policy_denied");
  }
  SECTION("addressed to another service -> aud_mismatch") {
    const auto other = identity(hs::PrincipalType::kSvc, 10);
    const Json req = must(w.agent().request(other.did_string(), {"text.echo", Json::object(), std::nullopt}, w.clock.now()));
    CHECK(refusal_code(w.through_middleware(World::call(1, "echo", Json::object(), req)), w.svc) == "aud_mismatch");
  }
  SECTION("a tampered request -> signature_invalid") {
    Json req = w.request("billing.invoices.read", {{"max_invoices", 10}});
    req["capability"]["constraints"]["max_invoices"] = 20;
    CHECK(refusal_code(w.through_middleware(World::call(1, "list-invoices", {{"limit", 5}}, req)), w.svc) ==
          "signature_invalid");
  }
  SECTION("not a HandshakeRequest -> protocol_version_unsupported") {
    CHECK(refusal_code(w.through_middleware(World::call(1, "echo", Json::object(), Json("hs_x"))), w.svc) ==
          "protocol_version_unsupported");
    CHECK(refusal_code(w.through_middleware(World::call(1, "echo", Json::object(), Json{{"version", "0.1"}})), w.svc) ==
          "protocol_version_unsupported");
  }
  SECTION("a raw line with a duplicate member -> protocol_version_unsupported, not silently accepted") {
    const Json req = w.request("text.echo", Json::object());
    std::string line = mcp::serialize(World::call(1, "echo", {{"message", "a"}}, req));
    const auto at = line.find("\"nonce\":");
    REQUIRE(at != std::string::npos);
    line.insert(at, "\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAA\",");
    const mcp::Middleware mw(*w.gate);
    const Json r = Json::parse(mw.handle_line(line, server));
    CHECK(refusal_code(r, w.svc) == "protocol_version_unsupported");
  }
  SECTION("a chain from an untrusted root -> chain_broken") {
    const auto rogue = identity(hs::PrincipalType::kOrg, 6);
    w.keys.add(rogue.did_string(), rogue.public_key());
    hs::DelegationSpec spec;
    spec.holder = w.agent_id.did_string();
    spec.capabilities = {{"text.echo", Json::object(), std::nullopt}};
    hs::AgentAttestation att{rogue.did_string(), "m", std::nullopt, "i", std::nullopt, Json::object()};
    const hs::Agent a(identity(hs::PrincipalType::kAgent, 2), {must(hs::delegate(rogue, {}, spec, t0()))}, att);
    const Json req = must(a.request(w.svc.did_string(), {"text.echo", Json::object(), std::nullopt}, w.clock.now()));
    CHECK(refusal_code(w.through_middleware(World::call(1, "echo", Json::object(), req)), w.svc) == "chain_broken");
  }
  SECTION("a revoked delegation -> credential_revoked") {
    w.revocations.add_delegation(w.chain[0]["id"].get<std::string>());
    CHECK(refusal_code(w.through_middleware(World::call(1, "echo", Json::object(), w.request("text.echo", Json::object()))),
                       w.svc) == "credential_revoked");
  }
  SECTION("a request from the future -> not_yet_valid") {
    w.clock.advance(std::chrono::microseconds(std::chrono::seconds(100)));
    const Json req = w.request("text.echo", Json::object());
    w.clock.advance(-std::chrono::microseconds(std::chrono::seconds(100)));
    CHECK(refusal_code(w.through_middleware(World::call(1, "echo", Json::object(), req)), w.svc) == "not_yet_valid");
  }
  SECTION("tools/call without a name is an invalid-params error, not a crash") {
    const Json r = w.through_middleware(Json{{"jsonrpc", "2.0"}, {"id", 3}, {"method", "tools/call"}, {"params", Json::object()}});
    CHECK(r["error"]["code"] == mcp::kInvalidParams);
  }
}

TEST_CASE("mcp gate: a map naming a tool the server does not offer is logged once", "[mcp][gate]") {
  World w;
  auto map = must(mcp::ToolMap::from_yaml(std::string(kToolsYaml) + "  ech0:\n    capability: text.echo\n"));
  std::vector<std::string> logs;
  mcp::GateOptions o;
  o.log = [&](const std::string& l) { logs.push_back(l); };
  const mcp::ServiceGate gate(*w.service, map, o);
  const mcp::Middleware mw(gate);
  for (int i = 0; i < 2; ++i) (void)mw.wrap(server)(Json{{"jsonrpc", "2.0"}, {"id", i}, {"method", "tools/list"}});
  REQUIRE(logs.size() == 1);
  CHECK_THAT(logs[0], Catch::Contains("ech0") && !Catch::Contains("echo,"));
  // What --check uses: the names, and nothing for a paginated (partial) list.
  const Json offered{{"tools", Json::array({Json{{"name", "echo"}}, Json{{"name", "get-sum"}}})}};
  CHECK(mcp::missing_tools(map, offered) == std::vector<std::string>{"ech0", "fail", "list-invoices"});
  Json paged = offered;
  paged["nextCursor"] = "2";
  CHECK(mcp::missing_tools(map, paged).empty());
}

TEST_CASE("mcp gate: unmapped tools pass through when the map says pass", "[mcp][gate]") {
  World w(0, mcp::UnmappedTools::kPassThrough);
  {
    // ... and are listed, without handshake metadata.
    const Json list = w.through_middleware(Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"}});
    bool listed = false;
    for (const auto& t : list["result"]["tools"]) {
      if (t["name"] == "unmapped-tool") listed = !t.contains("_meta");
    }
    CHECK(listed);
  }
  const Json r = w.through_middleware(World::call(1, "unmapped-tool", {{"message", "x"}}, std::nullopt));
  CHECK(r["result"]["content"][0]["text"] == "Echo: x");
  CHECK_FALSE(r["result"].contains("_meta"));
  // Mapped tools still need their handshake.
  CHECK(refusal_code(w.through_middleware(World::call(2, "echo", {{"message", "x"}}, std::nullopt)), w.svc) == "policy_denied");
}

TEST_CASE("mcp gate: warm handshakes check the arguments too", "[mcp][gate][warm]") {
  World w(300);
  const Json first = w.through_middleware(
      World::call(1, "list-invoices", {{"limit", 5}}, w.request("billing.invoices.read", {{"max_invoices", 10}})));
  REQUIRE(first.contains("result"));
  const Json& acc = first["result"]["_meta"][std::string(mcp::kAcceptanceKey)];
  REQUIRE(acc.contains("session_token"));
  const std::string token = acc["session_token"].get<std::string>();
  const Json warm = w.through_middleware(
      World::call(2, "list-invoices", {{"limit", 8}}, w.request("billing.invoices.read", {{"max_invoices", 10}}, token)));
  REQUIRE(warm.contains("result"));
  check_receipt(w, warm, "ok");
  const Json over = w.through_middleware(
      World::call(3, "list-invoices", {{"limit", 500}}, w.request("billing.invoices.read", {{"max_invoices", 10}}, token)));
  CHECK(refusal_code(over, w.svc) == "scope_exceeded");
  const Json wrong_tool = w.through_middleware(World::call(4, "get-sum", {{"a", 1}}, w.request("billing.invoices.read", Json::object(), token)));
  CHECK(refusal_code(wrong_tool, w.svc) == "scope_exceeded");
}

TEST_CASE("mcp middleware: stdio lines", "[mcp][middleware]") {
  World w;
  const mcp::Middleware mw(*w.gate);
  SECTION("malformed JSON -> parse error, null id") {
    const Json r = Json::parse(mw.handle_line("{\"jsonrpc\":", server));
    CHECK(r["error"]["code"] == mcp::kParseError);
    CHECK(r["id"].is_null());
  }
  SECTION("not a JSON-RPC message -> invalid request") {
    CHECK(Json::parse(mw.handle_line("[1,2]", server))["error"]["code"] == mcp::kInvalidRequest);
    CHECK(Json::parse(mw.handle_line(R"({"jsonrpc":"2.0","id":null,"method":"x"})", server))["error"]["code"] ==
          mcp::kInvalidRequest);
  }
  SECTION("over the size limit -> refused") {
    const std::string big = R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":")" + std::string(5000, 'a') + "\"}}";
    const Json r = Json::parse(mw.handle_line(big, server, 1024));
    CHECK(r["error"]["code"] == mcp::kMessageTooLarge);
    CHECK(r["id"] == 1);  // the client can match the answer to its call
  }
  SECTION("a notification gets no answer; other requests pass") {
    CHECK(mw.handle_line(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", server).empty());
    CHECK(Json::parse(mw.handle_line("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"}\r", server))["error"]["code"] == -32601);
  }
  SECTION("a gated call through a line, CRLF tolerated") {
    const std::string line = mcp::serialize(World::call(5, "echo", {{"message", "hi"}}, w.request("text.echo", Json::object()))) + "\r";
    const Json r = Json::parse(mw.handle_line(line, server));
    CHECK(r["result"]["content"][0]["text"] == "Echo: hi");
    check_receipt(w, r, "ok");
  }
}

namespace {
// A signer whose key can be taken away and given back (a token removed and put back).
class FlakySigner final : public hs::crypto::Signer {
 public:
  explicit FlakySigner(hs::crypto::SigningKey key) : key_(std::move(key)) {}
  std::atomic<bool> down{false};
  hs::Result<hs::crypto::Signature> try_sign(std::span<const std::uint8_t> m) const override {
    if (down) return hs::make_error(hs::ErrorCode::kUnavailable, "signer.unavailable", "C_Sign: CKR_DEVICE_REMOVED");
    return key_.sign(m);
  }
  const hs::crypto::PublicKey& public_key() const noexcept override { return key_.public_key(); }

 private:
  hs::crypto::SigningKey key_;
};
}  // namespace

TEST_CASE("mcp gate: a service whose key cannot sign answers an unsigned error, never an accept, and recovers",
          "[mcp][gate][signer]") {
  World w;
  const hs::Identity base = identity(hs::PrincipalType::kSvc, 9);  // the DID the agent's requests name
  auto flaky = std::make_shared<FlakySigner>(
      must(hs::crypto::SigningKey::from_seed(dynamic_cast<const hs::crypto::SigningKey&>(base.key()).seed_bytes())));
  hs::ServiceOptions options;
  options.chain.trust_roots = {w.org.did_string()};
  hs::Service service(must(hs::Identity::from_signer(base.did(), flaky)), options, w.clock, w.keys, w.revocations,
                      *w.nonces, *w.limiter);
  const mcp::ServiceGate gate(service, must(mcp::ToolMap::from_yaml(kToolsYaml)));
  const mcp::Middleware mw(gate);
  int forwarded = 0;
  auto next = [&](const Json& m) {
    ++forwarded;
    return server(m);
  };
  flaky->down = true;
  const Json refused = mw.wrap(next)(World::call(1, "echo", {{"message", "x"}}, w.request("text.echo", Json::object())));
  REQUIRE(refused.contains("error"));
  CHECK(refused["error"]["code"] == mcp::kInternalError);
  CHECK_THAT(refused["error"]["message"].get<std::string>(), Catch::Contains("cannot sign"));
  CHECK_FALSE(refused["error"].contains("data"));  // nothing unsigned passed off as a Refusal
  CHECK(forwarded == 0);
  flaky->down = false;  // the token is back
  const Json ok = mw.wrap(next)(World::call(2, "echo", {{"message", "y"}}, w.request("text.echo", Json::object())));
  REQUIRE(ok.contains("result"));
  CHECK(ok["result"]["_meta"].contains(std::string(mcp::kReceiptKey)));
  CHECK(forwarded == 1);
}

// ---- the reference SDKs' form: params._meta.handshake.request_b64u (docs/interop.md) -------------

namespace {

// JSON text as JSON.stringify might write it, members in reverse order (not JCS's): the signature
// is over JCS of the object, so it must verify all the same.
std::string stringify_reversed(const Json& v) {
  if (v.is_object()) {
    std::string out = "{";
    std::vector<std::string> keys;
    for (const auto& [k, _] : v.items()) keys.push_back(k);
    for (auto k = keys.rbegin(); k != keys.rend(); ++k) {
      if (out.size() > 1) out += ",";
      out += Json(*k).dump() + ":" + stringify_reversed(v[*k]);
    }
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

Json reference_call(int id, const std::string& tool, Json arguments, const std::string& request_b64u) {
  Json params{{"name", tool},
              {"arguments", std::move(arguments)},
              {"_meta", Json{{"handshake", Json{{"request_b64u", request_b64u}, {"spec_version", "0.2.3"}}},
                             {"progressToken", "p1"}}}};
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"}, {"params", std::move(params)}};
}

// Through the stdio middleware, raw line and all.
Json through_line(const World& w, const Json& message) {
  const mcp::Middleware mw(*w.gate);
  return Json::parse(mw.handle_line(message.dump(), server));
}

}  // namespace

TEST_CASE("mcp gate: the reference SDKs' _meta.handshake form is accepted and answered in kind", "[mcp][gate][interop]") {
  World w;
  const Json request = w.request("math.sum", {{"max_a", 30}});
  const std::string text = stringify_reversed(request);
  REQUIRE(text != hs::json::canonicalize(request).value());  // not JCS order: the point of the test
  SECTION("accepted: forwarded without it, receipt_id beside our members") {
    const Json call = reference_call(7, "get-sum", {{"a", 20}, {"b", 3}}, b64u(text));
    const mcp::Inbound in = w.gate->on_client_message(call, call.dump());
    REQUIRE(in.kind == mcp::Inbound::Kind::kForward);
    CHECK_FALSE(in.message["params"]["_meta"].contains("handshake"));
    CHECK(in.message["params"]["_meta"]["progressToken"] == "p1");
    CHECK(in.exchange.reference_form);
    Json response = w.gate->on_response(in.exchange, server(in.message));
    check_receipt(w, response, "ok");
    Json& meta = response["result"]["_meta"];
    CHECK(meta["handshake"] == Json{{"receipt_id", meta[std::string(mcp::kReceiptKey)]["id"]}});
  }
  SECTION("without structuredContent: the receipt still commits to the result the client holds") {
    Json r = through_line(w, reference_call(8, "echo", {{"message", "hi"}},
                                                  b64u(stringify_reversed(w.request("text.echo", Json::object())))));
    check_receipt(w, r, "ok");
    CHECK(r["result"]["_meta"]["handshake"]["receipt_id"] == r["result"]["_meta"][std::string(mcp::kReceiptKey)]["id"]);
  }
  SECTION("our own form gets no _meta.handshake") {
    Json r = through_line(w, World::call(9, "get-sum", {{"a", 1}}, request));
    check_receipt(w, r, "ok");
    CHECK_FALSE(r["result"]["_meta"].contains("handshake"));
  }
  SECTION("not base64url (padding, '+', '/', stray bytes, 1 mod 4): signed protocol_version_unsupported") {
    for (const std::string& bad : std::vector<std::string>{b64u(text) + "=", "ab+c", "ab/c", "a", "not base64!", ""}) {
      const Json r = through_line(w, reference_call(1, "get-sum", {{"a", 1}}, bad));
      CHECK(refusal_code(r, w.svc) == "protocol_version_unsupported");
    }
    // Not a string at all.
    Json call = reference_call(1, "get-sum", {{"a", 1}}, "");
    call["params"]["_meta"]["handshake"]["request_b64u"] = request;
    CHECK(refusal_code(through_line(w, call), w.svc) == "protocol_version_unsupported");
  }
  SECTION("the decoded text is not strict JSON (a duplicate member, trailing data): refused") {
    std::string dup = text;
    dup.insert(1, "\"id\":\"hs_01HK4ZQ8N4Y0S6P3Q9W1ZK8C4X\",");
    CHECK(hs::json::parse_strict(dup).error().reason == "json.duplicate_key");
    CHECK(refusal_code(through_line(w, reference_call(1, "get-sum", {{"a", 1}}, b64u(dup))), w.svc) ==
          "protocol_version_unsupported");
    CHECK(refusal_code(through_line(w, reference_call(1, "get-sum", {{"a", 1}}, b64u(text + " x"))), w.svc) ==
          "protocol_version_unsupported");
    // And the original still runs afterwards: the refusals spent nothing.
    check_receipt(w, through_line(w, reference_call(2, "get-sum", {{"a", 1}}, b64u(text))), "ok");
  }
  SECTION("a changed member breaks the signature; a spec_version other than 0.2.3 is refused") {
    Json changed = request;
    changed["capability"]["constraints"]["max_a"] = 50;
    CHECK(refusal_code(through_line(w, reference_call(1, "get-sum", {{"a", 1}}, b64u(stringify_reversed(changed)))), w.svc) ==
          "signature_invalid");
    Json call = reference_call(1, "get-sum", {{"a", 1}}, b64u(text));
    call["params"]["_meta"]["handshake"]["spec_version"] = "0.3.0";
    CHECK(refusal_code(through_line(w, call), w.svc) == "protocol_version_unsupported");
  }
  SECTION("replayed in the reference form, or across forms: replay_detected") {
    check_receipt(w, through_line(w, reference_call(1, "get-sum", {{"a", 1}}, b64u(text))), "ok");
    CHECK(refusal_code(through_line(w, reference_call(2, "get-sum", {{"a", 1}}, b64u(text))), w.svc) == "replay_detected");
    CHECK(refusal_code(through_line(w, World::call(3, "get-sum", {{"a", 1}}, request)), w.svc) == "replay_detected");
  }
  SECTION("both forms in one call: policy_denied (ambiguous), nothing forwarded, no nonce spent") {
    Json call = reference_call(1, "get-sum", {{"a", 1}}, b64u(text));
    call["params"]["_meta"][std::string(mcp::kRequestKey)] = request;
    const mcp::Inbound in = w.gate->on_client_message(call, call.dump());
    REQUIRE(in.kind == mcp::Inbound::Kind::kAnswer);
    CHECK(refusal_code(in.message, w.svc) == "policy_denied");
    check_receipt(w, through_line(w, reference_call(2, "get-sum", {{"a", 1}}, b64u(text))), "ok");
  }
  SECTION("a _meta.handshake without request_b64u is no request: policy_denied") {
    Json call = reference_call(1, "get-sum", {{"a", 1}}, "");
    call["params"]["_meta"]["handshake"].erase("request_b64u");
    CHECK(refusal_code(through_line(w, call), w.svc) == "policy_denied");
  }
}
