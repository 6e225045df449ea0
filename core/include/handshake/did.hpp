// did:hsk identifiers (§5).
//
// For agent, svc and org principals the identifier is self-certifying: "z" + base58btc of the
// SHA-256 of the raw 32-byte Ed25519 public key, so a DID Document whose first version carries
// that key proves itself. An org may instead be named by its domain (did:hsk:org:acme.com,
// resolved at https://acme.com/.well-known/handshake/did.json), and a user by a handle
// (did:hsk:user:bob@acme.com); those prove nothing by themselves and resolve only through a
// trusted source.
#pragma once

#include <string>
#include <string_view>

#include "handshake/crypto.hpp"
#include "handshake/result.hpp"

namespace handshake {

enum class PrincipalType { kUser, kAgent, kSvc, kOrg };

[[nodiscard]] std::string_view to_string(PrincipalType t) noexcept;
// "user", "agent", "svc", "org". Errors: kInvalidArgument "did.unknown_type".
[[nodiscard]] Result<PrincipalType> parse_principal_type(std::string_view text);

inline constexpr std::size_t kMaxDidLength = 512;

struct Did {
  PrincipalType type = PrincipalType::kAgent;
  std::string id;  // the part after "did:hsk:<type>:"

  [[nodiscard]] std::string str() const;
  friend bool operator==(const Did&, const Did&) = default;
};

// Parses "did:hsk:<user|agent|svc|org>:<id>" where id matches [A-Za-z0-9._@:%-]+ (the reference
// schema's rule; non-ASCII look-alikes are therefore refused) and the whole DID is at most
// kMaxDidLength bytes. Errors: kInvalidArgument "did.invalid".
[[nodiscard]] Result<Did> parse_did(std::string_view text);

// "z" + base58btc(SHA-256(key)).
[[nodiscard]] std::string key_hash_id(const crypto::PublicKey& key);
// The self-certifying DID of `key` for an agent, svc or org.
[[nodiscard]] Did did_for_key(PrincipalType type, const crypto::PublicKey& key);
// True when the identifier has the key-hash form (z + base58btc of 32 bytes).
[[nodiscard]] bool is_key_hash_id(std::string_view id);
// True when `did` is self-certifying and names exactly `key`.
[[nodiscard]] bool did_binds_key(const Did& did, const crypto::PublicKey& key);

}  // namespace handshake
