#include "handshake/oauth/introspection.hpp"

#include <httplib.h>

#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"

namespace handshake::oauth {
namespace {

Error invalid(const std::string& m) { return make_error(ErrorCode::kSchema, "oauth.introspection_invalid", m); }

// Epoch seconds within a sane range (year 1970..9999), as a Timestamp.
Result<std::optional<Timestamp>> epoch(const Json& o, const char* name) {
  if (!o.contains(name)) return std::optional<Timestamp>();
  const Json& v = o[name];
  if (!v.is_number_integer()) return invalid(std::string(name) + " must be an integer (seconds since the epoch)");
  const auto s = v.get<std::int64_t>();
  if (s < 0 || s > 253402300799) return invalid(std::string(name) + " is out of range");
  return std::optional<Timestamp>(Timestamp(std::chrono::seconds(s)));
}

Result<std::optional<std::string>> text(const Json& o, const char* name) {
  if (!o.contains(name)) return std::optional<std::string>();
  if (!o[name].is_string()) return invalid(std::string(name) + " must be a string");
  return std::optional<std::string>(o[name].get<std::string>());
}

std::string form_escape(std::string_view s) { return httplib::detail::encode_query_param(std::string(s)); }

net::ClientOptions client_options(const IntrospectionOptions& o) {
  net::ClientOptions c;
  c.tls = o.tls;
  c.connect_timeout = o.timeout;
  c.read_timeout = o.timeout;
  c.max_response_bytes = o.max_body_bytes;
  return c;
}

}  // namespace

Result<TokenInfo> parse_introspection_response(std::string_view body) {
  json::ParseLimits limits;
  limits.max_bytes = 64 * 1024;
  limits.max_depth = 32;
  HSK_ASSIGN_OR_RETURN(auto doc, json::parse_strict(body, limits));
  if (!doc.is_object()) return invalid("the answer must be a JSON object");
  if (!doc.contains("active") || !doc["active"].is_boolean()) return invalid("\"active\" must be a boolean");
  TokenInfo t;
  t.active = doc["active"].get<bool>();
  if (!t.active) return t;
  if (doc.contains("scope")) {
    if (!doc["scope"].is_string()) return invalid("scope must be a string");
    const auto& s = doc["scope"].get_ref<const std::string&>();
    std::size_t i = 0;
    while (i < s.size()) {
      const auto j = s.find(' ', i);
      const auto part = s.substr(i, j == std::string::npos ? std::string::npos : j - i);
      if (!part.empty()) t.scopes.push_back(part);
      if (j == std::string::npos) break;
      i = j + 1;
    }
  }
  HSK_ASSIGN_OR_RETURN(t.client_id, text(doc, "client_id"));
  HSK_ASSIGN_OR_RETURN(t.sub, text(doc, "sub"));
  HSK_ASSIGN_OR_RETURN(t.iss, text(doc, "iss"));
  HSK_ASSIGN_OR_RETURN(t.username, text(doc, "username"));
  HSK_ASSIGN_OR_RETURN(t.token_type, text(doc, "token_type"));
  HSK_ASSIGN_OR_RETURN(t.jti, text(doc, "jti"));
  HSK_ASSIGN_OR_RETURN(t.exp, epoch(doc, "exp"));
  HSK_ASSIGN_OR_RETURN(t.iat, epoch(doc, "iat"));
  HSK_ASSIGN_OR_RETURN(t.nbf, epoch(doc, "nbf"));
  if (doc.contains("aud")) {
    const Json& aud = doc["aud"];
    if (aud.is_string()) {
      t.aud.push_back(aud.get<std::string>());
    } else if (aud.is_array()) {
      for (const auto& a : aud) {
        if (!a.is_string()) return invalid("aud must be a string or an array of strings");
        t.aud.push_back(a.get<std::string>());
      }
    } else {
      return invalid("aud must be a string or an array of strings");
    }
  }
  if (doc.contains("act")) {
    if (!doc["act"].is_object()) return invalid("act must be an object");
    t.act = doc["act"];
  }
  t.claims = std::move(doc);
  return t;
}

Result<std::unique_ptr<IntrospectionClient>> IntrospectionClient::create(IntrospectionOptions options,
                                                                        const Clock& clock) {
  auto url = net::Url::parse(options.endpoint);
  if (!url.ok()) {
    Error e = url.error();
    e.message = "the introspection endpoint: " + e.message;
    return e;
  }
  if (url->path.empty() || url->path == "/") {
    return make_error(ErrorCode::kInvalidArgument, "oauth.endpoint",
                      "the introspection endpoint must be http(s)://host[:port]/path");
  }
  if (options.client_id.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "oauth.endpoint", "introspection needs client credentials");
  }
  // Opened once here so that an unreadable CA file or client key is a start-up error.
  HSK_TRY(net::Client::open(*url, client_options(options)));
  return std::unique_ptr<IntrospectionClient>(new IntrospectionClient(std::move(options), std::move(url).value(), clock));
}

