// Typed refusal codes (§14) and the verification steps they come from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "handshake/result.hpp"

namespace handshake {

// The twelve §14 codes. The reference Refusal schema closes the list, so custom "x-" codes are
// not emitted on the wire.
enum class RefusalCode {
  kSignatureInvalid,
  kChainBroken,
  kScopeExceeded,
  kCredentialRevoked,
  kExpired,
  kNotYetValid,
  kReplayDetected,
  kAudMismatch,
  kPolicyDenied,
  kServiceUnavailable,
  kRateLimited,
  kProtocolVersionUnsupported,
};

inline constexpr RefusalCode kAllRefusalCodes[] = {
    RefusalCode::kSignatureInvalid,   RefusalCode::kChainBroken,     RefusalCode::kScopeExceeded,
    RefusalCode::kCredentialRevoked,  RefusalCode::kExpired,         RefusalCode::kNotYetValid,
    RefusalCode::kReplayDetected,     RefusalCode::kAudMismatch,     RefusalCode::kPolicyDenied,
    RefusalCode::kServiceUnavailable, RefusalCode::kRateLimited,     RefusalCode::kProtocolVersionUnsupported,
};

[[nodiscard]] std::string_view to_string(RefusalCode code) noexcept;  // "signature_invalid", ...
// Errors: kInvalidArgument "refusal.code".
[[nodiscard]] Result<RefusalCode> parse_refusal_code(std::string_view text);

// Where in verification a refusal arose (the reference vectors' "rejected_at_step").
enum class VerificationStep {
  kSchemaValidation,     // strict JSON, version, schema, size limits
  kAudienceCheck,        // request aud = this service
  kRequestSignature,     // the agent's signature, request freshness
  kSession,              // warm handshake session lookup
  kDelegationChainWalk,  // per link: trust root, signature, time, audience continuity, revocation, delegability
  kScopeIntersection,    // effective scope and the request within it
  kPolicy,               // local policy
  kRateLimit,            // rate limits
  kReplay,               // nonce store
};

[[nodiscard]] std::string_view to_string(VerificationStep step) noexcept;  // "delegation_chain_walk", ...

struct RefusalInfo {
  RefusalCode code = RefusalCode::kSignatureInvalid;
  VerificationStep step = VerificationStep::kSchemaValidation;
  std::string detail;                              // for humans; no personal data, no secrets
  std::optional<std::string> delegation_id;        // the link at fault, when there is one
  std::optional<std::int64_t> retry_after_seconds;  // rate_limited, service_unavailable
};

}  // namespace handshake
