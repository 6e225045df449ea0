#include "handshake/oauth/resource_server.hpp"

#include <cctype>

namespace handshake::oauth {
namespace {

bool b64token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

// Quoted-string content: the values we put there are URLs, error codes and scopes; drop
// anything that could break out of the quotes.
std::string quoted(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  }
  return out;
}

}  // namespace

std::optional<std::string> bearer_token(std::string_view h) {
  constexpr std::string_view kScheme = "bearer ";
  if (h.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(h[i])) != kScheme[i]) return std::nullopt;
  }
  std::string_view token = h.substr(kScheme.size());
  std::size_t end = token.size();
  while (end > 0 && token[end - 1] == '=') --end;  // b64token may end in '='
  if (end == 0) return std::nullopt;
  for (std::size_t i = 0; i < end; ++i) {
    if (!b64token_char(token[i])) return std::nullopt;
  }
  return std::string(token);
}

Json protected_resource_metadata(const ProtectedResource& r) {
  Json doc{{"resource", r.resource},
           {"authorization_servers", r.authorization_servers},
           {"bearer_methods_supported", Json::array({"header"})}};
  if (!r.scopes_supported.empty()) doc["scopes_supported"] = r.scopes_supported;
  if (!r.resource_name.empty()) doc["resource_name"] = r.resource_name;
  return doc;
}

std::string metadata_path(std::string_view resource) {
  const auto scheme = resource.find("://");
  const auto path_start = scheme == std::string_view::npos ? std::string_view::npos : resource.find('/', scheme + 3);
  std::string path = path_start == std::string_view::npos ? std::string() : std::string(resource.substr(path_start));
  if (path == "/") path.clear();
  return "/.well-known/oauth-protected-resource" + path;
}

std::string metadata_url(std::string_view resource) {
  const auto scheme = resource.find("://");
  const auto path_start = scheme == std::string_view::npos ? std::string_view::npos : resource.find('/', scheme + 3);
  const std::string origin(resource.substr(0, path_start));
  return origin + metadata_path(resource);
}

std::string www_authenticate(std::string_view metadata, std::string_view error, std::string_view scope) {
  std::string h = "Bearer resource_metadata=\"" + quoted(metadata) + "\"";
  if (!error.empty()) h += ", error=\"" + quoted(error) + "\"";
  if (!scope.empty()) h += ", scope=\"" + quoted(scope) + "\"";
  return h;
}

TokenChallenge token_challenge(const std::optional<Error>& error, std::string_view metadata_url) {
  TokenChallenge c;
  if (!error) {
    c.www_authenticate = www_authenticate(metadata_url);
    c.body = Json{{"error", "invalid_token"}, {"error_description", "an access token is required"}};
  } else if (error->code == ErrorCode::kUnavailable) {
    c.status = 503;
    c.body = Json{{"error", "temporarily_unavailable"}, {"error_description", error->message}};
  } else if (error->reason == "oauth.unmapped_scope" || error->reason == "oauth.no_capability") {
    c.status = 403;
    c.www_authenticate = www_authenticate(metadata_url, "insufficient_scope");
    c.body = Json{{"error", "insufficient_scope"}, {"error_description", error->message}};
  } else {
    c.www_authenticate = www_authenticate(metadata_url, "invalid_token");
    c.body = Json{{"error", "invalid_token"}, {"error_description", error->reason}};
  }
  return c;
}

}  // namespace handshake::oauth
