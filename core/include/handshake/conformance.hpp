// Conformance vectors: our deterministic vectors (real keys, real signatures) and a replay of
// the reference vectors published with the protocol.
//
// Layout (the reference layout, extended): {"vector_id", "spec_version", "category",
// "description", "spec_references", "context": {"now", "public_keys" (DID -> base64url DER
// SubjectPublicKeyInfo), "private_keys" (DID -> base64url DER PKCS#8; the service's, and an
// agent's for warm steps), "registry_state": {"revoked_delegations", "revoked_principals",
// "revocation_statements"}, "service": {"did", "trust_roots", "capabilities", "policy",
// "rate_limits", "session_ttl_seconds", "max_chain_length", "nonce_store_max_entries",
// "unavailable_keys"}}, "input": {"request"} or {"steps": [{"request"} | {"warm_request":
// {"session_from_step", "template"}} | {"revocation"}]}, "expected": {"result", "error_code",
// "rejected_at_step", "detail_must_include", "effective_scope"} or {"steps": [...]}}.
//
// Reference vectors (their signatures are "TEST_VECTOR_SIGNATURE_*" placeholders) are replayed
// the way their runner does: every key is Ed25519 from seed SHA-256(DID), every link and the
// request re-signed, any root trusted, the receiver is input.receiver_did or the request's aud.
// Their ids (25 characters, "dt_004") and nonces ("nonce-004") break the schema's own patterns;
// the replay is therefore lenient: each malformed id or nonce is replaced by a well-formed one
// derived from it (SHA-256) before re-signing, and requests are accepted up to a day old. The
// strict parser stays the default everywhere else. One nonce store serves a whole directory, so
// replaying a vector twice is refused as replay_detected.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "handshake/result.hpp"

namespace handshake::conformance {

struct VectorOutcome {
  std::string file;
  std::string vector_id;
  bool passed = false;
  std::string detail;  // why it failed, or what it checked
};

struct Report {
  std::vector<VectorOutcome> outcomes;
  [[nodiscard]] std::size_t passed() const;
  [[nodiscard]] std::size_t failed() const;
};

// Runs every *.json vector directly in `dir`, in file-name order. With `replay_first_twice`,
// the first reference vector that expects an accept is run a second time and must be refused
// replay_detected. Errors: kIo when the directory cannot be read.
[[nodiscard]] Result<Report> run_directory(const std::filesystem::path& dir, bool replay_first_twice = true);

// Writes our vectors into `dir` (created if needed). Deterministic: seeded keys, a fixed clock,
// fixed ids and nonces; running it twice writes identical bytes.
[[nodiscard]] Status generate(const std::filesystem::path& dir);

}  // namespace handshake::conformance