Result<TokenInfo> IntrospectionClient::fetch(std::string_view token) const {
  // One client per exchange: introspect() is called from many threads at once.
  auto opened = net::Client::open(url_, client_options(options_));
  if (!opened.ok()) return make_error(ErrorCode::kUnavailable, "oauth.unavailable", opened.error().message);
  net::Client& client = **opened;
  std::string form = "token=" + form_escape(token) + "&token_type_hint=access_token";
  httplib::Headers headers = {{"Accept", "application/json"}};
  if (options_.auth == IntrospectionOptions::Auth::kClientSecretBasic) {
    // RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined.
    headers.insert(httplib::make_basic_authentication_header(form_escape(options_.client_id),
                                                             form_escape(options_.client_secret)));
  } else {
    form += "&client_id=" + form_escape(options_.client_id) + "&client_secret=" + form_escape(options_.client_secret);
  }
  auto res = client.post(url_.path, form, "application/x-www-form-urlencoded", headers);
  if (!res.ok()) {
    // net::Client's words: connection refused, timeout, certificate verification, too large.
    return make_error(ErrorCode::kUnavailable, "oauth.unavailable", "introspection at " + url_.str() + ": " + res.error().message);
  }
  if (res->status != 200) {
    return make_error(ErrorCode::kUnavailable, "oauth.unavailable",
                      "introspection at " + options_.endpoint + " answered HTTP " + std::to_string(res->status) +
                          (net::peer_says(*res).empty() ? "" : ": " + net::peer_says(*res)));
  }
  auto parsed = parse_introspection_response(res->body);
  if (!parsed.ok()) {
    // A server that answers nonsense is a server we cannot use: fail closed, as unavailable.
    Error e = parsed.error();
    e.code = ErrorCode::kUnavailable;
    e.message = "introspection at " + options_.endpoint + ": " + e.message;
    return e;
  }
  return parsed;
}

Result<TokenInfo> IntrospectionClient::introspect(std::string_view token) {
  if (token.empty() || token.size() > 8192) {
    return make_error(ErrorCode::kPermission, "oauth.inactive", "no usable access token");
  }
  const std::string key = encoding::hex_encode(crypto::sha256(encoding::as_bytes(token)));
  const auto now = clock_.now();
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      if (now < it->second.until) return it->second.info;
      cache_.erase(it);
    }
  }
  HSK_ASSIGN_OR_RETURN(auto info, fetch(token));
  if (!info.active) return make_error(ErrorCode::kPermission, "oauth.inactive", "the authorization server says the token is not active");
  Timestamp until = now + options_.cache_ttl;
  if (info.exp && *info.exp < until) until = *info.exp;
  if (until > now && options_.cache_entries > 0) {
    std::lock_guard lock(mu_);
    if (cache_.size() >= options_.cache_entries) {
      for (auto it = cache_.begin(); it != cache_.end();) it = it->second.until <= now ? cache_.erase(it) : std::next(it);
      if (cache_.size() >= options_.cache_entries) cache_.erase(cache_.begin());
    }
    cache_.insert_or_assign(key, Cached{info, until});
  }
  return info;
}

void IntrospectionClient::clear_cache() {
  std::lock_guard lock(mu_);
  cache_.clear();
}

std::size_t IntrospectionClient::cached() const {
  std::lock_guard lock(mu_);
  return cache_.size();
}

}  // namespace handshake::oauth
