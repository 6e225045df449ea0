// Revocations a registry publishes (§11, §22.2, §22.3) and the registry-signed feed that serves
// them (reference schema revocations-published-feed.json).
//
// Two kinds of record, one SQLite store:
// - RevocationStatements (signed by their issuer, checked by the caller before they get here),
//   kept verbatim and served as an array so any verifier can check each issuer's signature
//   itself (PolledRevocationFeed). A statement that revokes a principal also becomes a feed
//   entry with key_id "*" (every key of the subject).
// - Feed entries {subject_did, key_id, reason, tree_head_id}, from statements or from the
//   operator (§22.3), idempotent on (subject_did, key_id, tree_head_id): re-publishing returns the
//   original id and published_at.
//
// The feed is signed by the registry over JCS(envelope without "signature"); a verifier checks
// that signature with the registry's key before it trusts any field (verify_revocation_feed).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "handshake/crypto.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/merkle.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::registry {

// The id of a signed tree head, as feed entries carry it: "th_<tree_size>_<root hex>".
[[nodiscard]] std::string tree_head_id(std::uint64_t tree_size, const merkle::Hash& root);

// key_id of an entry that revokes every key of its subject (a RevocationStatement for a principal).
inline constexpr const char* kAllKeys = "*";

struct RevocationEntry {
  std::string id;  // "rvp_" + ULID, assigned by the registry
  std::string subject_did;
  std::string key_id;
  std::string reason;
  Timestamp revoked_at{};
  std::string tree_head_id;
  Timestamp published_at{};
  [[nodiscard]] Json to_json() const;  // the feed's RevocationEntry (no published_at)
};

// Where a RevocationPublisher keeps its rows: SQLite (RevocationPublisher::open) or PostgreSQL
// (handshake/storage/postgres.hpp, open_pg_revocation_rows). Must be thread-safe; every write
// durable before it returns. Errors: kUnavailable "registry.store_failed".
class RevocationRows {
 public:
  virtual ~RevocationRows() = default;
  struct StoredStatement {
    std::string body;                     // JCS of the statement
    std::optional<std::string> entry_id;  // the feed entry it became, if any
  };
  // The entry stored for the triple, if any.
  [[nodiscard]] virtual Result<std::optional<RevocationEntry>> find_entry(const std::string& subject_did,
                                                                          const std::string& key_id,
                                                                          const std::string& tree_head_id) const = 0;
  [[nodiscard]] virtual Result<std::optional<RevocationEntry>> entry(const std::string& id) const = 0;
  // Stores `e` unless an entry with its triple is stored; returns the one stored (first wins).
  [[nodiscard]] virtual Result<RevocationEntry> insert_entry(const RevocationEntry& e) = 0;
  [[nodiscard]] virtual Result<std::optional<StoredStatement>> statement(const std::string& id) const = 0;
  // Stores a statement unless one is stored under `id` (first wins).
  [[nodiscard]] virtual Status insert_statement(const std::string& id, const StoredStatement& s) = 0;
  // Every stored statement body, in the order they were stored.
  [[nodiscard]] virtual Result<std::vector<std::string>> statements() const = 0;
  // Entries ordered by revoked_at DESC then id DESC, strictly after (revoked_at, id) when given,
  // at most `limit`.
  [[nodiscard]] virtual Result<std::vector<RevocationEntry>> entries(
      const std::optional<std::pair<Timestamp, std::string>>& after, std::size_t limit) const = 0;
};

class RevocationPublisher {
 public:
  // SQLite at `path` (WAL, synchronous=FULL). Errors: kUnavailable "registry.store_failed".
  [[nodiscard]] static Result<std::unique_ptr<RevocationPublisher>> open(const std::filesystem::path& path);
  explicit RevocationPublisher(std::unique_ptr<RevocationRows> rows) : rows_(std::move(rows)) {}
  RevocationPublisher(const RevocationPublisher&) = delete;
  RevocationPublisher& operator=(const RevocationPublisher&) = delete;

  // Records a feed entry, durably. Idempotent on (subject_did, key_id, tree_head_id): a repeat
  // returns the stored entry unchanged. Errors: kInvalidArgument "revocation.entry" (a field
  // empty or over 1 KiB, a subject that is not a DID), kUnavailable.
  [[nodiscard]] Result<RevocationEntry> publish(const std::string& subject_did, const std::string& key_id,
                                                const std::string& reason, const std::string& tree_head_id,
                                                Timestamp revoked_at, Timestamp now);
  // Stores a RevocationStatement the caller has verified (schema, signature, authority), and for
  // a principal revocation publishes its entry (revoked_at = effective_at or iat). Idempotent by
  // statement id; another statement under a stored id is refused (kInvalidArgument
  // "revocation.conflict"). Returns the entry, if any.
  [[nodiscard]] Result<std::optional<RevocationEntry>> add_statement(const Json& statement,
                                                                     const std::string& tree_head_id, Timestamp now);
  // Every stored statement, in the order they were stored.
  [[nodiscard]] Result<std::vector<Json>> statements() const;
  // Entries ordered by revoked_at DESC, then id DESC, starting after `cursor` (from a previous
  // page), at most `limit`. Errors: kInvalidArgument "revocation.cursor", kUnavailable.
  struct Page {
    std::vector<RevocationEntry> entries;
    std::optional<std::string> next_cursor;
  };
  [[nodiscard]] Result<Page> page(const std::optional<std::string>& cursor, std::size_t limit) const;

 private:
  std::unique_ptr<RevocationRows> rows_;
  std::mutex statement_mu_;  // one add_statement at a time here: a repeat must see the first one whole
};

// The signed feed envelope (version 1) for one page, signed by `registry` with key id
// "<registry DID>#keys-1".
[[nodiscard]] Result<Json> sign_revocation_feed(const Identity& registry, const RevocationPublisher::Page& page,
                                                Timestamp as_of);

struct VerifiedFeed {
  Timestamp as_of{};
  std::vector<RevocationEntry> entries;  // published_at unset
  std::optional<std::string> next_cursor;
};

// Checks a feed envelope before anything of it is used: the reference schema, issuer_did equal to
// `registry_did`, signature.key_id naming that DID, the Ed25519 signature with `registry_key`,
// and every entry's timestamps. Errors: kSchema "feed.invalid" / "schema.invalid", kSignature
// "feed.issuer", "sig.malformed", "sig.invalid".
[[nodiscard]] Result<VerifiedFeed> verify_revocation_feed(const Json& feed, const std::string& registry_did,
                                                          const crypto::PublicKey& registry_key);

}  // namespace handshake::registry
