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
#include "test_util.hpp"

namespace hsk_storage_fx {

template <typename T>
T must(handshake::Result<T> r) {
  if (!r.ok()) throw std::runtime_error("unexpected error: " + r.error().to_string());
  return std::move(r).value();
}

using hsk_test::TempDir;

inline handshake::Identity identity(handshake::PrincipalType type, std::uint8_t seed) {
  return must(handshake::Identity::generate({type, {}, {}, std::vector<std::uint8_t>(32, seed)}));
}

}  // namespace hsk_storage_fx
