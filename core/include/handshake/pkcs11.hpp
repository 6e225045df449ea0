// Keys in hardware: an Ed25519 key held by a PKCS#11 token (an HSM, a smart card, SoftHSM2), named
// by an RFC 7512 URI, signing through crypto::Signer. The module is loaded at run time (dlopen),
// so nothing links against a vendor library.
//
//   pkcs11:token=hsk;object=svc-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/hsk/pin
//
// token=    the token's label; object= the key pair's label (CKA_LABEL of both keys)
// module-path= the PKCS#11 module; pin-source=file:PATH the user PIN, in an owner-only file (read
// once and wiped; pin-value= is refused: a PIN does not belong on a command line or in a config).
// The key is CKK_EC_EDWARDS (Ed25519) and signs with CKM_EDDSA. Its public key is read from the
// token (CKA_EC_POINT of the public key object) and the identity's DID from the private key's
// CKA_ID, which generate_key() sets; the DID is checked to be the hash of that key.
//
// Sessions are pooled (several threads sign at once). When the token or module fails (removed,
// logged out, a session closed), signing answers kUnavailable "signer.unavailable" and the next
// attempt opens new sessions and logs in again: it recovers when the token is back.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "handshake/crypto.hpp"
#include "handshake/identity.hpp"
#include "handshake/result.hpp"

namespace handshake::pkcs11 {

struct Uri {
  std::string token;        // token= (required)
  std::string object;       // object= (required)
  std::string module_path;  // module-path= (required)
  std::optional<std::string> pin_file;  // pin-source=file:PATH
  std::string text;         // the URI as given (it holds no secret)

  // Errors: kInvalidArgument "pkcs11.uri" naming what is wrong (not pkcs11:, a missing or repeated
  // attribute, bad percent-encoding, pin-value, a pin-source that is not file:).
  [[nodiscard]] static Result<Uri> parse(std::string_view text);
};

[[nodiscard]] inline bool is_uri(std::string_view s) { return s.rfind("pkcs11:", 0) == 0; }

struct KeyInfo {
  crypto::PublicKey public_key{};
  std::optional<std::string> did;  // the private key's CKA_ID, when it holds a DID
};

// The signer of the key `uri` names. `sessions`: how many signatures can run at once. Errors:
// kIo "pkcs11.module" (cannot load), kNotFound "pkcs11.token" / "pkcs11.object", kPermission
// "pkcs11.pin" (wrong PIN) and "keyfile.permissions" (a PIN file others can read), kKey
// "pkcs11.key" (not an Ed25519 key pair), kUnavailable "signer.unavailable".
[[nodiscard]] Result<std::shared_ptr<const crypto::Signer>> open_signer(const Uri& uri, KeyInfo* info = nullptr,
                                                                        std::size_t sessions = 4);

// Generates an Ed25519 key pair inside the token (private key sensitive, never extractable), labelled
// uri.object, its CKA_ID the DID of `type` for it (did_for_key), and returns the identity. Refuses
// when the token already holds an object with that label. Errors: those of open_signer, kInvalidArgument
// "pkcs11.exists".
[[nodiscard]] Result<Identity> generate_identity(const Uri& uri, PrincipalType type);

// The identity of the key `uri` names (its DID from CKA_ID, checked against the key).
[[nodiscard]] Result<Identity> load_identity(const Uri& uri);

}  // namespace handshake::pkcs11

namespace handshake {
// A key file path, or a PKCS#11 URI (pkcs11.hpp): what every --key, identity: and *_key takes.
[[nodiscard]] Result<Identity> load_identity(const std::string& key_file_or_uri);
}  // namespace handshake
