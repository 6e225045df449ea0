// A real PostgreSQL 15 cluster for the tests (tests/tools/pg_cluster.sh): started on first use in
// a temp dir on a free loopback port, stopped and removed when the test process exits. Each store
// under test gets a schema of its own (search_path in the URL), so tests never see each other's
// rows.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>

namespace hsk_test {

class PgCluster {
 public:
  // The process's cluster, started on first use.
  static PgCluster& shared() {
    static PgCluster cluster;
    return cluster;
  }

  [[nodiscard]] int port() const { return port_; }
  // The cluster's URL, database postgres, no schema.
  [[nodiscard]] std::string base_url() const { return "postgresql://hsk@127.0.0.1:" + std::to_string(port_) + "/postgres"; }

  // A URL whose tables live in a fresh schema.
  [[nodiscard]] std::string fresh_url() {
    const std::string schema = "t" + std::to_string(::getpid()) + "_" + std::to_string(next_++);
    psql("CREATE SCHEMA " + schema);
    return base_url() + "?options=-csearch_path%3D" + schema;
  }

  // Runs SQL through psql; throws when it fails.
  void psql(const std::string& sql) const {
    const std::string cmd = "psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " + std::to_string(port_) +
                            " -U hsk -d postgres -c \"" + sql + "\" >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("psql failed: " + sql);
  }

  // A role that must log in with `password` (SCRAM); the others keep trust authentication.
  void require_password(const std::string& user, const std::string& password) {
    script(("password " + dir_.string() + " " + user + " " + password).c_str(), false, /*dir_given=*/true);
  }

  // Crash the server (immediate shutdown), and start it again on the same port.
  void halt() { script("halt"); }
  void resume() { script("resume"); }

  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;
  ~PgCluster() { script("stop", /*quiet=*/true); }

 private:
  PgCluster() {
    dir_ = std::filesystem::temp_directory_path() / ("hsk-pg-" + std::to_string(::getpid()));
    const std::string out = (dir_.string() + ".port");
    const std::string cmd = "bash " + script_path() + " start " + dir_.string() + " > " + out;
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot start PostgreSQL (see " + dir_.string() + ")");
    std::ifstream in(out);
    in >> port_;
    std::filesystem::remove(out);
    if (port_ <= 0) throw std::runtime_error("PostgreSQL started without a port");
  }

  static std::string script_path() {
    return (std::filesystem::path(HSK_TEST_SOURCE_DIR) / "tools" / "pg_cluster.sh").string();
  }

  void script(const char* what, bool quiet = false, bool dir_given = false) const {
    std::string cmd = "bash ";
    cmd.append(script_path()).append(" ").append(what);
    if (!dir_given) cmd.append(" ").append(dir_.string());
    if (quiet) cmd.append(" >/dev/null 2>&1");
    if (std::system(cmd.c_str()) != 0 && !quiet) throw std::runtime_error(std::string("pg_cluster.sh ") + what + " failed");
  }

  std::filesystem::path dir_;
  int port_ = 0;
  std::atomic<int> next_{0};
};

}  // namespace hsk_test
