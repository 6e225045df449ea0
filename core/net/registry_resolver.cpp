#include "handshake/net/registry_resolver.hpp"

#include <httplib.h>

#include "handshake/json.hpp"

namespace handshake::net {

Result<std::unique_ptr<RegistryKeyResolver>> RegistryKeyResolver::create(RegistryResolverOptions options,
                                                                        const Clock& clock) {
  auto url = Url::parse(options.url);
  if (!url.ok()) {
    Error e = url.error();
    e.message = "the registry URL: " + e.message;
    return e;
  }
  if (url->path != "/") {
    return make_error(ErrorCode::kInvalidArgument, "resolver.url", "the registry URL is http(s)://host[:port]");
  }
  HSK_TRY(Client::open(*url, options.client));  // TLS options checked at start-up
  return std::unique_ptr<RegistryKeyResolver>(new RegistryKeyResolver(std::move(options), std::move(url).value(), clock));
}

Result<DidKeyHistory> RegistryKeyResolver::fetch(const std::string& did) const {
  auto unavailable = [&](const std::string& why) {
    return make_error(ErrorCode::kUnavailable, "did.unavailable", options_.url + ": " + why);
  };
  // A client per fetch: key_at() is called from many threads; fetches are rare (cache_ttl).
  auto client = Client::open(url_, options_.client);
  if (!client.ok()) return unavailable(client.error().message);
  const std::string path = "/v1/dids/" + httplib::detail::encode_query_param(did) + "/versions";
  auto res = (*client)->get(path);
  if (!res.ok()) return unavailable(res.error().message);
  if (res->status == 404) return make_error(ErrorCode::kNotFound, "did.not_found", "the registry has no " + did.substr(0, 200));
  if (res->status != 200) return unavailable("HTTP " + std::to_string(res->status));
  json::ParseLimits limits;
  limits.max_bytes = options_.client.max_response_bytes;
  auto doc = json::parse_strict(res->body, limits);
  if (!doc.ok()) return unavailable("answer does not parse: " + doc.error().message);
  if (!doc->is_object() || !doc->contains("did") || (*doc)["did"] != did || !doc->contains("versions") ||
      !(*doc)["versions"].is_array() || (*doc)["versions"].empty()) {
    return unavailable("answer is not {did, versions} for " + did.substr(0, 200));
  }
  std::vector<Json> versions;
  for (const auto& v : (*doc)["versions"]) {
    HSK_TRY(verify_did_document_proof_by(v, options_.registry_key, options_.registry_did + "#keys-1"));
    versions.push_back(v);
  }
  HSK_ASSIGN_OR_RETURN(auto history, DidKeyHistory::build(versions, /*trusted_source=*/false));
  if (history.did().str() != did) return unavailable("the registry answered for another DID");
  return history;
}

KeyResolver::Answer RegistryKeyResolver::key_at(const std::string& did, Timestamp at) const {
  const auto now = clock_.now();
  std::optional<DidKeyHistory> history;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(did); it != cache_.end() && now - it->second.fetched_at <= options_.cache_ttl) {
      history = it->second.history;
    }
  }
  if (!history) {
    auto fetched = fetch(did);
    if (!fetched.ok()) {
      const auto status = fetched.error().code == ErrorCode::kNotFound ? Status::kNotFound : Status::kUnavailable;
      return Answer{status, {}, fetched.error().message};
    }
    std::lock_guard lock(mu_);
    cache_.insert_or_assign(did, Cached{*fetched, now});
    history = std::move(fetched).value();
  }
  auto key = history->key_at(at);
  if (!key.ok()) return Answer{Status::kNotFound, {}, key.error().message};
  return Answer{Status::kFound, *key, {}};
}

}  // namespace handshake::net
