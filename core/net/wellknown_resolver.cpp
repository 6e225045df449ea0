// §5.1 well-known HTTPS resolution.
#include "handshake/net/wellknown_resolver.hpp"

#include "handshake/did.hpp"
#include "handshake/json.hpp"

namespace handshake::net {
namespace {

constexpr const char* kPath = "/.well-known/handshake/did.json";

Error unavailable(const std::string& m) { return make_error(ErrorCode::kUnavailable, "did.unavailable", m); }

}  // namespace

Result<std::unique_ptr<WellKnownKeyResolver>> WellKnownKeyResolver::create(WellKnownResolverOptions options,
                                                                          const Clock& clock) {
  for (const auto& [host, origin] : options.origins) {
    HSK_ASSIGN_OR_RETURN(auto url, Url::parse(origin));
    if (!url.tls()) {
      return make_error(ErrorCode::kInvalidArgument, "url.invalid",
                        "the origin for " + host + " must be https (§5.1: TLS 1.3): " + origin);
    }
  }
  options.client.tls.min_version = TlsVersion::k13;
  return std::unique_ptr<WellKnownKeyResolver>(new WellKnownKeyResolver(std::move(options), clock));
}

Result<DidKeyHistory> WellKnownKeyResolver::fetch(const std::string& did_text) const {
  auto did = parse_did(did_text);
  if (!did.ok() || did->type != PrincipalType::kOrg || is_key_hash_id(did->id)) {
    return make_error(ErrorCode::kNotFound, "did.not_found", did_text.substr(0, 200) + " is not named by a domain");
  }
  const std::string& host = did->id;
  std::string origin = "https://" + host;
  if (auto it = options_.origins.find(host); it != options_.origins.end()) {
    origin = it->second;
  } else if (host.find('.') == std::string::npos) {
    return make_error(ErrorCode::kNotFound, "did.not_found", did_text.substr(0, 200) + " is not named by a domain");
  }
  auto url = Url::parse(origin);
  if (!url.ok()) return make_error(ErrorCode::kNotFound, "did.not_found", did_text.substr(0, 200) + ": " + url.error().message);
  HSK_ASSIGN_OR_RETURN(auto client, Client::open(*url, options_.client));
  auto res = client->get(kPath, {{"Accept", "application/json"}});
  if (!res.ok()) return unavailable("well-known resolution of " + did_text + ": " + res.error().message);
  if (res->status == 404) return make_error(ErrorCode::kNotFound, "did.not_found", url->origin() + kPath + " has no document");
  if (res->status != 200) {
    return unavailable(url->origin() + kPath + " answered HTTP " + std::to_string(res->status) +
                       (peer_says(*res).empty() ? "" : ": " + peer_says(*res)));
  }
  auto body = json::parse_strict(res->body);
  if (!body.ok()) return unavailable(url->origin() + kPath + ": " + body.error().message);
  std::vector<Json> versions;
  if (body->is_array()) {
    versions.assign(body->begin(), body->end());
  } else {
    versions.push_back(std::move(body).value());
  }
  if (versions.empty()) return unavailable(url->origin() + kPath + " serves an empty history");
  for (const auto& v : versions) {
    if (!v.is_object() || !v.contains("id") || v["id"] != did_text) {
      return unavailable(url->origin() + kPath + " serves a document of another DID");
    }
  }
  // The domain's TLS identity is the trust for a domain-named DID: a trusted source.
  auto history = DidKeyHistory::build(versions, /*trusted_source=*/true);
  if (!history.ok()) {
    Error e = history.error();
    e.message = url->origin() + kPath + ": " + e.message;
    return e;
  }
  return history;
}

KeyResolver::Answer WellKnownKeyResolver::key_at(const std::string& did, Timestamp at) const {
  const Timestamp now = clock_.now();
  std::optional<DidKeyHistory> history;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(did); it != cache_.end() && now - it->second.fetched_at < options_.cache_ttl) {
      history = it->second.history;
    }
  }
  if (!history) {
    auto fetched = fetch(did);
    if (!fetched.ok()) {
      const auto status = fetched.error().code == ErrorCode::kNotFound ? Status::kNotFound : Status::kUnavailable;
      return Answer{status, {}, fetched.error().message};
    }
    history = *fetched;
    std::lock_guard lock(mu_);
    if (cache_.size() >= 10000) cache_.clear();
    cache_.insert_or_assign(did, Cached{*fetched, now});
  }
  auto key = history->key_at(at);
  if (!key.ok()) return Answer{Status::kNotFound, {}, key.error().message};
  return Answer{Status::kFound, *key, {}};
}

}  // namespace handshake::net
