// A revocation source that polls an HTTP(S) endpoint (§11: a principal publishes signed
// RevocationStatements at its handshake:revocation endpoint). Part of handshake::net, the one
// target that speaks HTTP; handshake::core stays transport-free.
//
// Two formats:
// - statements (default): the endpoint answers GET with a JSON array of signed
//   RevocationStatements (a principal's handshake:revocation endpoint, or a registry's
//   /v1/revocations/statements). Every statement is verified (schema, signature with the issuer's
//   key, authority rules) before it counts.
// - registry feed (FeedOptions::registry set): a registry's /v1/revocations/published envelope
//   (§22.2), verified with the registry's key before any field is read; next_cursor pages are
//   followed. Each entry revokes its subject principal from revoked_at, whatever its key_id: a
//   service cannot tell which of a principal's keys signed a link once it has verified it, so the
//   feed errs towards refusing.
// A response (all pages of it) with anything that does not verify is refused whole and counts as
// a failed poll. Revocations are never undone by a later response.
//
// Fail closed: when the last successful poll is older than max_staleness (or there was none),
// every question is answered kUnavailable, which a service turns into service_unavailable.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "handshake/crypto.hpp"
#include "handshake/net/http.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/revocation.hpp"
#include "handshake/time.hpp"

namespace handshake::net {

struct FeedOptions {
  std::string url;                              // http://host[:port]/path or https://...
  std::chrono::seconds poll_interval{30};       // background polling period
  std::chrono::seconds max_staleness{120};      // older than this: kUnavailable
  // TLS (the system trust store or tls.ca_file; mutual TLS with a client certificate),
  // connect and read timeouts, the bound on each response body.
  ClientOptions client{{}, std::chrono::seconds(5), std::chrono::seconds(5), 16 * 1024 * 1024};
  struct RegistryFeed {
    std::string did;          // the registry's DID (the feed's issuer_did)
    crypto::PublicKey key{};  // its key (keys-1 of its /.well-known/handshake/did.json)
  };
  std::optional<RegistryFeed> registry;  // set: the registry-signed feed format
  std::size_t max_pages = 1000;
};

class PolledRevocationFeed final : public RevocationSource {
 public:
  // Errors: kInvalidArgument "url.invalid" for a URL net::Url refuses, and the errors of
  // net::Client::open for the TLS options (checked now: a start-up error, not a failed poll).
  [[nodiscard]] static Result<std::unique_ptr<PolledRevocationFeed>> create(FeedOptions options,
                                                                           const KeyResolver& keys,
                                                                           const Clock& clock);
  ~PolledRevocationFeed() override;
  PolledRevocationFeed(const PolledRevocationFeed&) = delete;
  PolledRevocationFeed& operator=(const PolledRevocationFeed&) = delete;

  // One fetch and verification. Errors: kUnavailable "feed.unreachable" (connection, timeout,
  // HTTP status other than 200, body too large), kParse / kSchema / kSignature / kPermission for
  // a body or statement that does not verify (nothing of that response is recorded).
  [[nodiscard]] Status poll_once();
  // Polls every poll_interval on a background thread until stop() or destruction.
  void start();
  void stop();

  [[nodiscard]] Answer delegation_revoked(std::string_view id, std::string_view issuer, Timestamp at) const override;
  [[nodiscard]] Answer principal_revoked(std::string_view did, Timestamp at) const override;
  // Seconds since the last successful poll (nullopt: none yet), for hsk_revocation_feed_age_seconds.
  [[nodiscard]] std::optional<double> age_seconds() const;
  // Fresh (polled successfully within max_staleness), else kUnavailable "feed.stale" saying since
  // when: the feed's answers are "cannot tell" then, so the service refuses service_unavailable.
  [[nodiscard]] Status health() const;
  [[nodiscard]] const std::string& url() const { return options_.url; }
  // Principals whose statements may revoke other principals (RevocationList::add_authority).
  void add_authority(std::string did) { list_.add_authority(std::move(did)); }

 private:
  PolledRevocationFeed(FeedOptions options, Url url, const KeyResolver& keys, const Clock& clock);
  [[nodiscard]] bool fresh() const;
  [[nodiscard]] Result<std::string> fetch(const std::string& path);
  [[nodiscard]] Status poll_statements();
  [[nodiscard]] Status poll_registry_feed();

  FeedOptions options_;
  Url url_;
  std::string path_;  // url_.path
  std::unique_ptr<Client> client_;  // guarded by poll_mu_
  const KeyResolver& keys_;
  const Clock& clock_;
  RevocationList list_;
  std::atomic<std::int64_t> last_success_us_{INT64_MIN};
  std::mutex poll_mu_;
  std::mutex thread_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace handshake::net
