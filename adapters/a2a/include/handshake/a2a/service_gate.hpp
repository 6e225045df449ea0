// The service side of the A2A adapter (§13.2): a message sent to the agent must carry a handshake
// the core Service accepts for the skill it asks for, and every task that completes gets a
// signed receipt bound to its task and context ids.
//
// Like the MCP gate it works in two phases, so a proxy can forward and finish later:
//   on_request(rpc)  -> kAnswer  answer now (a signed refusal as a rejected task, or a JSON-RPC
//                                error when our required extension was not activated)
//                       kForward pass `message` on (our metadata removed) and keep `exchange`
//   on_response(exchange, rpc_response)     the whole answer (send, get task)
//   on_stream_event(exchange, rpc_event)    one SSE event of a streaming send
//
// A send (SendMessage / message/send, and the streaming forms) is checked like this:
//   extension not activated, card says required      -> JSON-RPC error -32008 (extension support
//                                                       required); not required -> passed through
//   no metadata[ext].skill, or a skill not in the map (map says refuse) -> policy_denied
//   no metadata[ext].request                            -> policy_denied
//   the body is not strict JSON                         -> the Service refuses the text
//   otherwise Service::verify(request, bind_action(rule, first data part))  (every §14 code;
//     scope_exceeded when the data exceeds the effective scope)
// The reference SDKs' forms are accepted beside ours (docs/interop.md), and count as using the
// handshake without our activation header (those SDKs know no extension URI):
//   header_request   the X-Handshake-Request header: base64url (no padding) of the request's JSON
//                    text, decoded strictly; the Service reads the text with json::parse_strict
//   rpc metadata     the JSON-RPC envelope's top-level metadata.handshake = {"request": {...},
//                    "spec_version": "0.2.3"} (re-read from the strict raw body); removed before
//                    the request is forwarded
// Their skill is metadata[ext].skill when the message names one, else the one skill of the map
// whose capability is the request's capability.name (several: policy_denied, name the skill).
// A send carrying more than one request (two forms) -> policy_denied (ambiguous); a header that
// is not base64url, a text or body that is not strict JSON, or a spec_version other than "0.2.3"
// -> protocol_version_unsupported. The rpc-metadata form is answered in kind: the JSON-RPC
// response (or the stream's event) that carries a receipt gains top-level
// metadata.handshake.receipt_id. Exchange::receipt_id names the receipt of the latest answer, so
// a relay can set X-Handshake-Receipt on a whole (non-streamed) HTTP answer; a stream's headers
// are sent before its receipt exists, so a streamed answer carries it only in the events.
//
// A refusal answers with a task in the rejected state whose status message carries the signed
// Refusal; the agent behind is never called. An acceptance rides in the task's status message
// (one is created when the agent sent none) or in a direct message reply's metadata.
//
// Receipts: when a task reaches completed (receipt "ok") or failed/canceled/rejected ("error"),
// the receipt commits to the task's evidence (envelope.hpp task_evidence): by default the task
// subject {"a2a_task_id", "a2a_context_id", "state", "artifacts"} (the artifacts as sent, without
// our metadata member — and without "metadata" when nothing else is left in it), or what
// GateOptions::evidence says for the skill (an AP2 payment: mandate + PaymentReceipt). It is put,
// with the evidence's carried members, in the task's metadata and every artifact's metadata; a
// direct message reply commits to {"a2a_context_id", "a2a_message_id", "parts"}. A task still
// running when the send returns is remembered, and its receipt issued when a GetTask shows it
// finished; later GetTasks return the same receipt. A streamed task's receipt rides in the final
// status update's metadata.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/a2a/envelope.hpp"
#include "handshake/action_map.hpp"
#include "handshake/json.hpp"
#include "handshake/receipt.hpp"
#include "handshake/ops.hpp"
#include "handshake/service.hpp"

