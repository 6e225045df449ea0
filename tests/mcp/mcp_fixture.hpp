// A service, an agent and an in-process MCP server for the adapter's unit tests, all on a fixed
// clock and deterministic keys.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/agent.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/mcp/agent_gate.hpp"
#include "handshake/mcp/envelope.hpp"
#include "handshake/mcp/service_gate.hpp"
#include "handshake/mcp/tool_map.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/service.hpp"

namespace mcp_fx {

namespace hs = handshake;
namespace mcp = handshake::mcp;
using hs::Json;
using namespace std::chrono_literals;

template <typename T>
T must(hs::Result<T> r) {
  if (!r.ok()) throw std::runtime_error("unexpected error: " + r.error().to_string());
  return std::move(r).value();
}

inline hs::Timestamp t0() { return must(hs::time::parse_rfc3339("2026-04-29T14:00:00Z")); }

inline hs::Identity identity(hs::PrincipalType type, std::uint8_t seed) {
  return must(hs::Identity::generate({type, {}, {}, std::vector<std::uint8_t>(32, seed)}));
}

inline constexpr const char* kToolsYaml = R"(
unmapped: refuse
tools:
  list-invoices:
    capability: billing.invoices.read
    constraints:
      max_invoices: arguments.limit
  get-sum:
    capability: math.sum
    constraints:
      max_a: arguments.a
      max_b: {from: arguments.b, default: 0}
  echo:
    capability: text.echo
  fail:
    capability: text.echo
)";

// The in-process MCP server the gates sit in front of (see examples/mcp_server for a real one).
inline Json server(const Json& m) {
  if (mcp::message_type(m) != mcp::MessageType::kRequest) return Json();
  const Json id = m["id"];
  auto ok = [&](Json r) { return Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(r)}}; };
  const auto method = mcp::method_of(m);
  if (method == "initialize") return ok(Json{{"protocolVersion", "2025-11-25"}, {"capabilities", Json::object()}});
  if (method == "tools/list") {
    Json tools = Json::array();
    for (const char* n : {"list-invoices", "get-sum", "echo", "fail", "unmapped-tool"}) {
      tools.push_back(Json{{"name", n}, {"inputSchema", {{"type", "object"}}}});
    }
    return ok(Json{{"tools", tools}});
  }
  if (method == "tools/call") {
    const Json& p = m["params"];
    const std::string name = p["name"].get<std::string>();
    const Json args = p.contains("arguments") ? p["arguments"] : Json::object();
    if (name == "echo" || name == "unmapped-tool") {
      return ok(Json{{"content", Json::array({{{"type", "text"}, {"text", "Echo: " + args.value("message", "")}}})}});
    }
    if (name == "get-sum") {
      const double s = args.value("a", 0.0) + args.value("b", 0.0);
      return ok(Json{{"content", Json::array({{{"type", "text"}, {"text", "sum"}}})}, {"structuredContent", {{"sum", s}}}});
    }
    if (name == "list-invoices") {
      return ok(Json{{"content", Json::array()}, {"structuredContent", {{"count", args.value("limit", 0)}}}});
    }
    if (name == "fail") {
      return ok(Json{{"content", Json::array({{{"type", "text"}, {"text", "no"}}})}, {"isError", true}});
    }
    return mcp::error_response(id, mcp::kInvalidParams, "Unknown tool");
  }
  return mcp::error_response(id, -32601, "Method not found");
}

struct World {
  hs::FixedClock clock{t0()};
  hs::Identity org = identity(hs::PrincipalType::kOrg, 1);
  hs::Identity agent_id = identity(hs::PrincipalType::kAgent, 2);
  hs::Identity svc = identity(hs::PrincipalType::kSvc, 9);
  hs::StaticKeyResolver keys;
  hs::RevocationList revocations;
  std::unique_ptr<hs::NonceStore> nonces = hs::make_memory_nonce_store();
  std::unique_ptr<hs::RateLimiter> limiter = hs::make_memory_rate_limiter();
  std::unique_ptr<hs::Service> service;
  std::unique_ptr<mcp::ServiceGate> gate;
  std::vector<Json> chain;
  Json svc_did_doc;

