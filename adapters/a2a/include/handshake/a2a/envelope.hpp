// The A2A envelope of a handshake (§13.2), for both wire generations:
//   v1.0  ProtoJSON (camelCase, "ROLE_USER", "TASK_STATE_REJECTED", results wrapped {"task": ...})
//   v0.3  JSON with "kind" discriminators ("user", "rejected", results bare)
//
// Our extension: kExtensionUri, declared in the Agent Card (capabilities.extensions, required,
// params {"service_did", "skills": {<skill id>: ActionMap::describe(...)}, "did_document"}) and
// activated per request by the A2A-Extensions (v1.0) or X-A2A-Extensions (v0.3) header, which the
// service echoes back. Its data lives under message/task/artifact metadata[kExtensionUri]:
//   request message   {"skill": <skill id>, "request": <HandshakeRequest>}
//   status message    {"acceptance": <Acceptance>} or {"refusal": <Refusal>}
//   task, artifacts   {"receipt": <Receipt>}      (a direct message reply carries both)
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/result.hpp"

namespace handshake::a2a {

inline constexpr std::string_view kExtensionUri = "https://handshake.ai/ext/a2a/v1";

enum class Version { kV03, kV10 };

// The version of a request: "1.0" in the A2A-Version header (or query parameter) means v1.0; a
// missing header means v0.3 (A2A §versioning).
[[nodiscard]] Version version_from_header(std::string_view a2a_version);
// The activation header of a version: "A2A-Extensions" or "X-A2A-Extensions".
[[nodiscard]] std::string_view extensions_header(Version v) noexcept;
// The URIs of an activation header (comma-separated, spaces trimmed, empty entries dropped).
[[nodiscard]] std::vector<std::string> parse_extensions(std::string_view header);
[[nodiscard]] bool contains(const std::vector<std::string>& uris, std::string_view uri);
// An activation header's value with the Handshake extension activated: `existing` as it is when
// it names the extension already, else with kExtensionUri appended ("" gives kExtensionUri).
[[nodiscard]] std::string with_extension(std::string_view existing);
// The same value with the Handshake extension taken out ("" when nothing else is left): what an
// agent behind the service relay, which does not know the extension, is asked to activate.
[[nodiscard]] std::string without_extension(std::string_view existing);
// The request headers a relay passes on to the agent behind it, case-insensitively: A2A-Version,
// the activation headers of both versions, Accept. Anything else (cookies, authorization, the
// client's addresses) stays at this hop.
[[nodiscard]] bool is_end_to_end_header(std::string_view name) noexcept;
// Points every interface URL of an Agent Card (url, supportedInterfaces[].url,
// additionalInterfaces[].url) at `url`, so that clients come back through the relay serving it.
void point_card_at(Json& card, const std::string& url);

enum class Method { kSend, kStream, kGetTask, kOther };
// SendMessage / message/send, SendStreamingMessage / message/stream, GetTask / tasks/get.
[[nodiscard]] Method classify(std::string_view method) noexcept;

// The data of a message's first data part (v1.0 {"data": ...}, v0.3 {"kind": "data", "data":
// ...}), or null when it has none.
[[nodiscard]] Json first_data(const Json& message);

// Our member of an object's metadata, or null.
[[nodiscard]] const Json* extension_data(const Json& object);
// Sets metadata[kExtensionUri][key] = value (metadata created when absent).
void put_extension(Json& object, std::string_view key, Json value);
// Removes metadata[kExtensionUri] (and metadata when it becomes empty).
void strip_extension(Json& object);

// A task state by meaning, spelled for the version.
enum class State { kRejected, kCompleted, kFailed, kCanceled, kOther };
[[nodiscard]] State state_of(std::string_view spelled) noexcept;
[[nodiscard]] std::string state_name(State s, Version v);
// status.state of a task or status update as spelled, or "" when it has none (any shape accepted).
[[nodiscard]] std::string state_text(const Json& holder);

// An agent-role message with one text part (v1.0 or v0.3 shape).
[[nodiscard]] Json agent_message(Version v, std::string_view message_id, std::string_view text,
                                 const std::optional<std::string>& context_id,
                                 const std::optional<std::string>& task_id);

// A send result, unwrapped: v1.0 {"task": T} / {"message": M}, v0.3 T or M with "kind".
struct SendResult {
  enum class Kind { kTask, kMessage, kStatusUpdate, kArtifactUpdate, kUnknown } kind = Kind::kUnknown;
  Json* object = nullptr;  // points into the result passed in
};
[[nodiscard]] SendResult unwrap(Json& result, Version v);
// Wraps a task for the version: {"task": task} or task with "kind": "task".
[[nodiscard]] Json wrap_task(Json task, Version v);

// The artifacts of a task (array, possibly empty), each without our metadata member.
[[nodiscard]] Json artifacts_without_ours(const Json& task);

// What a finished task's receipt commits to. By default the task itself, its subject:
//   {"a2a_task_id", "a2a_context_id", "state" (as spelled), "artifacts" (without our metadata)}
// with status "ok" for completed and "error" otherwise. A skill whose outcome is more than the
// task supplies its own evidence through an EvidenceFn (hsk-a2a-proxy composes AP2 this way: the
// payment mandate the client sent and the merchant's PaymentReceipt). Both gates call the same
// function on the same inputs, so the agent recomputes exactly what the service signed.
struct ReceiptEvidence {
  Json result;                    // result_hash = SHA-256(JCS(result))
  std::string status = "ok";      // the receipt's result: "ok" | "error"
  std::optional<Json> summary;    // result_summary (non-sensitive counts and codes only, §18)
  Json carried = Json::object();  // members put beside the receipt under our extension key
};
// (skill, the client's message, the finished task's artifacts without our metadata, its state).
// nullopt: not a skill it covers. An error: the evidence could not be formed (e.g. the agent
// behind returned a malformed payment receipt).
using EvidenceFn = std::function<std::optional<Result<ReceiptEvidence>>(std::string_view skill, const Json& message,
                                                                        const Json& artifacts, State state)>;

struct FinishedTask {
  std::string_view task_id, context_id, state;  // state as spelled on the wire
  const Json& artifacts;                        // without our metadata
};
[[nodiscard]] Json task_subject(const FinishedTask& task);
// The evidence of a finished task: `fn`'s for the skills it covers, else the task subject. When
// `fn` fails, the task subject with status "error" and summary {"evidence_error": <code>}: the
// service still receipts what it ran, and says the skill's evidence was not there.
[[nodiscard]] ReceiptEvidence task_evidence(const EvidenceFn& fn, std::string_view skill, const Json& message,
                                            const FinishedTask& task);

}  // namespace handshake::a2a
