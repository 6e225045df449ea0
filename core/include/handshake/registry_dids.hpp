// DID Documents a registry publishes (§5.1): every version it accepts is checked as a history
// (self-certifying first version, each later version signed by the one before, §5.3), then
// countersigned by the registry (a proof entry beside the principal's) and stored.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::registry {

class DidStore {
 public:
  // SQLite at `path` (WAL). Errors: kUnavailable "registry.store_failed".
  [[nodiscard]] static Result<std::unique_ptr<DidStore>> open(const std::filesystem::path& path);
  ~DidStore();
  DidStore(const DidStore&) = delete;
  DidStore& operator=(const DidStore&) = delete;

  // Accepts the next version of a self-certifying DID (version 1, or stored version + 1 signed by
  // it), adds the registry's proof (verification method "<registry DID>#keys-1") and stores it.
  // Returns the stored, countersigned document. Errors: kSignature "diddoc.untrusted" (not
  // self-certifying: the registry cannot vouch for a handle or a domain), kInvalidArgument
  // "diddoc.history" (not the next version), parse and signature errors, kUnavailable.
  [[nodiscard]] Result<Json> publish(const Json& document, const Identity& registry, Timestamp now);
  // Every stored version, oldest first. Errors: kNotFound "did.not_found", kUnavailable.
  [[nodiscard]] Result<std::vector<Json>> versions(const std::string& did) const;

 private:
  explicit DidStore(void* db) : db_(db) {}
  void* db_;  // sqlite3*
  mutable std::mutex mu_;
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
