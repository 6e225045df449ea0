// The agent side of the MCP adapter: in front of an MCP client, signs a fresh HandshakeRequest
// into every tools/call and checks what the service answers.
//
//   initialize / tools/list responses: learns the service (result._meta["ai.handshake/service"]:
//     its DID, and its DID Document, which must prove itself: a self-certifying DID hashes the
//     document's key) and, per tool, the capability and constraint sources of
//     tools[i]._meta["ai.handshake/tool"].
//   tools/call of a tool that needs a handshake: derives the constraint values from the call's
//     arguments (the same sources the service uses), signs a request with core's Agent (warm,
//     with the session token of an earlier Acceptance for the same capability, while it lasts),
//     and puts it in params._meta["ai.handshake/request"]. A tool the service did not mark is
//     forwarded unchanged.
//   the tools/call response: an Acceptance must be signed by the service, addressed to this
//     agent and bound to the request (Agent::check_answer); the Receipt must verify with the
//     service's key, name the request, and commit to receipt_subject(result). A response that
//     fails any of this is replaced by a JSON-RPC error (kReceiptUnverified; the service's
//     response is kept in data.response). Verified receipts go to the sink. A signed refusal is
//     checked the same way and passed on to the client unchanged, with one exception:
//   a warm call refused for its session: when the request sent was warm and the verified refusal
//     says its session cannot be used (refusal_ends_session in agent.hpp: another instance of the
//     service, a restart, a ticket sealed with a key this instance lacks), the session is
//     forgotten and on_response answers ColdRetry: the same tools/call signed cold (full chain,
//     fresh nonce, no session token), to send to the service in place of the refused one. Its
//     response goes through on_response again and is never retried: a cold request is not. The
//     client sees only that response. One log line per retry (tool and refusal code, no token).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "handshake/agent.hpp"
#include "handshake/json.hpp"
#include "handshake/mcp/envelope.hpp"
#include "handshake/receipt_store.hpp"
#include "handshake/mcp/tool_map.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::mcp {

struct AgentGateOptions {
  // When set, the service must be this DID (else its answers are not trusted).
  std::optional<std::string> service_did;
  // Trusted DID Document of the service (e.g. from a file), instead of the one it publishes.
  std::optional<Json> service_did_document;
  // Where verified receipts are kept (receipt_store.hpp; the action is the tool's name). Borrowed;
  // may be null. A store that fails is logged; the call's result still reaches the client.
  ReceiptStore* receipts = nullptr;
  // Seconds before a session's end at which the agent stops using it (clock differences).
  std::int64_t session_margin_seconds = 5;
  // Log lines (stderr in the proxy).
  std::function<void(const std::string&)> log;
};

struct AgentExchange {
  enum class Kind { kOther, kInitialize, kToolsList, kToolCall } kind = Kind::kOther;
  std::string tool;
  std::string capability;
  std::optional<std::string> request_id;  // the HandshakeRequest's id, when one was signed
  bool warm = false;
  bool cold_retry = false;  // this is the cold retry of a warm call refused for its session
  // A warm call: the client's tools/call as received, to sign it again cold if its session is
  // refused; and which remembered session it used (forgotten only if it is still that one).
  std::shared_ptr<const Json> call;
  std::uint64_t session = 0;
};

struct AgentInbound {
  Json message;           // what to send on to the service; with `answer_now`, the client's answer
  AgentExchange exchange;  // for on_response
  // Nothing goes to the service: `message` answers the client at once (a tools/call for a service
  // that presented itself as another DID than the configured one: -32011, its arguments kept here).
  bool answer_now = false;
};

// What on_response makes of the service's response. A caller must handle both (std::visit):
//   ToClient   `message` is the response for the client.
//   ColdRetry  the service refused a warm call for its session: send `request.message` (the same
//              call, same JSON-RPC id, signed cold) to the service instead, and hand its response
//              to on_response(request.exchange, ...), whose answer is then always ToClient. The
//              refused response is not for the client.
struct ToClient {
  Json message;
};
struct ColdRetry {
  AgentInbound request;
};
using AgentReply = std::variant<ToClient, ColdRetry>;

class AgentGate {
 public:
  // `clock` is borrowed. Thread-safe.
  AgentGate(Agent agent, AgentGateOptions options, const Clock& clock);

  // A message from the client, on its way to the service. Never refuses: a call the agent cannot
  // sign for goes on unsigned (and the service refuses it, signed).
  [[nodiscard]] AgentInbound on_client_message(Json message);
  // The service's response to a request forwarded with `exchange`: ToClient, or ColdRetry for a
  // warm call refused for its session (see above; at most once per client call).
  [[nodiscard]] AgentReply on_response(const AgentExchange& exchange, Json response);

  [[nodiscard]] std::size_t receipts_verified() const;
  // How many warm calls were retried cold.
  [[nodiscard]] std::size_t cold_retries() const;
  [[nodiscard]] std::optional<std::string> service_did() const;

 private:
  struct ToolInfo {
    std::string capability;
    std::vector<ConstraintSource> sources;
  };
  struct Session {
    std::string token;
    Timestamp usable_until{};
    std::uint64_t serial = 0;
  };
  void learn_service(const Json& meta);
  // Signs a tools/call (`message`, whose params name a tool). With `may_be_warm`, an unexpired
  // session for its capability is used.
  AgentInbound sign_call(Json message, bool may_be_warm);
  AgentReply check_call(const AgentExchange& exchange, Json response);
  void log(const std::string& line) const;

  Agent agent_;
  AgentGateOptions options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::optional<std::string> service_did_;
  std::optional<crypto::PublicKey> service_key_;
  std::optional<std::string> impostor_;  // the DID a service presented instead of the configured one
  std::map<std::string, ToolInfo> tools_;
  std::map<std::string, Session> sessions_;  // by capability
  std::uint64_t next_session_serial_ = 1;
  std::size_t verified_ = 0;
  std::size_t cold_retries_ = 0;
};

}  // namespace handshake::mcp
