// Library-internal signing for messages the library builds itself from validated parts.
#pragma once

#include "handshake/crypto.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake::detail {

// sign_message() without the final parse check. Only for messages constructed field by field
// from values that already passed the parse rules (a service's Acceptance and Refusal on the hot
// path); tests check that every such message validates against its schema.
[[nodiscard]] Result<Json> sign_constructed(Json doc, const crypto::SigningKey& key);

}  // namespace handshake::detail
