// ReceiptStore backends (receipt_store.hpp): a JSON Lines file, SQLite for one host, PostgreSQL
// for several.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "handshake/receipt_store.hpp"
#include "handshake/result.hpp"
#include "handshake/storage/postgres.hpp"

namespace handshake::storage {

// Appends one JSON object per line, flushed per record:
//   {"kind": "receipt", "action": ..., "receipt": {...}, "acceptance": {...} or null
//    [, "delegation_chain": [...] when the caller gave one]}
//   {"kind": "refusal", "action": ..., "refusal": {...}}
// find_receipt and list read the file through. Errors: kIo "receipts.store_failed".
[[nodiscard]] Result<std::unique_ptr<ReceiptStore>> open_receipt_log(const std::filesystem::path& path);

// Tables receipts(id PRIMARY KEY, handshake_id, action, executed_at, receipt, acceptance,
// delegation_chain) and refusals(seq, request_id, action, refusal) in SQLite (WAL); a file made
// before delegation_chain existed gains the column when opened. Errors: kIo "receipts.store_failed".
[[nodiscard]] Result<std::unique_ptr<ReceiptStore>> open_sqlite_receipt_store(const std::filesystem::path& path);

// The same in PostgreSQL (tables hsk_receipts, hsk_refusals; older tables gain delegation_chain
// and a keeping order, seq), shared by every instance. Errors:
// kUnavailable "receipts.store_failed".
[[nodiscard]] Result<std::unique_ptr<ReceiptStore>> open_pg_receipt_store(std::shared_ptr<PgPool> pool);

// "postgresql://..." or "postgres://...": PostgreSQL (password from `password_file` or
// PGPASSFILE); "*.jsonl": a JSON Lines file; anything else: a SQLite file. For command lines.
[[nodiscard]] Result<std::unique_ptr<ReceiptStore>> open_receipt_store(
    const std::string& where, const std::optional<std::filesystem::path>& password_file = std::nullopt);

// The proxies' options: --receipts FILE (JSON Lines) or --receipts-db DB (open_receipt_store,
// with --receipts-db-password-file), at most one; nullptr when neither is given. Errors:
// kInvalidArgument "usage" (both given, or a password file without a database), and those above.
[[nodiscard]] Result<std::unique_ptr<ReceiptStore>> open_receipt_option(
    const std::optional<std::string>& log_file, const std::optional<std::string>& db,
    const std::optional<std::string>& password_file);

}  // namespace handshake::storage
