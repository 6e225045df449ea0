// DID Documents a registry publishes (§5.1): every version it accepts is checked as a history
// (self-certifying first version, each later version signed by the one before, §5.3), then
// countersigned by the registry (a proof entry beside the principal's) and stored.
#pragma once

#include <filesystem>
#include <memory>
#include <cstdint>
#include <string>
#include <vector>

#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::registry {

// Where a DidStore keeps its rows: SQLite (DidStore::open) or PostgreSQL
// (handshake/storage/postgres.hpp, open_pg_did_rows). Must be thread-safe.
class DidRows {
 public:
  virtual ~DidRows() = default;
  // The stored versions of `did`, in version order, as stored. Errors: kUnavailable
  // "registry.store_failed".
  [[nodiscard]] virtual Result<std::vector<std::string>> documents(const std::string& did) const = 0;
  // Stores version `version` of `did`, durably; false (nothing stored) when that version is
  // already stored. Errors: kUnavailable "registry.store_failed".
  [[nodiscard]] virtual Result<bool> insert(const std::string& did, std::uint64_t version, const std::string& text) = 0;
};

class DidStore {
 public:
  // SQLite at `path` (WAL, synchronous=FULL). Errors: kUnavailable "registry.store_failed".
  [[nodiscard]] static Result<std::unique_ptr<DidStore>> open(const std::filesystem::path& path);
  explicit DidStore(std::unique_ptr<DidRows> rows) : rows_(std::move(rows)) {}
  DidStore(const DidStore&) = delete;
  DidStore& operator=(const DidStore&) = delete;

  // Accepts the next version of a self-certifying DID (version 1, or stored version + 1 signed by
  // it), adds the registry's proof (verification method "<registry DID>#keys-1") and stores it.
  // Returns the stored, countersigned document. Errors: kSignature "diddoc.untrusted" (not
  // self-certifying: the registry cannot vouch for a handle or a domain), kInvalidArgument
  // "diddoc.history" (not the next version, or the same version published at the same moment
  // by another registry process), parse and signature errors, kUnavailable.
  [[nodiscard]] Result<Json> publish(const Json& document, const Identity& registry, Timestamp now);
  // Every stored version, oldest first. Errors: kNotFound "did.not_found", kUnavailable.
  [[nodiscard]] Result<std::vector<Json>> versions(const std::string& did) const;

 private:
  std::unique_ptr<DidRows> rows_;
};

// The registry's own documents as a KeyResolver (e.g. to check RevocationStatements from the
// principals it publishes). Every answer rebuilds the history from the store, checked as a whole.
class DidStoreKeyResolver final : public KeyResolver {
 public:
  explicit DidStoreKeyResolver(const DidStore& store) : store_(store) {}
  [[nodiscard]] Answer key_at(const std::string& did, Timestamp at) const override;

 private:
  const DidStore& store_;
};

}  // namespace handshake::registry
