// Where receipts are kept for audit (§12, §18): the operator's own store, beside the registry that
// keeps only their commitments. An agent keeps the receipts it verified; a service keeps the
// receipts and the refusals it issued. Backends: a JSON Lines file, SQLite, PostgreSQL
// (handshake/storage/receipts.hpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake {

// One kept record as the store holds it, for audit (hsk console): nothing re-verified, nothing
// repaired; a record whose stored text no longer parses is skipped by list().
struct StoredRecord {
  enum class Kind { kReceipt, kRefusal };
  Kind kind = Kind::kReceipt;
  std::string action;          // the action's name in its protocol (MCP tool, A2A skill)
  Json message;                // the signed Receipt or Refusal
  Json acceptance;             // the Acceptance a receipt answers; null when not kept
  Json delegation_chain;       // the DelegationTokens root -> leaf of the call; null when not kept
};

// Which records list() returns; every member that is set must match.
struct RecordFilter {
  std::optional<StoredRecord::Kind> kind;
  std::optional<std::string> agent;       // a receipt's "sub", a refusal's "aud"
  // A receipt's "action" (capability) or the stored action name: equal, or a prefix of it that
  // ends where a ':' or '.' follows ("billing" matches "billing.invoices:read").
  std::optional<std::string> capability;
  std::optional<std::string> code;        // a refusal's reason.code; a receipt's "result" (ok, error, partial)
  std::optional<std::string> since;       // RFC 3339: executed_at (receipts) or iat (refusals) >= since
  std::optional<std::string> until;       // ... <= until
  std::size_t limit = 1000;               // newest first, at most this many
};

// Whether `record` passes `filter` (all backends filter with this one rule). A record whose time
// does not parse fails a since/until bound. `since`/`until` that do not parse match nothing.
[[nodiscard]] bool record_matches(const StoredRecord& record, const RecordFilter& filter);

class ReceiptStore {
 public:
  virtual ~ReceiptStore() = default;
  // Keeps a signed receipt, with the Acceptance it answers (null when the caller has none, e.g. a
  // service keeping what it issued) and the action's name in its protocol (an MCP tool, an A2A
  // skill). Durable before it returns; idempotent by receipt id; thread-safe. Errors: kIo or
  // kUnavailable "receipts.store_failed".
  // `delegation_chain`: the call's DelegationTokens root -> leaf (a JSON array), when the caller
  // (an agent) has them; null otherwise.
  [[nodiscard]] virtual Status put_receipt(const Json& receipt, const Json& acceptance, std::string_view action,
                                           const Json& delegation_chain) = 0;
  [[nodiscard]] Status put_receipt(const Json& receipt, const Json& acceptance, std::string_view action) {
    return put_receipt(receipt, acceptance, action, Json());
  }
  // Keeps a signed Refusal the service issued, for the same action naming.
  [[nodiscard]] virtual Status put_refusal(const Json& refusal, std::string_view action) = 0;
  // The receipt stored under `receipt_id`, if any. Errors: kIo or kUnavailable
  // "receipts.store_failed".
  [[nodiscard]] virtual Result<std::optional<Json>> find_receipt(std::string_view receipt_id) const = 0;
  // The kept receipts and refusals that pass `filter` (record_matches), newest first (by the
  // order they were kept), at most filter.limit. A JSON Lines file lists every line it holds (a
  // receipt kept twice appears twice); SQLite and PostgreSQL keep one row per receipt id.
  // Errors: kIo or kUnavailable "receipts.store_failed".
  [[nodiscard]] virtual Result<std::vector<StoredRecord>> list(const RecordFilter& filter) const = 0;
};

}  // namespace handshake
