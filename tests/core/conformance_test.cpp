#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "handshake/conformance.hpp"
#include "test_util.hpp"

namespace hc = handshake::conformance;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "hsk-conf-XXXXXX").string();
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

void require_all_pass(const hc::Report& r, std::size_t at_least) {
  for (const auto& o : r.outcomes) {
    INFO(o.file << ": " << o.detail);
    CHECK(o.passed);
  }
  CHECK(r.failed() == 0);
  CHECK(r.passed() >= at_least);
}

}  // namespace

TEST_CASE("conformance: the committed vectors are exactly what the generator writes", "[conformance]") {
  const fs::path committed = fs::path(HSK_TEST_VECTORS_DIR) / "v0.2.3";
  const fs::path fresh = temp_dir();
  REQUIRE(hc::generate(fresh).ok());
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(fresh)) {
    INFO(e.path().filename().string());
    const auto theirs = committed / e.path().filename();
    REQUIRE(fs::exists(theirs));
    CHECK(hsk_test::read_file(e.path().string()) == hsk_test::read_file(theirs.string()));
    ++n;
  }
  std::size_t committed_count = 0;
  for (const auto& e : fs::directory_iterator(committed)) committed_count += e.path().extension() == ".json";
  CHECK(n == committed_count);
  CHECK(n >= 40);
  fs::remove_all(fresh);
}

TEST_CASE("conformance: our vectors pass", "[conformance]") {
  auto r = hc::run_directory(fs::path(HSK_TEST_VECTORS_DIR) / "v0.2.3");
  REQUIRE(r.ok());
  require_all_pass(*r, 40);
}

TEST_CASE("conformance: the reference vectors replay as their runner does", "[conformance]") {
  auto core = hc::run_directory(fs::path(HSK_REFERENCE_VECTORS_DIR) / "test-vectors" / "core");
  REQUIRE(core.ok());
  require_all_pass(*core, 4);  // 001, 002, 003 and 001 replayed (replay_detected)
  bool replay_seen = false;
  for (const auto& o : core->outcomes) replay_seen |= o.detail == "reject replay_detected";
  CHECK(replay_seen);
  auto codes = hc::run_directory(fs::path(HSK_REFERENCE_VECTORS_DIR) / "conformance" / "error_codes", false);
  REQUIRE(codes.ok());
  require_all_pass(*codes, 6);
}

TEST_CASE("conformance: a vector whose expectation is wrong fails", "[conformance]") {
  const fs::path dir = temp_dir();
  REQUIRE(hc::generate(dir).ok());
  // Flip one expectation: the runner must notice.
  const auto file = dir / "err-aud-mismatch.json";
  auto text = hsk_test::read_file(file.string());
  const auto pos = text.find("\"aud_mismatch\"");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, 14, "\"expired\"");
  {
    std::ofstream out(file, std::ios::trunc);
    out << text;
  }
  auto r = hc::run_directory(dir);
  REQUIRE(r.ok());
  CHECK(r->failed() == 1);
  fs::remove_all(dir);
}
