// Library-internal signing for messages the library builds itself from validated parts.
#pragma once

#include "handshake/crypto.hpp"
#include "handshake/messages.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake::detail {

// sign_message() without the final parse check. Only for messages constructed field by field
// from values that already passed the parse rules (a service's Acceptance and Refusal on the hot
// path); tests check that every such message validates against its schema.
[[nodiscard]] Result<Json> sign_constructed(Json doc, const crypto::Signer& key);

// HandshakeRequest::from_json with or without the final JSON Schema pass. The field checks
// before it enforce every rule of the request schema (closed objects, types, patterns, bounds);
// the schema pass is a backstop. The service's hot path skips it, and messages_test checks on
// a large corpus of mutated requests that whatever the field checks accept the schema accepts too.
// On success the request's `source` takes `j` (moved: no deep copy); on failure `j` is untouched.
[[nodiscard]] Result<HandshakeRequest> request_from_json(Json& j, bool schema_backstop);

}  // namespace handshake::detail
