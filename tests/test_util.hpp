// Helpers shared by the test files.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace hsk_test {

// A fresh directory under the system temp dir ("<prefix>-" and mkdtemp's six random characters),
// removed with everything in it. Under /tmp, so the postgres user of the storage tests reaches it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "hsk-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed under " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

#ifdef HSK_PUBLIC_VECTORS_DIR
inline std::string public_vector(const std::string& name) {
  return std::string(HSK_PUBLIC_VECTORS_DIR) + "/" + name;
}
#endif

}  // namespace hsk_test
