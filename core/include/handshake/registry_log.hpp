// The registry's append-only Merkle log (§12 anchoring, RFC 9162) and its signed tree heads.
//
// Leaves are commitments (§18): the registry stores leaf hashes, never receipts. An append is
// acknowledged only once durable; many leaves share one transaction, so throughput does not pay
// one fsync per leaf. The log stores every perfect subtree hash, so proofs read O(log n) hashes
// (merkle::NodeReader) and nothing is ever recomputed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "handshake/crypto.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/merkle.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::registry {

// One storage interface; SQLite is the embedded default and PostgreSQL can sit behind it later.
class LogStore : public merkle::NodeReader {
 public:
  // Appends the leaves not already present, in order, durably, in one transaction. Returns the
  // index of each given leaf (an existing leaf keeps its first index). Errors: kUnavailable
  // "registry.store_failed" — then nothing of the batch is committed.
  [[nodiscard]] virtual Result<std::vector<std::uint64_t>> append(std::span<const merkle::Hash> leaves) = 0;
  [[nodiscard]] virtual Result<std::uint64_t> size() const = 0;
  // The index of a leaf hash, or kNotFound "registry.unknown_leaf".
  [[nodiscard]] virtual Result<std::uint64_t> index_of(const merkle::Hash& leaf) const = 0;
};

// SQLite (WAL, synchronous=FULL: an acknowledged append survives power loss). Safe to reopen
// after a crash at any point: a transaction either committed whole or not at all.
// Errors: kUnavailable "registry.store_failed".
[[nodiscard]] Result<std::unique_ptr<LogStore>> open_sqlite_log(const std::filesystem::path& path);

// A signed tree head: {"tree_size", "root_hash" (hex), "timestamp" (RFC 3339), "log_id" (the
// registry's DID), "alg": "EdDSA", "signature"} with the signature over JCS(head without
// "signature") by the registry's key.
struct TreeHead {
  std::uint64_t tree_size = 0;
  merkle::Hash root_hash{};
  Timestamp timestamp{};
  std::string log_id;
  [[nodiscard]] Json to_json() const;  // unsigned
};

// The current head of `log`, signed by `registry`.
[[nodiscard]] Result<Json> sign_tree_head(const LogStore& log, const Identity& registry, Timestamp now);
// Parses and checks a signed tree head with the registry's key. Errors: kSchema
// "registry.tree_head", "sig.*".
[[nodiscard]] Result<TreeHead> verify_tree_head(const Json& head, const crypto::PublicKey& registry_key);

}  // namespace handshake::registry
