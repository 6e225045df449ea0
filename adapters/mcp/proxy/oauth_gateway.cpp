#include "oauth_gateway.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#ifdef HSK_MCP_PROXY_OAUTH
#include "handshake/agent.hpp"
#include "handshake/config.hpp"
#include "handshake/identity.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/mcp/envelope.hpp"
#include "handshake/net/http.hpp"
#include "handshake/oauth/bridge.hpp"
#include "handshake/oauth/resource_server.hpp"
#endif

namespace hsk::mcp_proxy {

#ifndef HSK_MCP_PROXY_OAUTH

handshake::Result<HttpAuth> load_oauth(const std::string&, const handshake::mcp::ServiceGate&, Route,
                                       const handshake::Clock&) {
  return handshake::make_error(handshake::ErrorCode::kUnavailable, "oauth.unsupported",
                               "this hsk-mcp-proxy was built without the OAuth adapter");
}

#else

namespace {

namespace fs = std::filesystem;
namespace oauth = handshake::oauth;
namespace mcp = handshake::mcp;
using handshake::Error;
using handshake::ErrorCode;
using handshake::Json;
using handshake::make_error;

Error config_error(const std::string& key, const std::string& why) {
  return make_error(ErrorCode::kSchema, "oauth.config", key + ": " + why);
}

handshake::Result<std::string> read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error(ErrorCode::kIo, "oauth.config", "cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What the HTTP callbacks share; lives as long as the server.
struct Gateway {
  std::unique_ptr<oauth::IntrospectionClient> introspection;
  std::unique_ptr<oauth::Bridge> bridge;
  // The gateway's identity: copies share its signer, so each call's Agent borrows it (no seed is
  // copied out of it).
  std::optional<handshake::Identity> gateway;
  std::string gateway_did;
  std::string metadata_url;
};

}  // namespace

handshake::Result<HttpAuth> load_oauth(const std::string& path, const mcp::ServiceGate& gate, Route base_route,
                                       const handshake::Clock& clock) {
  HSK_ASSIGN_OR_RETURN(auto text, read_text(path));
  HSK_ASSIGN_OR_RETURN(auto cfg, handshake::yaml_to_json(text));
  if (!cfg.is_object()) return config_error("(top)", "must be a mapping");
  static const char* kKnown[] = {"resource",      "authorization_servers", "scopes_supported", "introspection_endpoint",
                                 "client_id",     "client_secret_file",    "client_auth",      "scope_map",
                                 "bridge_key",    "gateway_key",           "max_ttl_seconds",  "tls"};
  for (const auto& [k, v] : cfg.items()) {
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&key = k](const char* n) { return key == n; })) {
      return config_error(k, "unknown key");
    }
  }
  auto text_of = [&](const char* key) -> handshake::Result<std::string> {
    if (!cfg.contains(key) || !cfg[key].is_string() || cfg[key].get<std::string>().empty()) {
      return config_error(key, "required (a string)");
    }
    return cfg[key].get<std::string>();
  };
  const fs::path base = fs::path(path).parent_path();
  auto file_of = [&](const char* key) -> handshake::Result<fs::path> {
    HSK_ASSIGN_OR_RETURN(auto p, text_of(key));
    return fs::path(p).is_absolute() ? fs::path(p) : base / p;
  };
  // A key file (relative to the config) or a PKCS#11 URI (as it is).
  auto key_of = [&](const char* key) -> handshake::Result<handshake::Identity> {
    HSK_ASSIGN_OR_RETURN(auto p, text_of(key));
    if (handshake::pkcs11::is_uri(p)) return handshake::load_identity(p);
    return handshake::load_key_file(fs::path(p).is_absolute() ? fs::path(p) : base / p);
  };
  HSK_ASSIGN_OR_RETURN(auto resource, text_of("resource"));
  auto gw = std::make_shared<Gateway>();

  oauth::IntrospectionOptions io;
  HSK_ASSIGN_OR_RETURN(io.endpoint, text_of("introspection_endpoint"));
  HSK_ASSIGN_OR_RETURN(io.client_id, text_of("client_id"));
  HSK_ASSIGN_OR_RETURN(auto secret_path, file_of("client_secret_file"));
  HSK_ASSIGN_OR_RETURN(io.client_secret, handshake::read_secret_file(secret_path, 4096));
  while (!io.client_secret.empty() && (io.client_secret.back() == '\n' || io.client_secret.back() == '\r')) {
    io.client_secret.pop_back();
  }
  if (cfg.contains("client_auth")) {
    if (cfg["client_auth"] == "post") {
      io.auth = oauth::IntrospectionOptions::Auth::kClientSecretPost;
    } else if (cfg["client_auth"] != "basic") {
      return config_error("client_auth", "basic or post");
    }
  }
  if (cfg.contains("tls")) {
    // TLS to the authorization server: {ca_file, client_cert, client_key, min_version}.
    HSK_ASSIGN_OR_RETURN(io.tls, handshake::net::tls_client_options_from_json(cfg["tls"], base));
  }
  HSK_ASSIGN_OR_RETURN(gw->introspection, oauth::IntrospectionClient::create(io, clock));
  HSK_ASSIGN_OR_RETURN(auto map_path, file_of("scope_map"));
  HSK_ASSIGN_OR_RETURN(auto map_text, read_text(map_path));
  HSK_ASSIGN_OR_RETURN(auto map, oauth::ScopeMap::from_yaml(map_text));
  HSK_ASSIGN_OR_RETURN(auto org, key_of("bridge_key"));
  HSK_ASSIGN_OR_RETURN(auto gateway, key_of("gateway_key"));
  if (gateway.did().type != handshake::PrincipalType::kAgent) return config_error("gateway_key", "must be an agent identity");
  gw->gateway_did = gateway.did_string();
  gw->gateway = gateway;

  oauth::BridgeOptions bo;
  bo.expected_audience = resource;
  bo.fixed_agent = gw->gateway_did;
  if (cfg.contains("max_ttl_seconds")) {
    if (!cfg["max_ttl_seconds"].is_number_integer() || cfg["max_ttl_seconds"].get<std::int64_t>() < 1 ||
        cfg["max_ttl_seconds"].get<std::int64_t>() > 600) {
      return config_error("max_ttl_seconds", "an integer 1..600");
    }
    bo.max_ttl = std::chrono::seconds(cfg["max_ttl_seconds"].get<std::int64_t>());
  }
  gw->bridge = std::make_unique<oauth::Bridge>(std::move(org), std::move(map), *gw->introspection, clock, bo,
                                               gate.service().options()->capabilities);

  oauth::ProtectedResource pr;
  pr.resource = resource;
  pr.resource_name = "Handshake MCP gateway";
  if (cfg.contains("authorization_servers") && cfg["authorization_servers"].is_array()) {
    for (const auto& s : cfg["authorization_servers"]) {
      if (!s.is_string()) return config_error("authorization_servers", "a list of issuer URLs");
      pr.authorization_servers.push_back(s.get<std::string>());
    }
  }
  if (pr.authorization_servers.empty()) return config_error("authorization_servers", "at least one issuer");
  if (cfg.contains("scopes_supported") && cfg["scopes_supported"].is_array()) {
    for (const auto& s : cfg["scopes_supported"]) {
      if (s.is_string()) pr.scopes_supported.push_back(s.get<std::string>());
    }
  }
  gw->metadata_url = oauth::metadata_url(resource);

  HttpAuth auth;
  auth.metadata_path = oauth::metadata_path(resource);
  auth.metadata = oauth::protected_resource_metadata(pr);
  auth.check = [gw](const std::string& header) {
    HttpAuth::Outcome o;
    auto refuse = [&](const std::optional<Error>& e) {
      auto c = oauth::token_challenge(e, gw->metadata_url);
      o.status = c.status;
      o.www_authenticate = std::move(c.www_authenticate);
      o.body = std::move(c.body);
      return o;
    };
    const auto token = oauth::bearer_token(header);
    if (!token) return refuse(std::nullopt);
    auto issued = gw->bridge->delegation_for(*token);
    if (issued.ok()) {
      o.allowed = true;
      o.context = Json{{"delegation", issued->delegation},
                       {"client_id", issued->token.client_id.value_or("")},
                       {"deployer", gw->bridge->identity().did_string()}};
      return o;
    }
    return refuse(issued.error());
  };
  const std::string service_did = gate.service().did();
  auth.route = [gw, &gate, &clock, base_route, service_did](Json message, std::string_view raw, const Json& context) {
    // A tools/call without its own handshake: the gateway signs one under the token's delegation.
    if (mcp::message_type(message) == mcp::MessageType::kRequest && message.value("method", std::string()) == "tools/call" &&
        message.contains("params") && message["params"].is_object() && message["params"].contains("name") &&
        message["params"]["name"].is_string()) {
      Json& params = message["params"];
      const bool has_request = params.contains("_meta") && params["_meta"].is_object() &&
                               params["_meta"].contains(std::string(mcp::kRequestKey));
      const auto tools = gate.tool_map();
      const auto* rule = tools->find(params["name"].get<std::string>());
      if (rule != nullptr && !has_request && context.contains("delegation")) {
        handshake::Result<handshake::Identity> identity(*gw->gateway);
        if (identity.ok()) {
          handshake::AgentAttestation att;
          att.deployer = context.value("deployer", std::string());
          att.model = "oauth-client";
          att.instance_id = "oauth:" + context.value("client_id", std::string()).substr(0, 100);
          handshake::Agent agent(std::move(identity).value(), {context["delegation"]}, att);
          const Json arguments = params.contains("arguments") ? params["arguments"] : Json::object();
          handshake::Capability cap{rule->capability, handshake::derive_constraints(rule->constraints, arguments),
                                    std::nullopt};
          auto request = agent.request(service_did, cap, clock.now());
          if (request.ok()) {
            if (!params.contains("_meta") || !params["_meta"].is_object()) params["_meta"] = Json::object();
            params["_meta"][std::string(mcp::kRequestKey)] = std::move(request).value();
            const std::string text = mcp::serialize(message);
            return base_route(std::move(message), text);
          }
          log("cannot sign for the OAuth client: " + request.error().to_string());
        }
      }
    }
    return base_route(std::move(message), raw);
  };
  return auth;
}

#endif

}  // namespace hsk::mcp_proxy
