// The service side of the MCP adapter: every tools/call must carry a handshake the core Service
// accepts, and every call that runs gets a signed receipt.
//
// ServiceGate is transport-free and works in two phases, so a proxy can forward a call and finish
// it when the response comes back, and an in-process server can do both at once (Middleware):
//
//   on_client_message(message)  ->  Inbound::kAnswer   answer the client with `message` now (a
//                                                      signed refusal as a JSON-RPC error)
//                                   Inbound::kForward  pass `message` on to the MCP server, and
//                                                      keep `exchange` for its response
//   on_response(exchange, response) -> the response for the client:
//     tools/call, accepted: result._meta gains the Acceptance and a Receipt over
//       receipt_subject(result), status "error" when isError is true; a JSON-RPC error from the
//       server gets a receipt (status "error", committing to the error object) in
//       error.data["ai.handshake/receipt"] when data is absent or an object
//     tools/list: each mapped tool's _meta gains "ai.handshake/tool"; result._meta gains
//       "ai.handshake/service"; under `unmapped: refuse` the tools the map does not name are left
//       out (they would be refused); map entries the server does not offer are logged, once
//     initialize: result._meta gains "ai.handshake/service"
//
// A tools/call is checked like this (the refusal is always signed by the service):
//   tool not in the map, map says refuse           -> policy_denied ("not offered through handshakes")
//   tool not in the map, map says pass             -> forwarded unchanged, no receipt
//   no params._meta["ai.handshake/request"] and no params._meta.handshake.request_b64u
//                                                  -> policy_denied ("needs a HandshakeRequest")
//   both of them                                   -> policy_denied (ambiguous: which one binds the
//                                                     call is not for the gate to guess)
//   the raw line is not strict JSON (duplicate members, ...) -> protocol_version_unsupported
//   request_b64u not a string, not strict base64url (RFC 4648 §5, no padding), or spec_version
//     present and not "0.2.3"                      -> protocol_version_unsupported
//   otherwise Service::verify(request, ActionBinding{rule.capability, derive_constraints(...)})
//     with our member's object, or with the text request_b64u decodes to (the Service reads it
//     with json::parse_strict: not strict JSON -> protocol_version_unsupported)
//     (every §14 code; scope_exceeded when the arguments exceed the effective scope)
// The handshake member (ours, or the reference SDKs' "handshake") is removed from the params
// before the call is forwarded: the MCP server does not need it. A call that came in the
// reference form is answered in kind too: result._meta.handshake.receipt_id (the receipt's id)
// beside our own members (docs/interop.md). A JSON-RPC error from the server carries only ours.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/ops.hpp"
#include "handshake/mcp/envelope.hpp"
#include "handshake/mcp/tool_map.hpp"
#include "handshake/receipt.hpp"
#include "handshake/service.hpp"

namespace handshake::mcp {

struct GateOptions {
  ReceiptOptions receipt;  // hash algorithm
  // The service's DID Document, published in "ai.handshake/service" so an agent can check
  // receipts offline (self-certifying DIDs prove themselves). Optional.
  std::optional<Json> did_document;
  // Called with every receipt issued and the decision it answers (e.g. to anchor it in a
  // registry, or keep it with the request's delegation chain); must be thread-safe and must not
  // block for long. Failures are its own business.
  std::function<void(const Json& receipt, const Decision& decision)> on_receipt;
  // Told of every gated tools/call once it is done (ops.hpp: metrics and the audit log): a
  // refusal when it is sent, an accepted call when its response and receipt are. Borrowed.
  const ops::Observer* observer = nullptr;
  // Called with every refusal sent (for logs and metrics).
  std::function<void(const Decision& decision, std::string_view tool)> on_refusal;
  // Told what an operator should know (a map naming tools the server does not offer). Optional.
  std::function<void(const std::string&)> log;
};

// The tools `map` names that a tools/list result does not offer, sorted (a typo such as "ech0"
// in the map). Empty when the result is paginated (nextCursor): the list is not whole.
[[nodiscard]] std::vector<std::string> missing_tools(const ToolMap& map, const Json& tools_list_result);

// What the gate keeps about a forwarded request until its response arrives.
struct Exchange {
  enum class Kind { kOther, kInitialize, kToolsList, kToolCall } kind = Kind::kOther;
  std::string tool;                                // kToolCall
  std::string capability;                          // kToolCall accepted: the capability the tool needs
  std::shared_ptr<const Decision> decision;        // kToolCall accepted (null: passed through)
  std::chrono::steady_clock::time_point forwarded_at{};  // kToolCall accepted: when it went upstream
  // kToolCall accepted: the request came in the reference SDKs' form (params._meta.handshake), so
  // the result also gets _meta.handshake.receipt_id.
  bool reference_form = false;
};

struct Inbound {
  enum class Kind { kForward, kAnswer } kind = Kind::kForward;
  Json message;       // kForward: what to send on; kAnswer: the response for the client
  Exchange exchange;  // kForward of a request: hand it back to on_response
};

class ServiceGate {
 public:
  // `service` is borrowed and must outlive the gate. Thread-safe when the service is.
  ServiceGate(Service& service, ToolMap map, GateOptions options = {});

