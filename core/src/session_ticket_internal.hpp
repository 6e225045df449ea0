// Internal: the session ticket's payload codec (layout in session_ticket.hpp), apart from the
// sealing so that tests can feed the decoder payloads no key would seal.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "handshake/result.hpp"
#include "handshake/session_ticket.hpp"

namespace handshake::detail {

// Errors: kInvalidArgument "session_ticket.scope" (the scope has no JSON text).
[[nodiscard]] Result<std::vector<std::uint8_t>> encode_session_payload(const SessionTicket& ticket);
// Strict: every length and index in range, minimal varints, at least one delegation, the scope a
// valid ConstraintSet state. Errors: kInvalidArgument "session_ticket.invalid".
[[nodiscard]] Result<SessionTicket> decode_session_payload(std::span<const std::uint8_t> payload);

}  // namespace handshake::detail
