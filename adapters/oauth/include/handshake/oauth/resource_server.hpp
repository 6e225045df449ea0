// Resource-server duties of an OAuth-protected MCP endpoint (MCP authorization; RFC 6750,
// RFC 8707, RFC 9728): reading the bearer token, the protected resource metadata document and
// where it is served, and the WWW-Authenticate challenge.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/json.hpp"

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

}  // namespace handshake::oauth
