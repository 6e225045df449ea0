// Principals' key pairs and the key files that hold them.
//
// Key file (JSON, written with mode 0600, refused on load when group or others have any access):
//   {"type": "handshake-key", "format_version": 1, "did": "did:hsk:agent:z...",
//    "key_version": 1, "alg": "Ed25519", "public_key": "<base64url>", "seed": "<base64url>"}
// "seed" is the RFC 8032 32-byte private key. "key_version" counts rotations (§5.3): version 1 of
// a self-certifying DID must be the key the identifier hashes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <vector>
#include <string>

#include "handshake/crypto.hpp"
#include "handshake/did.hpp"
#include "handshake/result.hpp"

namespace handshake {

struct IdentityOptions {
  PrincipalType type = PrincipalType::kAgent;
  // user only, and required for it: the handle (e-mail or OIDC subject) after did:hsk:user:.
  std::optional<std::string> handle;
  // org only, optional: name the org by its domain (did:hsk:org:acme.com) instead of its key.
  std::optional<std::string> domain;
  // 32 bytes for a deterministic key (tests, vectors); absent for a key from the CSPRNG.
  std::optional<std::vector<std::uint8_t>> seed;
};

class Identity {
 public:
  // Errors: kInvalidArgument "identity.options" (a handle for a non-user, a domain for a non-org,
  // a user without a handle, a malformed handle or domain), kKey "key.seed_length".
  [[nodiscard]] static Result<Identity> generate(const IdentityOptions& options);
  // Wraps an existing key. Errors: kInvalidArgument "identity.options" when key_version is 0, or
  // kKey "identity.did_mismatch" when key_version is 1 and a self-certifying `did` does not
  // hash `key`.
  [[nodiscard]] static Result<Identity> from_key(Did did, crypto::SigningKey key, std::uint64_t key_version = 1);
  // Wraps a signer held elsewhere (a PKCS#11 token: pkcs11.hpp); the same checks as from_key.
  [[nodiscard]] static Result<Identity> from_signer(Did did, std::shared_ptr<const crypto::Signer> signer,
                                                    std::uint64_t key_version = 1);

  [[nodiscard]] const Did& did() const noexcept { return did_; }
  [[nodiscard]] std::string did_string() const { return did_.str(); }
  // What signs for this identity. Copies of an Identity share it (Service, Agent, the bridge and
  // the gates borrow one signer; no secret is copied).
  [[nodiscard]] const crypto::Signer& key() const noexcept { return *signer_; }
  [[nodiscard]] const std::shared_ptr<const crypto::Signer>& signer() const noexcept { return signer_; }
  [[nodiscard]] const crypto::PublicKey& public_key() const noexcept { return signer_->public_key(); }
  [[nodiscard]] std::uint64_t key_version() const noexcept { return key_version_; }

  // The same DID with a fresh key, key_version + 1 (§5.3). The caller publishes the next DID
  // Document version, signed by this (previous) identity: see rotate_did_document().
  [[nodiscard]] Identity rotated() const;

 private:
  Identity(Did did, std::shared_ptr<const crypto::Signer> signer, std::uint64_t version)
      : did_(std::move(did)), signer_(std::move(signer)), key_version_(version) {}
  Did did_;
  std::shared_ptr<const crypto::Signer> signer_;
  std::uint64_t key_version_ = 1;
};

// Writes the key file with mode 0600 (whatever the umask). Refuses to replace an existing file
// unless `overwrite` (then it is replaced atomically). Errors: kIo "keyfile.write",
// kIo "keyfile.exists".
[[nodiscard]] Status save_key_file(const Identity& identity, const std::filesystem::path& path,
                                   bool overwrite = false);

// Reads a file holding a secret (a key file, a bearer token): refused unless it is a regular
// file, not a symlink, at most `max_bytes`, with no group/other access bits. Errors: kPermission
// "keyfile.permissions", kIo "keyfile.read", kKey "keyfile.format".
[[nodiscard]] Result<std::string> read_secret_file(const std::filesystem::path& path, std::size_t max_bytes);

// Reads a key file. Errors: kPermission "keyfile.permissions" (group/other access bits set),
// kIo "keyfile.read", kParse (not strict JSON), kKey "keyfile.format" (members wrong or
// missing), kKey "keyfile.mismatch" (seed and public_key disagree), kKey
// "identity.did_mismatch".
[[nodiscard]] Result<Identity> load_key_file(const std::filesystem::path& path);

}  // namespace handshake
