// RFC 7662 token introspection: the response parser and a client with a bounded cache.
//
// The bridge never issues a delegation it could not check: an inactive token, a server that
// cannot be reached, answers slowly, fails our authentication or sends anything but a well-formed
// RFC 7662 answer are all errors here, and each maps to a clear outcome upstream (a refusal, or
// service_unavailable).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/net/http.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::oauth {

// What an active token's introspection says. Members the answer did not carry are empty.
struct TokenInfo {
  bool active = false;
  std::vector<std::string> scopes;  // "scope", split on spaces
  std::optional<std::string> client_id, sub, iss, username, token_type, jti;
  std::vector<std::string> aud;  // "aud", a string or an array of strings
  std::optional<Timestamp> exp, iat, nbf;
  std::optional<Json> act;  // RFC 8693 actor claim, as given
  Json claims = Json::object();  // the whole answer, for claims the bridge is configured to read
};

// Parses an introspection answer body. `active` must be a boolean; when true, every member this
// library reads must have its RFC 7662 type (scope a string, exp/iat/nbf integers, aud a string or
// array of strings, the others strings, act an object). An answer with "active": false is
// returned as inactive whatever else it holds. Errors: kParse (strict JSON), kSchema
// "oauth.introspection_invalid".
[[nodiscard]] Result<TokenInfo> parse_introspection_response(std::string_view body);

struct IntrospectionOptions {
  std::string endpoint;  // http(s)://host[:port]/path of the introspection endpoint (net::Url)
  // https: the system trust store or tls.ca_file; tls.client_cert/client_key for mutual TLS
  // (`hsk oauth bridge --ca-file/--client-cert/--client-key`, the `tls:` block of oauth.yaml).
  net::TlsClientOptions tls;
  std::string client_id;
  std::string client_secret;
  enum class Auth { kClientSecretBasic, kClientSecretPost } auth = Auth::kClientSecretBasic;
  std::chrono::milliseconds timeout{3000};  // connect, read and write
  std::chrono::seconds cache_ttl{30};       // an active answer is reused this long, never past exp
  std::size_t cache_entries = 10'000;
  std::size_t max_body_bytes = 64 * 1024;
};

class IntrospectionClient {
 public:
  // Checks the endpoint and the TLS options now, so a bad configuration is a start-up error:
  // kInvalidArgument "url.invalid" (net::Url::parse), "oauth.endpoint" (no path, or no client
  // id), and the errors of net::Client::open (unreadable CA file or client certificate, a client
  // key that is not owner-only, a CA file or client certificate with a plain http endpoint).
  [[nodiscard]] static Result<std::unique_ptr<IntrospectionClient>> create(IntrospectionOptions options,
                                                                          const Clock& clock);
  // Introspects `token` (or answers from the cache: keyed by SHA-256 of the token, so the cache
  // holds no tokens). Errors: kPermission "oauth.inactive" (active false: unknown, expired,
  // revoked), kUnavailable "oauth.unavailable" (connection, timeout, HTTP status other than 200,
  // including 401 when our own client authentication fails, an oversized answer, a TLS handshake or
  // certificate verification failure: wrong CA, expired, another host name), and those of
  // parse_introspection_response. Thread-safe.
  [[nodiscard]] Result<TokenInfo> introspect(std::string_view token);
  // Drops every cached answer (e.g. after a revocation elsewhere).
  void clear_cache();
  [[nodiscard]] std::size_t cached() const;

 private:
  IntrospectionClient(IntrospectionOptions options, net::Url url, const Clock& clock)
      : options_(std::move(options)), url_(std::move(url)), clock_(clock) {}
  [[nodiscard]] Result<TokenInfo> fetch(std::string_view token) const;
  struct Cached {
    TokenInfo info;
    Timestamp until;
  };
  IntrospectionOptions options_;
  net::Url url_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Cached, std::less<>> cache_;
};

}  // namespace handshake::oauth
