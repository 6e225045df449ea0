// A service's configuration file (YAML) and everything it wires together.
//
//   identity: svc.key                     # key file of the service (mode 0600)
//   trust_roots: [did:hsk:org:z...]       # principals a chain may start at
//   capabilities: capabilities.json       # §10 discovery document: a path, or inline
//   did_documents: [org.did.json, agent.did.json]   # trusted DID Documents (files or directories)
//   public_keys: {did:hsk:user:bob@acme.com: <base64url raw key>}   # fixed keys, optional
//   resolvers: [{type: well_known, cache_ttl_seconds: 300, tls: {ca_file: ca.pem}}]
//                # tried after public_keys and did_documents: §5.1 did:hsk:org:<domain> over TLS 1.3
//   policy: {default: allow, rules: [...]} # see policy.hpp
//   clock_skew_seconds: 60
//   max_request_age_seconds: 300
//   max_request_bytes: 262144
//   max_chain_length: 8
//   max_delegation_ttl_seconds: 600       # longer-lived delegations are refused policy_denied (§17); 0: no ceiling
//   session_ttl_seconds: 0                # > 0 enables warm handshakes
//   session_keys: [current.key, previous.key]   # session ticket keys (hsk session-key), optional:
//                # the first seals, all open; instances listing the same files share warm sessions;
//                # absent: a random key per service (see session_ticket.hpp)
//   rate_limits: [{capability: "billing.**", count: 100, per_seconds: 60, per: agent}]
//   nonce_store: {type: memory, max_entries: 1000000}      # or {type: sqlite, path: nonces.db}
//                # or {type: postgres, url: postgresql://hsk@db:5432/hsk, password_file: pg.pass, pool_size: 8}
//   rate_limit_store: {type: memory}                        # or {type: postgres, url: ..., password_file: ...}
//   revocations: {files: [revoked.json], sqlite: revocations.db, authorities: [did:...]}
//                # or postgres: {url: ..., password_file: ...} instead of sqlite
// PostgreSQL stores that name the same url and password_file share one connection pool. A URL
// carrying a password is refused (use password_file, owner-only, or PGPASSFILE); see
// handshake/storage/postgres.hpp and docs/deploy.md.
// Relative paths are relative to the configuration file. Unknown keys are refused.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/metrics.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/ops.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/revocation.hpp"
#include "handshake/service.hpp"
#include "handshake/yaml.hpp"

namespace handshake {

class SwappableKeys;
class SwappableRevocations;
namespace storage {
class PgPool;
}
namespace net {
class PolledRevocationFeed;
}

// Everything a configured service owns. Build the Service with make_service().
class ServiceSetup {
 public:
  // Errors: kIo, kParse "yaml.invalid", kSchema "config.invalid" naming the key, and those of
  // the files it loads (key file, capabilities, DID Documents, revocations).
  [[nodiscard]] static Result<std::unique_ptr<ServiceSetup>> load(const std::filesystem::path& config_path);
  // The same from an already-parsed document, paths relative to `base_dir`.
  [[nodiscard]] static Result<std::unique_ptr<ServiceSetup>> from_json(const Json& config,
                                                                      const std::filesystem::path& base_dir);
  // The top-level keys from_json accepts (some only to refuse them with a reason, as max_sessions);
  // any other key is refused "unknown key". docs/config.md documents each one.
  [[nodiscard]] static const std::vector<std::string_view>& known_keys();

  // A service wired to this setup's stores; the setup must outlive it.
  [[nodiscard]] std::unique_ptr<Service> make_service(const Clock& clock) const;

  // Reads the file load() read again and replaces what can change while serving: public_keys,
  // did_documents (an agent added, a key rotated), the revocation files and, given the service
  // make_service() made, its options (trust roots, policy, capabilities, rate limits, limits and
  // lifetimes: Service::reconfigure). Everything is checked first; a bad file keeps the whole
  // running configuration (the error says why). identity, session_keys, the stores, resolvers
  // and feeds take effect on restart. Thread-safe with verifications running. Errors: those of
  // load().
  [[nodiscard]] Status reload(Service* service = nullptr);

  // What a readiness probe (GET /readyz) checks for this setup: every PostgreSQL pool answers,
  // every revocation feed is fresh, the service's key can sign. And, in `registry`, the gauges
  // of what the setup owns: nonce-store entries, revocation feed ages.
  void add_checks(ops::Readiness& readiness) const;
  void add_metrics(metrics::Registry& registry) const;

  [[nodiscard]] const KeyResolver& keys() const { return *resolver_; }
  [[nodiscard]] const Identity& identity() const { return *identity_; }
  [[nodiscard]] const ServiceOptions& options() const { return options_; }
  // The configured persistent revocation store (revocations.sqlite or revocations.postgres), to
  // add statements to; null when there is none.
  [[nodiscard]] RevocationStore* revocation_store() const { return revocation_store_; }

 private:
  ServiceSetup() = default;
  std::optional<Identity> identity_;
  ServiceOptions options_;
  std::shared_ptr<ChainedKeyResolver> resolver_;
  std::filesystem::path config_path_, base_;
  std::shared_ptr<SwappableKeys> trusted_;                 // public_keys + did_documents
  std::shared_ptr<SwappableRevocations> revocation_files_;  // revocations.files
  std::unique_ptr<RevocationSource> revocations_;
  RevocationStore* revocation_store_ = nullptr;  // owned through revocations_
  std::unique_ptr<NonceStore> nonces_;
  std::unique_ptr<RateLimiter> limiter_;
  std::vector<std::shared_ptr<storage::PgPool>> pools_;   // every PostgreSQL pool the stores use
  std::vector<const net::PolledRevocationFeed*> feeds_;   // owned through revocations_
};

class CheckReport;
// `--check`: loads the configuration at `path` and reports on it (command_line.hpp): the service's
// DID and key, whether every trust root's key is known, the lifetimes it accepts. Returns the
// setup, or null when it does not load (the reason is in the report).
std::unique_ptr<ServiceSetup> check_service_config(const std::filesystem::path& path, CheckReport& report);

// `--check` of an agent role (both proxies): its key (file or PKCS#11 URI) and its chain (a JSON
// array of DelegationTokens, or one), each link parsed, the whole held by the key and valid now.
struct AgentFiles {
  std::optional<Identity> identity;
  std::vector<Json> links;  // set when every link parsed and the chain is the key's
};
AgentFiles check_agent_files(const std::optional<std::string>& key, const std::optional<std::string>& chain_path,
                             CheckReport& report);

}  // namespace handshake
