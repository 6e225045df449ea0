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
//     keeps the service's answer. Verified receipts go to on_receipt.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

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
};

struct AgentExchange {
  bool send = false;
  std::optional<std::string> request_id;  // the signed request's id
  std::string capability;
  std::string skill;
  std::shared_ptr<const Json> message;    // as sent, without our metadata (when evidence is set)
  std::optional<Json> acceptance;         // seen so far (streams)
  std::vector<Json> artifacts;            // streamed so far
};

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
  [[nodiscard]] Json on_response(AgentExchange& exchange, Json response, Version v);
  [[nodiscard]] Json on_stream_event(AgentExchange& exchange, Json event, Version v);

 private:
  [[nodiscard]] Status check_answer(AgentExchange& exchange, const Json& answer);
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
  };
  std::map<std::string, Session, std::less<>> sessions_;  // by capability
};

}  // namespace handshake::a2a
