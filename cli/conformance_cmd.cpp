// hsk conformance: replay conformance vectors, or write ours.

#include <iostream>
#include <string>
#include <vector>

#include "common.hpp"
#include "handshake/conformance.hpp"

namespace hsk::cli {

int cmd_conformance(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk conformance DIR [DIR...]\n"
      "       hsk conformance generate DIR\n"
      "\n"
      "Runs every *.json vector in each DIR and prints one line per vector (PASS/FAIL, id, outcome),\n"
      "then 'N passed, M failed'. Our vectors (tests/vectors/v0.2.3) carry real keys and signatures;\n"
      "the reference vectors (placeholder signatures) are replayed as their runner does: keys from\n"
      "SHA-256(DID), every link re-signed, malformed ids and nonces made well-formed (a lenient mode\n"
      "used only here), and the first accepted vector presented twice must be refused replay_detected.\n"
      "'generate' writes our vectors deterministically (seeded keys, fixed clock): the same bytes each time.\n"
      "Exit 0 when every vector passes, 1 otherwise, 2 usage.\n";
  std::string err;
  auto a = parse_args(argv, {}, {}, err);
  if (!a) return usage_error("conformance", err);
  if (a->help) return std::cout << kHelp, kOk;
  if (a->positional.empty()) return usage_error("conformance", "expected a vector directory");
  if (a->positional[0] == "generate") {
    if (a->positional.size() != 2) return usage_error("conformance", "generate takes exactly one DIR");
    if (auto s = handshake::conformance::generate(a->positional[1]); !s.ok()) return refused("conformance", s.error());
    std::cout << "wrote vectors to " << a->positional[1] << "\n";
    return kOk;
  }
  std::size_t passed = 0, failed = 0;
  for (const auto& dir : a->positional) {
    auto report = handshake::conformance::run_directory(dir);
    if (!report.ok()) return refused("conformance", report.error());
    for (const auto& o : report->outcomes) {
      std::cout << (o.passed ? "PASS " : "FAIL ") << o.vector_id << ": " << o.detail << "\n";
    }
    passed += report->passed();
    failed += report->failed();
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 && passed > 0 ? kOk : kRefused;
}

}  // namespace hsk::cli
