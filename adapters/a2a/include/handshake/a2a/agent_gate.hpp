// The agent side of the A2A adapter: in front of an unchanged A2A client, signs a HandshakeRequest
// into every message it sends and checks what the service answers.
//
//   learn(card): the service's Agent Card must declare our extension; its params give the
//     service DID, its DID Document (it must prove itself: a self-certifying DID hashes the
//     document's key) and, per skill, the capability and constraint sources.
//   a send: the skill is metadata[ext].skill when the client set it, else the configured default;
//     the constraint values come from the message's first data part through the skill's sources
//     (the same the service uses); the request is signed with core's Agent (warm, with the
//     session of an earlier Acceptance for the same capability while it lasts) and put in
//     metadata[ext].request. Without a skill the message is sent unchanged.
//   the answers: an Acceptance or Refusal must be signed by the service, addressed to this agent
//     and bound to the request (Agent::check_answer); a receipt must verify with the service's
//     key, name the request, and commit to what the task or message holds. An answer that fails
//     any of this is replaced by a JSON-RPC error -32006 (invalid agent response) whose data
//     keeps the service's answer. Verified receipts go to on_receipt. A verified refusal reaches
//     the client as the rejected task it is, with one exception:
//   a warm send refused for its session: when the request sent was warm and the verified refusal
//     says its session cannot be used (refusal_ends_session in agent.hpp: another instance of the
//     service, a restart, a ticket sealed with a key this instance lacks), the session is
//     forgotten and the answer is ColdRetry: the same JSON-RPC request signed cold (full chain,
//     fresh nonce, no session token), to send in place of the refused one (for a stream: the rest
//     of the refused stream is dropped and the new stream's events follow). Its answers are never
//     retried: a cold request is not. The client sees only them. One log line per retry (skill
//     and refusal code, no token). Any refusal of a warm request forgets its session.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "handshake/a2a/envelope.hpp"
#include "handshake/action_map.hpp"
#include "handshake/agent.hpp"
#include "handshake/crypto.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::a2a {

struct AgentGateOptions {
  std::optional<std::string> default_skill;
  std::optional<std::string> service_did;           // when set, the card must name this service
  std::optional<Json> service_did_document;         // trusted instead of the card's
  std::function<void(const Json& receipt, const Json& acceptance)> on_receipt;
  std::int64_t session_margin_seconds = 5;
  // What a task's receipt commits to for some skills: the same function the service was given
  // (envelope.hpp), so the receipt is checked against evidence recomputed here.
  EvidenceFn evidence;
  // Log lines (stderr in the proxy): a cold retry.
  std::function<void(const std::string&)> log;
};

struct AgentExchange {
  bool send = false;
  std::optional<std::string> request_id;  // the signed request's id
  std::string capability;
  std::string skill;
  std::shared_ptr<const Json> message;    // as sent, without our metadata (when evidence is set)
  std::optional<Json> acceptance;         // seen so far (streams)
  std::vector<Json> artifacts;            // streamed so far
  bool warm = false;                      // the request carried a session token
  bool cold_retry = false;                // the cold retry of a warm send refused for its session
  // A warm send: the client's JSON-RPC request as received, to sign it again cold if its session
  // is refused; and which remembered session it used (forgotten only if it is still that one).
  std::shared_ptr<const Json> rpc;
  std::uint64_t session = 0;
};

// What on_response and on_stream_event make of the service's answer. A caller must handle both
// (std::visit):
//   ToClient   `message` (the response, or the stream event) goes to the client.
//   ColdRetry  the service refused a warm send for its session: send `rpc` (the same request, same
//              JSON-RPC id, signed cold) to the service instead — for a stream, drop the rest of
//              the refused stream and relay the new one — and hand its answers to the gate with
//              `exchange`; they are then always ToClient. The refused answer is not for the client.
struct ToClient {
  Json message;
};
struct ColdRetry {
  Json rpc;
  AgentExchange exchange;
};
using AgentReply = std::variant<ToClient, ColdRetry>;

class AgentGate {
 public:
  AgentGate(Agent agent, const Clock& clock, AgentGateOptions options = {});
  // Errors: kSchema "a2a.card" (no Handshake extension, malformed params), kSignature
  // "a2a.service" (DID Document not the service's / not proving itself).
  [[nodiscard]] Status learn(const Json& card);
  [[nodiscard]] bool knows_service() const;

  // An outgoing JSON-RPC request; returns it (signed when it is a send of a mapped skill).
  // Errors: those of Agent::request.
  [[nodiscard]] Result<Json> on_request(Json rpc, Version v, AgentExchange& exchange);
  // The whole answer to a request sent with `exchange`, and one SSE event of a streaming send:
  // ToClient, or ColdRetry for a warm send refused for its session (at most once per send).
  [[nodiscard]] AgentReply on_response(AgentExchange& exchange, Json response, Version v);
  [[nodiscard]] AgentReply on_stream_event(AgentExchange& exchange, Json event, Version v);

  // How many warm sends were retried cold.
  [[nodiscard]] std::size_t cold_retries() const;

 private:
  [[nodiscard]] Result<Json> sign_send(Json rpc, bool may_be_warm, AgentExchange& exchange);
  // A verified refusal of `exchange`'s request: forgets a warm request's session, and asks for
  // the cold retry when the refusal ends the session.
  [[nodiscard]] AgentReply after_refusal(const AgentExchange& exchange, const Refusal& refusal, Json answer);
  [[nodiscard]] Result<ServiceAnswer> check_answer(AgentExchange& exchange, const Json& answer);
  [[nodiscard]] Status check_receipt(const AgentExchange& exchange, const Json& receipt, const Json& subject) const;
  [[nodiscard]] Status check_task_receipt(const AgentExchange& exchange, const Json& receipt, const FinishedTask& task) const;
  [[nodiscard]] Json invalid(const Json& response, const Error& why) const;

  Agent agent_;
  const Clock& clock_;
  AgentGateOptions options_;
  mutable std::mutex mu_;
  std::string service_did_;
  crypto::PublicKey service_key_{};
  bool known_ = false;
  std::map<std::string, std::vector<ConstraintSource>, std::less<>> skill_sources_;
  std::map<std::string, std::string, std::less<>> skill_capability_;
  struct Session {
    std::string token;
    Timestamp until;
    std::uint64_t serial = 0;
  };
  std::map<std::string, Session, std::less<>> sessions_;  // by capability
  std::uint64_t next_session_serial_ = 1;
  std::size_t cold_retries_ = 0;
};

}  // namespace handshake::a2a