namespace handshake::a2a {

// The skill map's format: section "skills", sources rooted at "data" (the first data part).
[[nodiscard]] ActionMapFormat skill_map_format();

struct GateOptions {
  bool required = true;  // declared in the card; a send without our extension is refused
  ReceiptOptions receipt;
  std::optional<Json> did_document;  // the service's, published in the card's extension params
  // Every receipt issued, with the decision it answers (thread-safe).
  std::function<void(const Json& receipt, const Decision& decision)> on_receipt;
  // Told of every gated send once it is done (ops.hpp: metrics and the audit log): a refusal when
  // it is answered, an accepted task when its receipt is issued. Borrowed.
  const ops::Observer* observer = nullptr;
  // Every refusal the gate answers with (the decision's response is the signed Refusal), for
  // audit; thread-safe.
  std::function<void(const Decision& decision)> on_refusal;
  std::size_t remembered_tasks = 10'000;
  // Optional: derives a skill's ActionBinding from the whole message instead of its data part
  // (e.g. from an AP2 payment mandate, composed by hsk-a2a-proxy). nullopt: not this skill, use
  // the skill map; an error: the message is refused (policy_denied, the error as detail).
  std::function<std::optional<Result<ActionBinding>>(const ActionRule& rule, const Json& message)> derive;
  // Optional: what a task's receipt commits to for some skills (envelope.hpp). The agent side
  // must be given the same function.
  EvidenceFn evidence;
};

struct Exchange {
  enum class Kind { kOther, kSend, kGetTask } kind = Kind::kOther;
  Version version = Version::kV10;
  std::shared_ptr<const Decision> decision;  // kSend, accepted (null: passed through)
  std::string skill;                         // kSend, accepted
  std::shared_ptr<const Json> message;       // kSend, accepted, when GateOptions::evidence is set
  std::chrono::steady_clock::time_point forwarded_at{};  // kSend, accepted
  // Streaming state.
  std::vector<Json> artifacts;
  bool acceptance_sent = false;
  // kSend: where the request came from (our metadata, X-Handshake-Request, the JSON-RPC
  // envelope's metadata.handshake).
  enum class Form { kOurs, kHeader, kRpcMetadata } form = Form::kOurs;
  // The id of the receipt the latest on_response / on_stream_event attached ("" for none).
  std::string receipt_id;
};

struct Inbound {
  enum class Kind { kForward, kAnswer } kind = Kind::kForward;
  Json message;
  Exchange exchange;
  bool activated = false;  // echo our URI in the activation header
};

class ServiceGate {
 public:
  // `service` is borrowed and must outlive the gate. Thread-safe.
  ServiceGate(Service& service, ActionMap skills, GateOptions options = {});

  // A JSON-RPC request from the client, with the activation header's URIs, the raw body and the
  // X-Handshake-Request header's value when the request has one.
  [[nodiscard]] Inbound on_request(Json rpc, Version version, const std::vector<std::string>& activated,
                                   std::string_view raw_body = {},
                                   std::optional<std::string_view> header_request = std::nullopt) const;
  [[nodiscard]] Json on_response(Exchange& exchange, Json rpc_response) const;
  [[nodiscard]] Json on_stream_event(Exchange& exchange, Json rpc_event) const;

  // The upstream Agent Card with our extension declared in capabilities.extensions.
  [[nodiscard]] Json agent_card(Json upstream) const;
  // The skill map in force now.
  [[nodiscard]] std::shared_ptr<const ActionMap> skills() const { return skills_.load(); }
  // Replaces the skill map for the messages that arrive after it (SIGHUP). Thread-safe.
  void set_skills(ActionMap skills) { skills_.store(std::make_shared<const ActionMap>(std::move(skills))); }

 private:
  // A task this gate accepted. While it runs: the decision (and the message, for evidence). Once
  // it has a receipt, only {"receipt", "carried"} serialized: a remembered finished task then
  // costs a couple of kilobytes, not a parsed Decision (tests/load measured ~20 KB per task).
  struct Pending {
    std::shared_ptr<const Decision> decision;
    std::string skill;
    std::shared_ptr<const Json> message;
    std::chrono::steady_clock::time_point forwarded_at{};
    std::optional<Json> receipt;
    Json carried;
    std::string issued;
  };
  Inbound refuse(const Json& id, const Json& message, Version v, const Decision& decision) const;
  // The HandshakeRequest of a send, out of whichever envelope carries it.
  struct EnvelopeRequest {
    Exchange::Form form = Exchange::Form::kOurs;
    bool present = false;
    Json request;                     // kOurs, kRpcMetadata: the object (strict); kHeader: the parsed text
    std::string text;                 // kHeader: the JSON text the header decodes to
    std::optional<Decision> refusal;  // the envelope itself is refused: answer with this
  };
  [[nodiscard]] EnvelopeRequest request_of(const Json& rpc, const Json& message, std::string_view raw_body,
                                           std::optional<std::string_view> header_request) const;
  // Attaches acceptance and, for a finished task, the receipt; remembers running tasks. Returns
  // the receipt's id ("" for none).
  std::string finish_task(Json& task, Version v, const Exchange* send) const;
  // Issues the receipt of a finished task; sets `carried`.
  std::optional<Json> task_receipt(const Pending& p, const FinishedTask& task, Json& carried) const;
  std::optional<Json> receipt_for(const Decision& decision, const ReceiptEvidence& evidence,
                                  std::chrono::steady_clock::time_point forwarded_at) const;
  void remember(const std::string& task_id, Pending p) const;

  Service& service_;
  std::atomic<std::shared_ptr<const ActionMap>> skills_;
  GateOptions options_;
  mutable std::mutex mu_;
  mutable std::map<std::string, Pending, std::less<>> tasks_;
  mutable std::deque<std::string> order_;
};

}  // namespace handshake::a2a
