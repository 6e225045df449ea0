// §5.1 well-known HTTPS resolution, part of handshake::net: a DID named by a domain,
// did:hsk:org:<host>, is resolved at https://<host>/.well-known/handshake/did.json over TLS 1.3
// or later (the specification's MUST: a TLS 1.2-only server is refused).
//
// The document served is the org's DID Document, or a JSON array of every version, oldest first,
// when it has rotated (§5.3: a verifier checks the whole history). Each version must name this
// DID, carry its own proof, and each later version the previous version's signature
// (DidKeyHistory::build). A domain DID proves nothing by itself: the TLS connection to that
// domain, its certificate verified, is the trust, which is why nothing else can stand in for it.
//
// Answers: kFound; kNotFound for a DID that is not a domain org, a 404, or no key at that time;
// kUnavailable (the verifier refuses with service_unavailable, never accepts) for a server that
// cannot be reached, a TLS or certificate failure, any other status, a body that is not a
// document of this DID or does not verify. Verified histories are cached for cache_ttl.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "handshake/did_document.hpp"
#include "handshake/net/http.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::net {

struct WellKnownResolverOptions {
  // TLS settings of the client (a CA file for a private PKI, timeouts, size bound). The minimum
  // version is raised to 1.3 whatever is given.
  ClientOptions client;
  std::chrono::seconds cache_ttl{300};
  // Where a host's documents are fetched instead of https://<host> (a private deployment, tests):
  // host -> https origin. The host name verified in TLS is the origin's.
  std::map<std::string, std::string> origins;
};

class WellKnownKeyResolver final : public KeyResolver {
 public:
  // Errors: kInvalidArgument "url.invalid" for an origin that is not an https URL.
  [[nodiscard]] static Result<std::unique_ptr<WellKnownKeyResolver>> create(WellKnownResolverOptions options,
                                                                           const Clock& clock);
  [[nodiscard]] Answer key_at(const std::string& did, Timestamp at) const override;
  // The verified history, fetched now. Errors: kNotFound "did.not_found" (404, or not a domain
  // org), kUnavailable "did.unavailable" (transport, TLS, status), verification errors.
  [[nodiscard]] Result<DidKeyHistory> fetch(const std::string& did) const;

 private:
  WellKnownKeyResolver(WellKnownResolverOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {}
  struct Cached {
    DidKeyHistory history;
    Timestamp fetched_at;
  };
  WellKnownResolverOptions options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  mutable std::map<std::string, Cached, std::less<>> cache_;
};

}  // namespace handshake::net
