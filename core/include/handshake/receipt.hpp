// Receipts (§12): the service's signed record that an action ran, committing to its result.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake {

// result_hash = {"alg", hex(H(JCS(result)))} with H = SHA-256 ("sha-256", the default) or
// SHA3-256 ("sha3-256", §6.2). Errors: kInvalidArgument "receipt.hash_alg", JCS errors.
[[nodiscard]] Result<HashValue> hash_result(const Json& result, std::string_view alg = "sha-256");

struct ReceiptOptions {
  std::string hash_alg = "sha-256";
  std::vector<std::string> upstream_receipts;  // rc_ ids this action consumed (the receipt DAG)
  // Non-sensitive counts and codes only (§18): never names, e-mails, account contents.
  std::optional<Json> result_summary;
};

// A Receipt for the action `acceptance` authorized: handshake_id = its request_id, sub = its aud
// (the agent), action = its capability, executed_at = now, result status "ok" | "error" |
// "partial", signed by `service` (which must be the acceptance's iss). Errors: kInvalidArgument
// "receipt.status", "receipt.issuer", those of hash_result and sign_message.
[[nodiscard]] Result<Json> issue_receipt(const Identity& service, const Acceptance& acceptance, const Json& result,
                                         std::string_view status, Timestamp now, const ReceiptOptions& options = {});

// Checks one receipt: schema, signature by its iss (key at executed_at), and, when `result` is
// given, that result_hash commits to it. Errors: parse errors, "sig.*", kNotFound
// "did.unresolved", kUnavailable "did.unavailable", kSignature "receipt.result_mismatch".
[[nodiscard]] Status verify_receipt(const Json& receipt, const KeyResolver& keys,
                                    const std::optional<Json>& result = std::nullopt);

// Walks the DAG reachable from `root_id` through upstream_receipts. Every receipt must be
// present in `receipts` (keyed by id), verify, and the graph must have no cycle. Errors name the
// first bad receipt: kNotFound "receipt.missing", kInvalidArgument "receipt.cycle", and those of
// verify_receipt (message prefixed with the receipt id). Bounded by `max_receipts`.
[[nodiscard]] Status verify_receipt_dag(const std::string& root_id, const std::map<std::string, Json>& receipts,
                                        const KeyResolver& keys, std::size_t max_receipts = 10000);

}  // namespace handshake
