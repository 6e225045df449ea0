// Warm sessions as sealed tickets (§9.2), so that no session table is kept or shared.
//
// The session_token of an Acceptance is a ticket: everything the warm path checks, encrypted and
// authenticated (libsodium's XChaCha20-Poly1305, IETF variant) under a 32-byte ticket key that
// the service's instances share. Any instance holding the key opens any instance's tickets; a
// request that reaches another instance behind a load balancer stays warm.
//
// Ticket: base64url (RFC 4648 §5, no padding) of
//   version    1 byte    0x01
//   key id     4 bytes   the first 4 bytes of BLAKE2b-256 keyed with the ticket key over
//                        "handshake session ticket key id" (public: it names the key to open with)
//   nonce     24 bytes   random, one per ticket
//   sealed     n + 16    the payload encrypted, its 16-byte Poly1305 tag last
// with associated data version || key id || audience, the audience being the DID of the service
// that sealed it (UTF-8). The audience is authenticated but not carried: a ticket opens only at a
// service of the same DID, and a byte changed anywhere fails the tag. At most
// kMaxSessionTicketChars characters, the longest string an Acceptance may carry (a chain whose
// ticket would be longer gets no session, not a refusal).
//
// Payload, version 1 (integers are unsigned LEB128 varints, minimal, unless sized):
//   expires_at    8 bytes   big-endian two's complement, microseconds since the Unix epoch
//   agent_key    32 bytes   the agent's Ed25519 public key, as the cold path verified it
//   strings      count, then count × (length, bytes): every distinct string once (a DID that is
//                          an issuer, a principal and the agent is stored once)
//   agent        index      the agent's DID (the cold request's iss)
//   granted      index      the leaf's capability name that covered the cold request
//   delegations  count >= 1, then count × (id index, issuer index), root first (its id keys
//                          the chain's rate limits)
//   principals   count, then count × index (every issuer, then the agent: revocation checks)
//   scope        the chain's exact scope (before any request narrowed it), its
//                ConstraintSet::to_state_json() in binary:
//                  capability   index
//                  schema       count, then count × (name index, type code: 1 byte)
//                  constraints  count, then count × (name index, type code, length, the value
//                               as compact JSON text)
//                type codes: 0 numeric_max, 1 numeric_min, 2 enum, 3 time_window,
//                4 string_pattern, 5 resource_path, 6 rate_limit, 7 exact
// and nothing after it. Decoding is strict (every length and index in range, minimal varints,
// at least one delegation, the scope checked by ConstraintSet::from_state_json).
//
// Keys and rotation: SessionTicketKeys holds one or more keys, current first. seal() always uses
// the current key; open() picks the key by the ticket's key id among all of them. To rotate, put
// the new key first and keep the old one second for one session ttl (tickets sealed under it
// keep opening), then drop it. An instance that has only the new key refuses the old tickets
// (expired: the agent sends a cold handshake).
//
// Key file (written with mode 0600; refused on load when group or others have any access, by
// read_secret_file of identity.hpp), one line:
//   handshake-session-key v1 <43 base64url characters: the 32-byte key>
// The key bytes live only in libsodium's guarded memory (sodium_malloc, read-only once loaded,
// wiped on destruction); the file's text is wiped as soon as it is decoded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "handshake/capability.hpp"
#include "handshake/crypto.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake {

inline constexpr std::size_t kSessionKeyBytes = 32;
inline constexpr std::size_t kSessionKeyIdBytes = 4;
inline constexpr std::uint8_t kSessionTicketVersion = 1;
inline constexpr std::size_t kMaxSessionTicketChars = 4096;

// What the cold path established and the warm path checks.
struct SessionTicket {
  std::string agent;                      // the agent's DID; a warm request's iss must equal it
  crypto::PublicKey agent_key{};          // verifies the warm request's signature
  std::string granted_name;               // covers the capability of every warm request
  capability::ConstraintSet chain_scope;  // the chain's intersection (before the cold request)
  std::vector<std::pair<std::string, std::string>> delegations;  // (id, issuer), root first
  std::vector<std::string> principals;    // every issuer, then the agent
  Timestamp expires_at{};                 // no warm request at or after it

  [[nodiscard]] const std::string& root_delegation() const { return delegations.front().first; }
};

// The ticket keys of a service, current first. Built only through the factories below, so an
// object that exists holds at least one valid key. Immutable and thread-safe; share it between
// services with std::shared_ptr.
class SessionTicketKeys {
 public:
  // Reads key files (see the header comment), the first seals, all open. Errors:
  // kInvalidArgument "session_key.none" (no file), those of read_secret_file (kPermission
  // "keyfile.permissions" for a file group or others may access, kIo "keyfile.read", kKey
  // "keyfile.format"), kKey "session_key.format" (not a session key file), kKey
  // "session_key.duplicate" (two files with the same key id: the same key twice), kInternal
  // "session_key.memory" (no secure memory).
  [[nodiscard]] static Result<std::shared_ptr<const SessionTicketKeys>> from_files(
      const std::vector<std::filesystem::path>& paths);
  // One fresh key from the CSPRNG, written nowhere: tickets only this object opens (a single
  // instance). Errors: kInternal "session_key.memory".
  [[nodiscard]] static Result<std::shared_ptr<const SessionTicketKeys>> generate();

  SessionTicketKeys(const SessionTicketKeys&) = delete;
  SessionTicketKeys& operator=(const SessionTicketKeys&) = delete;
  ~SessionTicketKeys();  // wipes every key (sodium_free)

  // The key ids in hex (8 digits), the sealing key first. Public values: they travel in tickets.
  [[nodiscard]] std::vector<std::string> key_ids() const;

  // Seals `ticket` for `audience` (the sealing service's DID) under the current key, with a
  // fresh random nonce. Errors: kInvalidArgument "session_ticket.invalid" (no delegation),
  // "session_ticket.scope" (the scope has no JSON text, e.g. a string that is not UTF-8),
  // "session_ticket.too_large" (longer than kMaxSessionTicketChars).
  [[nodiscard]] Result<std::string> seal(std::string_view audience, const SessionTicket& ticket) const;

  // Opens a ticket sealed for `audience` under any of the keys. Does not look at expires_at or
  // agent (the service does). Errors, all kInvalidArgument "session_ticket.invalid" whatever the
  // cause (the message says which): not base64url, too short or too long, an unknown version or
  // key id, a tag that does not verify (a changed byte, another key, another audience), or a
  // payload that opens but does not decode strictly. Never throws.
  [[nodiscard]] Result<SessionTicket> open(std::string_view audience, std::string_view ticket) const;

 private:
  struct Slots;
  explicit SessionTicketKeys(std::unique_ptr<Slots> slots);
  std::unique_ptr<Slots> slots_;
};

// Writes a new random ticket key file at `path` (mode 0600, whatever the umask); refuses to
// replace an existing file unless `overwrite`. Returns the new key's id (hex). Errors: kIo
// "keyfile.exists", kIo "keyfile.write", kInternal "session_key.memory".
[[nodiscard]] Result<std::string> write_session_key_file(const std::filesystem::path& path, bool overwrite = false);

}  // namespace handshake
