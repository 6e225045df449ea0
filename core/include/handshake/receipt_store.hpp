// Where receipts are kept for audit (§12, §18): the operator's own store, beside the registry that
// keeps only their commitments. An agent keeps the receipts it verified; a service keeps the
// receipts and the refusals it issued. Backends: a JSON Lines file, SQLite, PostgreSQL
// (handshake/storage/receipts.hpp).
#pragma once

#include <optional>
#include <string_view>

#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake {

class ReceiptStore {
 public:
  virtual ~ReceiptStore() = default;
  // Keeps a signed receipt, with the Acceptance it answers (null when the caller has none, e.g. a
  // service keeping what it issued) and the action's name in its protocol (an MCP tool, an A2A
  // skill). Durable before it returns; idempotent by receipt id; thread-safe. Errors: kIo or
  // kUnavailable "receipts.store_failed".
  [[nodiscard]] virtual Status put_receipt(const Json& receipt, const Json& acceptance, std::string_view action) = 0;
  // Keeps a signed Refusal the service issued, for the same action naming.
  [[nodiscard]] virtual Status put_refusal(const Json& refusal, std::string_view action) = 0;
  // The receipt stored under `receipt_id`, if any. Errors: kIo or kUnavailable
  // "receipts.store_failed".
  [[nodiscard]] virtual Result<std::optional<Json>> find_receipt(std::string_view receipt_id) const = 0;
};

}  // namespace handshake
