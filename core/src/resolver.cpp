#include "handshake/resolver.hpp"

namespace handshake {

KeyResolver::Answer StaticKeyResolver::key_at(const std::string& did, Timestamp) const {
  auto it = keys_.find(did);
  if (it == keys_.end()) return {Status::kNotFound, {}, "unknown DID"};
  return {Status::kFound, it->second, {}};
}

KeyResolver::Answer DirectoryKeyResolver::key_at(const std::string& did, Timestamp at) const {
  const DidKeyHistory* h = directory_.find(did);
  if (h == nullptr) return {Status::kNotFound, {}, "unknown DID"};
  auto key = h->key_at(at);
  if (!key.ok()) return {Status::kNotFound, {}, key.error().message};
  return {Status::kFound, *key, {}};
}

KeyResolver::Answer ChainedKeyResolver::key_at(const std::string& did, Timestamp at) const {
  bool unavailable = false;
  std::string detail = "unknown DID";
  for (const auto& r : list_) {
    auto a = r->key_at(did, at);
    if (a.status == Status::kFound) return a;
    if (a.status == Status::kUnavailable) {
      unavailable = true;
      detail = a.detail;
    }
  }
  return {unavailable ? Status::kUnavailable : Status::kNotFound, {}, detail};
}

}  // namespace handshake
