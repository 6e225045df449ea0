// SQLite stores: the embedded default, for one host (handshake::storage, target handshake::storage).
// Several processes on one host may share a file (WAL and SQLite's own locking); several hosts
// share state through PostgreSQL instead (handshake/storage/postgres.hpp).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "handshake/nonce_store.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/revocation.hpp"

namespace handshake::storage {

// The NonceStore contract (nonce_store.hpp) in SQLite (WAL) at `path`. The row count is kept
// exact by triggers in the same transactions, so `max_entries` holds across every process on the
// file. Expired rows are swept as inserts go on. Errors: kUnavailable "nonce.store_failed" when
// the database cannot be opened or initialized.
[[nodiscard]] Result<std::unique_ptr<NonceStore>> open_sqlite_nonce_store(const std::filesystem::path& path,
                                                                         std::size_t max_entries = 10'000'000);

// RevocationStatements in SQLite (WAL) at `path`: every accepted statement is stored and the
// in-memory index is rebuilt from it on open; refresh() picks up rows added by other processes.
// `keys` is borrowed and must outlive the store. Errors: kUnavailable "revocation.store_failed",
// and those of add_statement for a stored row that no longer verifies.
[[nodiscard]] Result<std::unique_ptr<RevocationStore>> open_sqlite_revocation_store(
    const std::filesystem::path& path, const KeyResolver& keys, const std::vector<std::string>& authorities = {});

}  // namespace handshake::storage
