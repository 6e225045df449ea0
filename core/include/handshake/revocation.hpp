// Revocation (§11): RevocationStatements and the sources a service consults.
//
// Authority: a statement revoking a delegation counts only against a link issued by the
// statement's own issuer (a principal revokes what it issued); a statement revoking a principal
// counts only when signed by that principal itself (key compromise, §17) or by a configured
// revocation authority (e.g. the org that deployed it). Entries from trusted configuration (a
// registry's verified feed, conformance vectors' registry_state) carry no such check.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake {

class RevocationSource {
 public:
  enum class Answer { kNotRevoked, kRevoked, kUnavailable };
  virtual ~RevocationSource() = default;
  // Whether delegation `id`, issued by `issuer`, is revoked at `at`.
  [[nodiscard]] virtual Answer delegation_revoked(std::string_view id, std::string_view issuer, Timestamp at) const = 0;
  // Whether principal `did` is revoked at `at`.
  [[nodiscard]] virtual Answer principal_revoked(std::string_view did, Timestamp at) const = 0;
};

// A new RevocationStatement, signed by `issuer`. Exactly one of delegation_id / principal.
// Errors: kInvalidArgument "revocation.target", those of sign_message.
[[nodiscard]] Result<Json> make_revocation(const Identity& issuer, std::optional<std::string> delegation_id,
                                           std::optional<std::string> principal, std::string_view reason,
                                           Timestamp now, std::optional<Timestamp> effective_at = std::nullopt);

// Revocations held in memory; thread-safe. The building block of the file and SQLite sources.
class RevocationList final : public RevocationSource {
 public:
  // Verifies the statement (schema, signature with the issuer's key at its iat, authority rules
  // above) and records it. Errors: parse errors, kSignature "sig.*", kNotFound "did.unresolved",
  // kPermission "revocation.authority".
  [[nodiscard]] Status add_statement(const Json& statement, const KeyResolver& keys);
  // The checks of add_statement without recording anything.
  [[nodiscard]] Status check_statement(const Json& statement, const KeyResolver& keys) const;
  // Trusted entries (no signature to check): "issuer" empty means "whoever issued it".
  void add_delegation(std::string id, std::string issuer = {}, Timestamp effective_at = Timestamp::min());
  void add_principal(std::string did, Timestamp effective_at = Timestamp::min());
  // Principals whose statements may revoke other principals (besides self-revocation).
  void add_authority(std::string did);

  [[nodiscard]] Answer delegation_revoked(std::string_view id, std::string_view issuer, Timestamp at) const override;
  [[nodiscard]] Answer principal_revoked(std::string_view did, Timestamp at) const override;
  [[nodiscard]] std::size_t size() const;

 private:
  struct DelegationEntry {
    std::string issuer;  // empty: any
    Timestamp effective_at;
  };
  [[nodiscard]] Result<RevocationStatement> verified(const Json& statement, const KeyResolver& keys) const;
  mutable std::shared_mutex mu_;
  std::multimap<std::string, DelegationEntry, std::less<>> delegations_;
  std::map<std::string, Timestamp, std::less<>> principals_;
  std::set<std::string, std::less<>> authorities_;
};

// Reads a JSON file holding an array of signed RevocationStatements into `list`. Every
// statement must verify; the first that does not is reported. Errors: kIo, parse errors, those
// of add_statement.
[[nodiscard]] Status load_revocation_file(const std::filesystem::path& path, const KeyResolver& keys,
                                          RevocationList& list);

// A source that also persists statements and can be added to: SQLite (one host) and PostgreSQL
// (several hosts) in handshake::storage. Every implementation keeps what it accepted forever
// (a store never forgets a revocation) and answers kUnavailable when it cannot tell.
class RevocationStore : public RevocationSource {
 public:
  // Verifies `statement` (as RevocationList::add_statement) and stores it durably before it takes
  // effect; idempotent by statement id. Errors: those of add_statement, kUnavailable
  // "revocation.store_failed".
  [[nodiscard]] virtual Status add_statement(const Json& statement) = 0;
  // Loads statements added since the last refresh, by this or another process. Errors:
  // kUnavailable "revocation.store_failed" (then the store answers kUnavailable until a refresh
  // succeeds).
  [[nodiscard]] virtual Status refresh() = 0;
};

}  // namespace handshake
