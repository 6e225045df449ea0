// Strict JSON parser and RFC 8785 canonical writer (json.hpp).
//
// Properties, for every input the strict parser accepts:
//   - it can be canonicalized (the parser refuses everything JCS cannot write);
//   - the canonical text parses again to the same value (parse(canon(x)) == x);
//   - canonicalization is idempotent (canon(parse(canon(x))) == canon(x));
//   - for an object, canonicalize_without(x, k) equals canonicalize(x without k) for its first
//     member k (the signing input of every message).
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hsk_fuzz;
  const auto text = as_text(data, size);
  auto parsed = hs::json::parse_strict(text);
  if (!parsed.ok()) return 0;
  const Json& x = *parsed;

  auto canon = hs::json::canonicalize(x);
  if (!canon.ok()) violated("a value the strict parser accepted cannot be canonicalized", canon.error().to_string());
  auto again = hs::json::parse_strict(*canon);
  if (!again.ok()) violated("the canonical form does not parse", *canon + "\n" + again.error().to_string());
  if (*again != x) violated("parse(canon(x)) != x", *canon);
  auto canon2 = hs::json::canonicalize(*again);
  if (!canon2.ok() || *canon2 != *canon) violated("canonicalization is not idempotent", *canon);

  if (x.is_object() && !x.empty()) {
    const std::string first = x.begin().key();
    Json rest = x;
    rest.erase(first);
    auto without = hs::json::canonicalize_without(x, first);
    auto expected = hs::json::canonicalize(rest);
    if (!without.ok() || !expected.ok() || *without != *expected) {
      violated("canonicalize_without differs from canonicalize of the object without the member", first);
    }
  }
  return 0;
}
