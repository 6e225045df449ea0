// hsk-mcp-proxy --role service --oauth FILE (Streamable HTTP): the proxy becomes an OAuth 2.1
// resource server (MCP authorization) whose tokens turn into handshakes (§13.3):
//
//   - RFC 9728 protected resource metadata at /.well-known/oauth-protected-resource/<path>;
//   - every request needs "Authorization: Bearer <token>": missing -> 401 with
//     WWW-Authenticate: Bearer resource_metadata="…"; a token the bridge refuses -> 401
//     error="invalid_token" (inactive, expired, for another resource: RFC 8707), 403
//     error="insufficient_scope" (its scopes map to nothing), 503 when introspection fails;
//   - the token is never forwarded upstream;
//   - a valid token becomes a DelegationToken signed by the bridge's org identity (the chain's
//     root; the service must list it as a trust root) to the proxy's gateway identity, which
//     signs a HandshakeRequest into every tools/call that carries none (capability and
//     constraint values from the tool map and the call's arguments), so an unchanged OAuth MCP
//     client gets handshake-checked calls, refusals and receipts. A call that carries its own
//     handshake (an agent proxy in front) is verified as it is.
//
// FILE (YAML):
//   resource: http://127.0.0.1:8080/mcp           # this endpoint's canonical URI (token audience)
//   authorization_servers: [http://127.0.0.1:4000]
//   scopes_supported: [tools:call]                  # optional, published in the metadata
//   introspection_endpoint: http://127.0.0.1:4000/token/introspection
//   client_id: mcp-gateway
//   client_secret_file: gateway.secret              # owner-only, like key files
//   client_auth: basic                              # or post
//   scope_map: scopes.yaml                          # docs/oauth.md
//   bridge_key: org.key                             # signs the delegations (a trust root)
//   gateway_key: gateway.key                        # signs the requests (an agent identity)
//   max_ttl_seconds: 300                            # <= 600
// Relative paths are relative to FILE.
#pragma once

#include <string>

#include "handshake/mcp/service_gate.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"
#include "relay.hpp"

namespace hsk::mcp_proxy {

// Errors: kIo / kParse / kSchema "oauth.config" naming the key, those of the files it loads;
// kUnavailable "oauth.unsupported" when this proxy was built without the OAuth adapter.
[[nodiscard]] handshake::Result<HttpAuth> load_oauth(const std::string& path, const handshake::mcp::ServiceGate& gate,
                                                     Route base_route, const handshake::Clock& clock);

}  // namespace hsk::mcp_proxy
