// Key resolution: which Ed25519 key a principal held at a given time (§5.1, §5.3).
//
// Resolvers form a list tried in order (local directory -> cache -> registry -> well-known
// HTTPS). A resolver that cannot answer says kUnavailable, and a verifier turns that into
// service_unavailable, never into an accept.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "handshake/crypto.hpp"
#include "handshake/did_document.hpp"
#include "handshake/time.hpp"

namespace handshake {

class KeyResolver {
 public:
  enum class Status { kFound, kNotFound, kUnavailable };
  struct Answer {
    Status status = Status::kNotFound;
    crypto::PublicKey key{};
    std::string detail;
  };
  virtual ~KeyResolver() = default;
  // The key `did` held at `at`. Must be safe to call from several threads at once.
  [[nodiscard]] virtual Answer key_at(const std::string& did, Timestamp at) const = 0;
};

// Fixed keys, one per DID, valid at every time (configuration, test vectors).
class StaticKeyResolver final : public KeyResolver {
 public:
  void add(std::string did, const crypto::PublicKey& key) { keys_[std::move(did)] = key; }
  [[nodiscard]] Answer key_at(const std::string& did, Timestamp at) const override;

 private:
  std::map<std::string, crypto::PublicKey> keys_;
};

// Versioned documents (DidDirectory): the key whose validity window contains the time.
class DirectoryKeyResolver final : public KeyResolver {
 public:
  explicit DirectoryKeyResolver(DidDirectory directory) : directory_(std::move(directory)) {}
  [[nodiscard]] Answer key_at(const std::string& did, Timestamp at) const override;

 private:
  DidDirectory directory_;
};

// Tries each resolver in order; the first kFound wins. kUnavailable if none found and any was
// unavailable, else kNotFound.
class ChainedKeyResolver final : public KeyResolver {
 public:
  void add(std::shared_ptr<const KeyResolver> r) { list_.push_back(std::move(r)); }
  [[nodiscard]] Answer key_at(const std::string& did, Timestamp at) const override;

 private:
  std::vector<std::shared_ptr<const KeyResolver>> list_;
};

}  // namespace handshake
