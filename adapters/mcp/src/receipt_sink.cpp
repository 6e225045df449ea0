#include <sqlite3.h>

#include <cstdio>
#include <mutex>

#include "handshake/mcp/agent_gate.hpp"

namespace handshake::mcp {

namespace {

class FileSink final : public ReceiptSink {
 public:
  explicit FileSink(std::FILE* f) : f_(f) {}
  ~FileSink() override { std::fclose(f_); }
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  Status store(const Json& receipt, const Json& acceptance, std::string_view tool) override {
    const std::string line =
        serialize(Json{{"tool", std::string(tool)}, {"receipt", receipt}, {"acceptance", acceptance}}) + "\n";
    std::lock_guard lock(mu_);
    if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0) {
      return make_error(ErrorCode::kIo, "mcp.receipts_write", "cannot append to the receipts file");
    }
    return ok_status();
  }

 private:
  std::mutex mu_;
  std::FILE* f_;
};

class DbSink final : public ReceiptSink {
 public:
  explicit DbSink(sqlite3* db) : db_(db) {}
  ~DbSink() override { sqlite3_close(db_); }
  DbSink(const DbSink&) = delete;
  DbSink& operator=(const DbSink&) = delete;

  Status store(const Json& receipt, const Json& acceptance, std::string_view tool) override {
    auto str = [&](const char* k) {
      return receipt.contains(k) && receipt[k].is_string() ? receipt[k].get<std::string>() : std::string();
    };
    const std::string id = str("id"), hs = str("handshake_id"), at = str("executed_at");
    const std::string r = serialize(receipt), a = serialize(acceptance), t(tool);
    std::lock_guard lock(mu_);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_,
                           "INSERT OR REPLACE INTO receipts(id, handshake_id, tool, executed_at, receipt, acceptance) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, nullptr) != SQLITE_OK) {
      return make_error(ErrorCode::kIo, "mcp.receipts_write", sqlite3_errmsg(db_));
    }
    const std::string* values[] = {&id, &hs, &t, &at, &r, &a};
    for (int i = 0; i < 6; ++i) {
      sqlite3_bind_text(st, i + 1, values[i]->c_str(), static_cast<int>(values[i]->size()), SQLITE_TRANSIENT);
    }
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return make_error(ErrorCode::kIo, "mcp.receipts_write", sqlite3_errmsg(db_));
    return ok_status();
  }

 private:
  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<ReceiptSink>> open_receipt_file(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (f == nullptr) return make_error(ErrorCode::kIo, "mcp.receipts_open", "cannot open " + path.string());
  return std::unique_ptr<ReceiptSink>(std::make_unique<FileSink>(f));
}

Result<std::unique_ptr<ReceiptSink>> open_receipt_db(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return make_error(ErrorCode::kIo, "mcp.receipts_open", path.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  if (sqlite3_exec(db,
                   "PRAGMA journal_mode=WAL;"
                   "CREATE TABLE IF NOT EXISTS receipts(id TEXT PRIMARY KEY, handshake_id TEXT, tool TEXT, "
                   "executed_at TEXT, receipt TEXT NOT NULL, acceptance TEXT)",
                   nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "?";
    sqlite3_free(err);
    sqlite3_close(db);
    return make_error(ErrorCode::kIo, "mcp.receipts_open", path.string() + ": " + msg);
  }
  return std::unique_ptr<ReceiptSink>(std::make_unique<DbSink>(db));
}

}  // namespace handshake::mcp