  // A message from the client. `raw_text` is the line it was decoded from, when there is one:
  // a tools/call carrying a handshake is then re-read with json::parse_strict so that nothing the
  // agent signed can be lost to a permissive decoder (without it, `message` is trusted as given).
  [[nodiscard]] Inbound on_client_message(Json message, std::string_view raw_text = {}) const;

  // The server's response to a request that on_client_message forwarded with `exchange`.
  [[nodiscard]] Json on_response(const Exchange& exchange, Json response) const;

  // The tool map in force now.
  [[nodiscard]] std::shared_ptr<const ToolMap> tool_map() const { return map_.load(); }
  // Replaces the tool map for the calls that arrive after it (SIGHUP). Thread-safe.
  void set_tool_map(ToolMap map) { map_.store(std::make_shared<const ToolMap>(std::move(map))); }
  [[nodiscard]] const Service& service() const noexcept { return service_; }
  // The "ai.handshake/service" member.
  [[nodiscard]] Json service_meta() const;

 private:
  // The HandshakeRequest of a tools/call, out of params._meta in whichever form it came.
  struct EnvelopeRequest {
    enum class Form { kNone, kOurs, kReference } form = Form::kNone;
    Json request;                     // kOurs: the object (strictly re-read when the raw line is known)
    std::string text;                 // kReference: the JSON text request_b64u decodes to
    std::optional<Decision> refusal;  // the envelope itself is refused: answer with this
  };
  [[nodiscard]] EnvelopeRequest request_of(const Json* meta, std::string_view raw_text) const;

  Inbound gate_tool_call(Json message, std::string_view raw_text) const;
  Inbound refuse(const Json& id, const Decision& decision, std::string_view tool, std::string_view capability = {}) const;

  void observe(const Decision& decision, std::string_view capability, std::optional<std::string> receipt_id,
               std::optional<std::chrono::nanoseconds> upstream) const;

  Service& service_;
  std::atomic<std::shared_ptr<const ToolMap>> map_;
  GateOptions options_;
  mutable std::atomic<bool> told_missing_{false};  // missing_tools logged once
};

// A JSON-RPC handler of an MCP server: a request or notification in, its response out (a null
// Json for a notification). Must not throw.
using Handler = std::function<Json(const Json& message)>;

// The in-process middleware: wraps a server's handler (Handler -> Handler), so every tools/call
// is gated as above and answered with its receipt.
class Middleware {
 public:
  // `gate` is borrowed and must outlive the middleware and every handler it returns.
  explicit Middleware(const ServiceGate& gate) : gate_(gate) {}

  [[nodiscard]] Handler wrap(Handler next) const;

  // One stdio line in, the line to answer with out ("" for nothing, e.g. a notification):
  // malformed JSON gets a parse error (-32700), a line over `max_bytes` an error
  // (kMessageTooLarge), anything else goes through the wrapped handler with the raw line kept
  // for the strict re-read of handshakes.
  [[nodiscard]] std::string handle_line(std::string_view line, const Handler& next,
                                        std::size_t max_bytes = 4 * 1024 * 1024) const;

 private:
  [[nodiscard]] Json handle(Json message, std::string_view raw, const Handler& next) const;
  const ServiceGate& gate_;
};

}  // namespace handshake::mcp