  // Grants billing.invoices.read {max_invoices: 100}, math.sum {max_a: 50}, text.echo.
  explicit World(std::int64_t session_ttl = 0, mcp::UnmappedTools unmapped = mcp::UnmappedTools::kRefuse,
                 std::chrono::seconds delegation_ttl = 600s) {
    for (const auto* id : {&org, &agent_id, &svc}) keys.add(id->did_string(), id->public_key());
    hs::ServiceOptions options;
    options.chain.trust_roots = {org.did_string()};
    options.session_ttl = std::chrono::seconds(session_ttl);
    service = std::make_unique<hs::Service>(identity(hs::PrincipalType::kSvc, 9), options, clock, keys, revocations, *nonces, *limiter);
    auto map = must(mcp::ToolMap::from_yaml(kToolsYaml));
    map.set_unmapped(unmapped);
    hs::DidDocumentOptions o;
    o.version_time = t0() - 24h;
    svc_did_doc = must(hs::make_did_document(svc, o));
    mcp::GateOptions gopts;
    gopts.did_document = svc_did_doc;
    gate = std::make_unique<mcp::ServiceGate>(*service, std::move(map), gopts);
    hs::DelegationSpec spec;
    spec.holder = agent_id.did_string();
    spec.ttl = delegation_ttl;
    spec.capabilities = {{"billing.invoices.read", Json{{"max_invoices", 100}}, std::nullopt},
                         {"math.sum", Json{{"max_a", 50}}, std::nullopt},
                         {"text.echo", Json::object(), std::nullopt}};
    chain = {must(hs::delegate(org, {}, spec, t0()))};
  }

  [[nodiscard]] hs::Agent agent() const {
    hs::AgentAttestation att;
    att.deployer = org.did_string();
    att.model = "test-model";
    att.instance_id = "t1";
    return hs::Agent(identity(hs::PrincipalType::kAgent, 2), chain, att);
  }

  // A signed request for `capability` with declared `constraints`.
  [[nodiscard]] Json request(const std::string& capability, Json constraints,
                             const std::optional<std::string>& session = std::nullopt) const {
    return must(agent().request(svc.did_string(), {capability, std::move(constraints), std::nullopt}, clock.now(), session));
  }

  [[nodiscard]] static Json call(int id, const std::string& tool, Json arguments, std::optional<Json> request) {
    Json params{{"name", tool}, {"arguments", std::move(arguments)}};
    if (request) params["_meta"] = Json{{std::string(mcp::kRequestKey), std::move(*request)}, {"progressToken", "p1"}};
    return Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"}, {"params", std::move(params)}};
  }

  // Through the in-process middleware around server().
  [[nodiscard]] Json through_middleware(const Json& message) const {
    mcp::Middleware mw(*gate);
    return mw.wrap(server)(message);
  }
};

// The refusal code inside a kHandshakeRefused error, checked to be signed by `svc`.
inline std::string refusal_code(const Json& response, const hs::Identity& svc) {
  REQUIRE(response.contains("error"));
  CHECK(response["error"]["code"] == mcp::kHandshakeRefused);
  auto refusal = mcp::refusal_of(response);
  REQUIRE(refusal.has_value());
  auto parsed = hs::Refusal::from_json(*refusal);
  REQUIRE(parsed.ok());
  CHECK(parsed->iss == svc.did_string());
  CHECK(hs::verify_message_signature(*refusal, svc.public_key()).ok());
  const std::string message = response["error"]["message"].get<std::string>();
  CHECK(message.find(parsed->reason.code) != std::string::npos);
  return parsed->reason.code;
}

}  // namespace mcp_fx
