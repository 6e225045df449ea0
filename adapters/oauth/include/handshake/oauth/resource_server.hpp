// Resource-server duties of an OAuth-protected MCP endpoint (MCP authorization; RFC 6750,
// RFC 8707, RFC 9728): reading the bearer token, the protected resource metadata document and
// where it is served, and the WWW-Authenticate challenge.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake::oauth {

// The token of an "Authorization: Bearer <token>" header (scheme case-insensitive, one space,
// RFC 6750 b64token characters only). nullopt for anything else.
[[nodiscard]] std::optional<std::string> bearer_token(std::string_view authorization_header);

struct ProtectedResource {
  std::string resource;                            // canonical URI, e.g. http://127.0.0.1:8080/mcp
  std::vector<std::string> authorization_servers;  // issuer URLs
  std::vector<std::string> scopes_supported;
  std::string resource_name;
};

// The RFC 9728 metadata document (bearer_methods_supported: ["header"]).
[[nodiscard]] Json protected_resource_metadata(const ProtectedResource& r);
// Where it is served: "/.well-known/oauth-protected-resource" inserted between the host and the
// path of `resource` (http://h/mcp -> http://h/.well-known/oauth-protected-resource/mcp).
[[nodiscard]] std::string metadata_url(std::string_view resource);
// Its path alone (for a server's route table).
[[nodiscard]] std::string metadata_path(std::string_view resource);
// `Bearer resource_metadata="<url>"[, error="<error>"][, scope="<scope>"]`.
[[nodiscard]] std::string www_authenticate(std::string_view metadata, std::string_view error = {},
                                           std::string_view scope = {});

// The answer to a request whose bearer token did not become a delegation (RFC 6750 §3.1):
//   no token (`error` empty)                         401, invalid_token, "an access token is required"
//   the authorization server cannot answer (kUnavailable)  503 temporarily_unavailable, no challenge:
//                                                    it says nothing about the token; never an accept
//   no capability for its scopes ("oauth.unmapped_scope", "oauth.no_capability")
//                                                    403 insufficient_scope
//   anything else (inactive, expired, wrong audience, ...)  401 invalid_token
// The challenge names the metadata document (RFC 9728 §5.1).
struct TokenChallenge {
  int status = 401;
  std::string www_authenticate;  // empty: no WWW-Authenticate header
  Json body;                     // {"error", "error_description"}
};
[[nodiscard]] TokenChallenge token_challenge(const std::optional<Error>& error, std::string_view metadata_url);

}  // namespace handshake::oauth
