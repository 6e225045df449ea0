#include "handshake/refusal.hpp"

namespace handshake {

std::string_view to_string(RefusalCode code) noexcept {
  switch (code) {
    case RefusalCode::kSignatureInvalid: return "signature_invalid";
    case RefusalCode::kChainBroken: return "chain_broken";
    case RefusalCode::kScopeExceeded: return "scope_exceeded";
    case RefusalCode::kCredentialRevoked: return "credential_revoked";
    case RefusalCode::kExpired: return "expired";
    case RefusalCode::kNotYetValid: return "not_yet_valid";
    case RefusalCode::kReplayDetected: return "replay_detected";
    case RefusalCode::kAudMismatch: return "aud_mismatch";
    case RefusalCode::kPolicyDenied: return "policy_denied";
    case RefusalCode::kServiceUnavailable: return "service_unavailable";
    case RefusalCode::kRateLimited: return "rate_limited";
    case RefusalCode::kProtocolVersionUnsupported: return "protocol_version_unsupported";
  }
  return "?";
}

Result<RefusalCode> parse_refusal_code(std::string_view text) {
  for (auto c : kAllRefusalCodes) {
    if (to_string(c) == text) return c;
  }
  return make_error(ErrorCode::kInvalidArgument, "refusal.code", "not a §14 refusal code");
}

std::string_view to_string(VerificationStep step) noexcept {
  switch (step) {
    case VerificationStep::kSchemaValidation: return "schema_validation";
    case VerificationStep::kAudienceCheck: return "audience_check";
    case VerificationStep::kRequestSignature: return "request_signature";
    case VerificationStep::kSession: return "session";
    case VerificationStep::kDelegationChainWalk: return "delegation_chain_walk";
    case VerificationStep::kScopeIntersection: return "scope_intersection";
    case VerificationStep::kPolicy: return "policy";
    case VerificationStep::kRateLimit: return "rate_limit";
    case VerificationStep::kReplay: return "replay";
  }
  return "?";
}

}  // namespace handshake
