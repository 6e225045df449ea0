// The MCP envelope of the Handshake Protocol (§13.1): where handshakes ride in JSON-RPC messages.
//
//   tools/call params._meta["ai.handshake/request"]        the signed HandshakeRequest (object)
//   tools/call result._meta["ai.handshake/acceptance"]     the service's signed Acceptance
//   tools/call result._meta["ai.handshake/receipt"]        the signed Receipt of the call
//   JSON-RPC error {code: -32010, message: "handshake refused: <code>: <detail>",
//                   data: {"ai.handshake/refusal": <signed Refusal>}}
//   tools/list result.tools[i]._meta["ai.handshake/tool"]  what the tool needs:
//        {"capability": NAME, "constraints": {NAME: {"type": T, "from": "arguments.x"}}}
//   initialize and tools/list result._meta["ai.handshake/service"]
//        {"did": DID, "version": "0.2.3", "did_document": <the service's DID Document>}
// The prefix "ai.handshake/" is ours (MCP reserves prefixes whose second label is
// "modelcontextprotocol" or "mcp"); receivers ignore `_meta` members they do not know, so a peer
// without Handshake support is not disturbed. docs/mcp.md shows a full exchange.
//
// The reference SDKs' form (docs/interop.md) is accepted beside ours:
//   tools/call params._meta.handshake = {"request_b64u": <base64url, no padding, of the
//                                        HandshakeRequest's JSON text>, "spec_version": "0.2.3"}
//   tools/call result._meta.handshake.receipt_id          the receipt's id, added to our members
//
// This header is transport-free: JSON-RPC 2.0 message shapes (MCP 2025-11-25, 2025-06-18 and
// 2025-03-26 share them; 2026-07-28 only adds `_meta` members, which pass through untouched).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "handshake/json.hpp"
#include "handshake/service.hpp"

namespace handshake::mcp {

inline constexpr std::string_view kRequestKey = "ai.handshake/request";
inline constexpr std::string_view kAcceptanceKey = "ai.handshake/acceptance";
inline constexpr std::string_view kReceiptKey = "ai.handshake/receipt";
inline constexpr std::string_view kRefusalKey = "ai.handshake/refusal";
inline constexpr std::string_view kToolKey = "ai.handshake/tool";
inline constexpr std::string_view kServiceKey = "ai.handshake/service";
// The reference SDKs' _meta member and its fields.
inline constexpr std::string_view kReferenceKey = "handshake";
inline constexpr std::string_view kReferenceRequestField = "request_b64u";
inline constexpr std::string_view kReferenceVersionField = "spec_version";
inline constexpr std::string_view kReferenceReceiptField = "receipt_id";

// JSON-RPC 2.0 error codes used by the adapter.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
// Implementation-defined range (-32000..-32019 stays free in every MCP revision).
inline constexpr int kHandshakeRefused = -32010;      // data holds the signed Refusal
inline constexpr int kReceiptUnverified = -32011;     // agent side: the service's answer did not check
inline constexpr int kMessageTooLarge = -32012;       // a message over the size limit

enum class MessageType { kRequest, kNotification, kResponse, kInvalid };

// Classifies a decoded JSON-RPC message: a request has "method" and a non-null "id"; a
// notification "method" and no "id"; a response an "id" and "result" or "error".
[[nodiscard]] MessageType message_type(const Json& message) noexcept;

// The method of a request or notification, or "" for anything else.
[[nodiscard]] std::string_view method_of(const Json& message) noexcept;

// {"jsonrpc":"2.0","id":id,"error":{"code","message"[,"data"]}}; a null id for a message whose
// id could not be read (JSON-RPC 2.0 §5).
[[nodiscard]] Json error_response(const Json& id, int code, std::string message,
                                  std::optional<Json> data = std::nullopt);

// The JSON-RPC error answering `id` for a refused decision: code kHandshakeRefused, message
// "handshake refused: <code>[: <detail>]", data {"ai.handshake/refusal": decision.response}.
// Precondition: !decision.accepted.
[[nodiscard]] Json refusal_response(const Json& id, const Decision& decision);

// The signed Refusal inside a kHandshakeRefused error response, if there is one.
[[nodiscard]] std::optional<Json> refusal_of(const Json& response);

// What a receipt's result_hash commits to for a CallToolResult: its structuredContent when
// present, else the whole result object without the adapter's own members
// (_meta["ai.handshake/acceptance"], _meta["ai.handshake/receipt"], _meta.handshake.receipt_id,
// and _meta.handshake when that leaves it an empty object; _meta itself is dropped when that
// leaves it empty). Anyone holding the result a client got can recompute it. A non-object
// result (a JSON-RPC error object, for instance) commits to itself.
[[nodiscard]] Json receipt_subject(const Json& result);

// "error" for a CallToolResult with isError: true, else "ok".
[[nodiscard]] std::string_view receipt_status(const Json& result);

// Compact one-line JSON for the wire (never a raw newline; invalid UTF-8 replaced, never throws).
[[nodiscard]] std::string serialize(const Json& message);

// Permissive decode of one message for routing (nlohmann, no exceptions). nullopt when `text` is
// not JSON. The handshake itself is always re-read strictly (see ServiceGate).
[[nodiscard]] std::optional<Json> decode(std::string_view text);

}  // namespace handshake::mcp
