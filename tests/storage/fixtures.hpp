// Shared by the storage contract suites: the value of a Result (or the test fails), a temp dir
// removed with everything in it, deterministic identities.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "handshake/identity.hpp"
#include "handshake/result.hpp"

namespace hsk_storage_fx {

template <typename T>
T must(handshake::Result<T> r) {
  if (!r.ok()) throw std::runtime_error("unexpected error: " + r.error().to_string());
  return std::move(r).value();
}

// A fresh directory under the system temp dir (reachable by the postgres user), removed after.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "hsk-storage") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline handshake::Identity identity(handshake::PrincipalType type, std::uint8_t seed) {
  return must(handshake::Identity::generate({type, {}, {}, std::vector<std::uint8_t>(32, seed)}));
}

}  // namespace hsk_storage_fx
