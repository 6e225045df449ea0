// A KeyResolver that asks a registry (§5.1, §22.1): GET /v1/dids/{did}/versions. Part of
// handshake::net.
//
// Nothing the registry says is taken on trust: every version must carry the registry's
// countersignature (verification method "<registry DID>#keys-1", checked with the configured
// registry key) AND the whole history must prove itself (self-certifying first version, each
// later version signed by the one before: DidKeyHistory::build with trusted_source = false). So a
// compromised registry can withhold documents but cannot substitute a key.
//
// Answers: kFound; kNotFound for 404 (the registry has no document) or a history without a key at
// that time; kUnavailable for a registry that cannot be reached, answers anything else, or sends
// a document that does not verify (a verifier then refuses with service_unavailable). Verified
// histories are cached for cache_ttl; a lookup after that fetches again.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "handshake/crypto.hpp"
#include "handshake/did_document.hpp"
#include "handshake/net/http.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::net {

struct RegistryResolverOptions {
  std::string url;                        // http(s)://host[:port] of the registry
  std::string registry_did;               // the registry's DID
  crypto::PublicKey registry_key{};       // its key
  std::chrono::seconds cache_ttl{60};
  // TLS (the system trust store or tls.ca_file; mutual TLS), timeouts, the response bound.
  ClientOptions client{{}, std::chrono::seconds(5), std::chrono::seconds(5), 4 * 1024 * 1024};
};

class RegistryKeyResolver final : public KeyResolver {
 public:
  // Errors: kInvalidArgument "url.invalid" for a URL net::Url refuses, "resolver.url" for one
  // with a path (the registry URL is http(s)://host[:port]), and the errors of net::Client::open
  // for the TLS options.
  [[nodiscard]] static Result<std::unique_ptr<RegistryKeyResolver>> create(RegistryResolverOptions options,
                                                                          const Clock& clock);
  [[nodiscard]] Answer key_at(const std::string& did, Timestamp at) const override;
  // The verified history, fetched now (bypassing the cache). Errors: kNotFound "did.not_found",
  // kUnavailable "did.unavailable", and the verification errors of the documents.
  [[nodiscard]] Result<DidKeyHistory> fetch(const std::string& did) const;

 private:
  RegistryKeyResolver(RegistryResolverOptions options, Url url, const Clock& clock)
      : options_(std::move(options)), url_(std::move(url)), clock_(clock) {}
  struct Cached {
    DidKeyHistory history;
    Timestamp fetched_at;
  };
  RegistryResolverOptions options_;
  Url url_;
  const Clock& clock_;
  mutable std::mutex mu_;
  mutable std::map<std::string, Cached, std::less<>> cache_;
};

}  // namespace handshake::net
