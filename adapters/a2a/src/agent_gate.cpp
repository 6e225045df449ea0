#include "handshake/a2a/agent_gate.hpp"

#include "handshake/did_document.hpp"
#include "handshake/receipt.hpp"
#include "handshake/resolver.hpp"

namespace handshake::a2a {
namespace {

constexpr int kInvalidAgentResponse = -32006;

Error answer_error(const std::string& m) { return make_error(ErrorCode::kSignature, "a2a.answer", m); }

std::optional<std::string> text_member(const Json& o, const char* name) {
  if (!o.is_object()) return std::nullopt;
  auto it = o.find(name);
  if (it == o.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

Json without_ours(Json o) {
  strip_extension(o);
  return o;
}

const Json* status_message_ext(const Json& holder) {
  if (!holder.is_object() || !holder.contains("status") || !holder["status"].is_object()) return nullptr;
  const auto& s = holder["status"];
  if (!s.contains("message")) return nullptr;
  return extension_data(s["message"]);
}

}  // namespace

AgentGate::AgentGate(Agent agent, const Clock& clock, AgentGateOptions options)
    : agent_(std::move(agent)), clock_(clock), options_(std::move(options)) {}

Status AgentGate::learn(const Json& card) {
  const Json* ext = nullptr;
  if (card.is_object() && card.contains("capabilities") && card["capabilities"].is_object()) {
    const auto& caps = card["capabilities"];
    if (caps.contains("extensions") && caps["extensions"].is_array()) {
      for (const auto& e : caps["extensions"]) {
        if (text_member(e, "uri") == kExtensionUri) ext = &e;
      }
    }
  }
  if (ext == nullptr || !ext->contains("params") || !(*ext)["params"].is_object()) {
    return make_error(ErrorCode::kSchema, "a2a.card", "the Agent Card does not declare the Handshake extension");
  }
  const Json& params = (*ext)["params"];
  const auto did = text_member(params, "service_did");
  if (!did) return make_error(ErrorCode::kSchema, "a2a.card", "the extension params name no service_did");
  if (options_.service_did && *options_.service_did != *did) {
    return make_error(ErrorCode::kSignature, "a2a.service", "the card names " + *did + ", not " + *options_.service_did);
  }
  const Json doc = options_.service_did_document ? *options_.service_did_document
                                                 : params.value("did_document", Json(nullptr));
  if (doc.is_null()) return make_error(ErrorCode::kSignature, "a2a.service", "no DID Document for " + *did);
  // The card is not a trusted source: only a document that proves itself is taken, unless the
  // operator configured it.
  auto history = DidKeyHistory::build({doc}, /*trusted_source=*/options_.service_did_document.has_value());
  if (!history.ok()) return history.error();
  if (history->did().str() != *did) return make_error(ErrorCode::kSignature, "a2a.service", "the DID Document is not " + *did + "'s");
  std::map<std::string, std::vector<ConstraintSource>, std::less<>> sources;
  std::map<std::string, std::string, std::less<>> caps;
  if (params.contains("skills") && params["skills"].is_object()) {
    for (const auto& [skill, d] : params["skills"].items()) {
      HSK_ASSIGN_OR_RETURN(auto s, sources_from_description(d, "data", "a2a.card"));
      if (!d.contains("capability") || !d["capability"].is_string()) {
        return make_error(ErrorCode::kSchema, "a2a.card", "skill " + skill + " names no capability");
      }
      sources[skill] = std::move(s);
      caps[skill] = d["capability"].get<std::string>();
    }
  }
  std::lock_guard lock(mu_);
  service_did_ = *did;
  service_key_ = history->current().key;
  skill_sources_ = std::move(sources);
  skill_capability_ = std::move(caps);
  known_ = true;
  return {};
}

bool AgentGate::knows_service() const {
  std::lock_guard lock(mu_);
  return known_;
}

std::size_t AgentGate::cold_retries() const {
  std::lock_guard lock(mu_);
  return cold_retries_;
}

Result<Json> AgentGate::on_request(Json rpc, Version, AgentExchange& exchange) {
  return sign_send(std::move(rpc), /*may_be_warm=*/true, exchange);
}

Result<Json> AgentGate::sign_send(Json rpc, bool may_be_warm, AgentExchange& exchange) {
  const Method m = classify(text_member(rpc, "method").value_or(""));  // value() would throw on a non-string
  if (m != Method::kSend && m != Method::kStream) return rpc;
  Json* message = nullptr;
  if (auto p = rpc.find("params"); p != rpc.end() && p->is_object()) {
    if (auto msg = p->find("message"); msg != p->end() && msg->is_object()) message = &*msg;
  }
  if (message == nullptr) return rpc;
  exchange.send = true;
  std::optional<std::string> skill;
  if (const Json* ext = extension_data(*message)) skill = text_member(*ext, "skill");
  if (!skill) skill = options_.default_skill;
  std::string service, capability, token;
  std::vector<ConstraintSource> sources;
  {
    std::lock_guard lock(mu_);
    if (!known_ || !skill) return rpc;
    auto it = skill_capability_.find(*skill);
    if (it == skill_capability_.end()) return rpc;
    service = service_did_;
    capability = it->second;
    sources = skill_sources_[*skill];
    if (auto s = sessions_.find(capability); may_be_warm && s != sessions_.end() && clock_.now() < s->second.until) {
      token = s->second.token;
      exchange.session = s->second.serial;
    }
  }
  // Kept before our metadata goes in: a refused session means signing this request again, cold.
  const bool warm = !token.empty();
  std::shared_ptr<const Json> original = warm ? std::make_shared<const Json>(rpc) : nullptr;
  Json data = first_data(*message);
  if (data.is_null()) data = Json::object();
  Capability cap{capability, derive_constraints(sources, data), std::nullopt};
  HSK_ASSIGN_OR_RETURN(auto request, agent_.request(service, cap, clock_.now(),
                                                    token.empty() ? std::nullopt : std::optional<std::string>(token)));
  exchange.request_id = request["id"].get<std::string>();
  exchange.capability = capability;
  exchange.skill = *skill;
  exchange.warm = warm;
  exchange.rpc = std::move(original);
  if (options_.evidence) {
    Json sent = *message;
    strip_extension(sent);
    exchange.message = std::make_shared<const Json>(std::move(sent));
  }
  put_extension(*message, "skill", *skill);
  put_extension(*message, "request", std::move(request));
  return rpc;
}

Result<ServiceAnswer> AgentGate::check_answer(AgentExchange& exchange, const Json& answer) {
  std::string did;
  crypto::PublicKey key{};
  {
    std::lock_guard lock(mu_);
    did = service_did_;
    key = service_key_;
  }
  HSK_ASSIGN_OR_RETURN(auto checked, agent_.check_answer(answer, did, key, *exchange.request_id));
  if (checked.accepted) {
    exchange.acceptance = answer;
    const Acceptance& a = *checked.acceptance;
    if (a.session_token && a.session_ttl_seconds && *a.session_ttl_seconds > options_.session_margin_seconds) {
      std::lock_guard lock(mu_);
      // The same session again (a warm accept) keeps its serial; a new one gets a new serial.
      Session& s = sessions_[exchange.capability];
      if (s.serial == 0 || s.token != *a.session_token) s.serial = next_session_serial_++;
      s.token = *a.session_token;
      s.until = clock_.now() + std::chrono::seconds(*a.session_ttl_seconds - options_.session_margin_seconds);
    }
  }
  return checked;
}

AgentReply AgentGate::after_refusal(const AgentExchange& exchange, const Refusal& refusal, Json answer) {
  if (!exchange.warm) return ToClient{std::move(answer)};
  {
    std::lock_guard lock(mu_);
    if (auto s = sessions_.find(exchange.capability); s != sessions_.end() && s->second.serial == exchange.session) {
      sessions_.erase(s);
    }
  }
  if (exchange.cold_retry || !exchange.rpc || !refusal_ends_session(refusal)) return ToClient{std::move(answer)};
  AgentExchange cold;
  auto rpc = sign_send(*exchange.rpc, /*may_be_warm=*/false, cold);
  if (!rpc.ok() || !cold.request_id) {
    if (options_.log) options_.log("skill " + exchange.skill + ": cannot sign a cold retry; the refusal goes to the client");
    return ToClient{std::move(answer)};
  }
  cold.cold_retry = true;
  {
    std::lock_guard lock(mu_);
    ++cold_retries_;
  }
  if (options_.log) {
    options_.log("skill " + exchange.skill + ": the service refused the warm session (" + refusal.reason.code +
                 "); retrying once with a cold handshake");
  }
  return ColdRetry{std::move(rpc).value(), std::move(cold)};
}

Status AgentGate::check_receipt(const AgentExchange& exchange, const Json& receipt, const Json& subject) const {
  std::string did;
  crypto::PublicKey key{};
  {
    std::lock_guard lock(mu_);
    did = service_did_;
    key = service_key_;
  }
  StaticKeyResolver keys;
  keys.add(did, key);
  HSK_TRY(verify_receipt(receipt, keys, subject));
  HSK_ASSIGN_OR_RETURN(auto parsed, Receipt::from_json(receipt));
  if (parsed.handshake_id != *exchange.request_id || parsed.iss != did || parsed.sub != agent_.identity().did_string()) {
    return answer_error("the receipt is not bound to this request");
  }
  if (options_.on_receipt) options_.on_receipt(receipt, exchange.acceptance.value_or(Json(nullptr)));
  return {};
}

Status AgentGate::check_task_receipt(const AgentExchange& exchange, const Json& receipt, const FinishedTask& task) const {
  static const Json kNoMessage = Json::object();
  const ReceiptEvidence evidence =
      task_evidence(options_.evidence, exchange.skill, exchange.message ? *exchange.message : kNoMessage, task);
  return check_receipt(exchange, receipt, evidence.result);
}

Json AgentGate::invalid(const Json& response, const Error& why) const {
  return Json{{"jsonrpc", "2.0"},
              {"id", response.is_object() && response.contains("id") ? response["id"] : Json(nullptr)},
              {"error", Json{{"code", kInvalidAgentResponse},
                             {"message", "handshake: the service's answer does not verify: " + why.to_string()},
                             {"data", Json{{"response", response}}}}}};
}

AgentReply AgentGate::on_response(AgentExchange& exchange, Json response, Version v) {
  if (!exchange.send || !exchange.request_id || !response.is_object() || !response.contains("result")) {
    return ToClient{std::move(response)};
  }
  Json result = response["result"];
  const SendResult r = unwrap(result, v);
  if (r.kind == SendResult::Kind::kMessage) {
    const Json* ext = extension_data(*r.object);
    if (ext == nullptr || !ext->contains("acceptance") || !ext->contains("receipt")) {
      return ToClient{invalid(response, answer_error("the reply carries no acceptance and receipt"))};
    }
    auto checked = check_answer(exchange, (*ext)["acceptance"]);
    if (!checked.ok()) return ToClient{invalid(response, checked.error())};
    if (!checked->accepted) return ToClient{invalid(response, answer_error("the reply's acceptance is a refusal"))};
    const Json subject{{"a2a_context_id", text_member(*r.object, "contextId").value_or("")},
                       {"a2a_message_id", text_member(*r.object, "messageId").value_or("")},
                       {"parts", r.object->contains("parts") ? (*r.object)["parts"] : Json::array()}};
    if (auto s = check_receipt(exchange, (*ext)["receipt"], subject); !s.ok()) return ToClient{invalid(response, s.error())};
    return ToClient{std::move(response)};
  }
  if (r.kind != SendResult::Kind::kTask) return ToClient{std::move(response)};
  const Json& task = *r.object;
  const Json* status_ext = status_message_ext(task);
  if (status_ext == nullptr || !(status_ext->contains("acceptance") || status_ext->contains("refusal"))) {
    return ToClient{invalid(response, answer_error("the task carries no acceptance or refusal"))};
  }
  const bool refused = !status_ext->contains("acceptance");
  const Json& answer = refused ? (*status_ext)["refusal"] : (*status_ext)["acceptance"];
  auto checked = check_answer(exchange, answer);
  if (!checked.ok()) return ToClient{invalid(response, checked.error())};
  if (checked->accepted == refused) {
    return ToClient{invalid(response, answer_error(refused ? "the task's refusal is an acceptance" : "the task's acceptance is a refusal"))};
  }
  // A verified, signed refusal: for the client, unless it ends a warm request's session.
  if (refused) return after_refusal(exchange, *checked->refusal, std::move(response));
  const Json* task_ext = extension_data(task);
  if (task_ext != nullptr && task_ext->contains("receipt")) {
    const Json artifacts = artifacts_without_ours(task);
    const std::string id = text_member(task, "id").value_or(""), context_id = text_member(task, "contextId").value_or("");
    const std::string state = state_text(task);
    if (auto s = check_task_receipt(exchange, (*task_ext)["receipt"], FinishedTask{id, context_id, state, artifacts}); !s.ok()) {
      return ToClient{invalid(response, s.error())};
    }
  }
  return ToClient{std::move(response)};
}

AgentReply AgentGate::on_stream_event(AgentExchange& exchange, Json event, Version v) {
  if (!exchange.send || !exchange.request_id || !event.is_object() || !event.contains("result")) {
    return ToClient{std::move(event)};
  }
  Json result = event["result"];
  const SendResult r = unwrap(result, v);
  switch (r.kind) {
    case SendResult::Kind::kMessage:
      return on_response(exchange, std::move(event), v);
    case SendResult::Kind::kTask:
    case SendResult::Kind::kStatusUpdate: {
      const Json& holder = *r.object;
      if (!exchange.acceptance) {
        const Json* ext = status_message_ext(holder);
        if (ext != nullptr && (ext->contains("acceptance") || ext->contains("refusal"))) {
          const bool refused = !ext->contains("acceptance");
          const Json& answer = refused ? (*ext)["refusal"] : (*ext)["acceptance"];
          auto checked = check_answer(exchange, answer);
          if (!checked.ok()) return ToClient{invalid(event, checked.error())};
          if (checked->accepted == refused) {
            return ToClient{invalid(event, answer_error(refused ? "the refusal is an acceptance" : "the acceptance is a refusal"))};
          }
          if (refused) return after_refusal(exchange, *checked->refusal, std::move(event));
        }
      }
      if (r.kind == SendResult::Kind::kTask && holder.contains("artifacts") && holder["artifacts"].is_array()) {
        for (const auto& a : holder["artifacts"]) exchange.artifacts.push_back(without_ours(a));
      }
      if (r.kind == SendResult::Kind::kStatusUpdate) {
        if (const Json* ext = extension_data(holder); ext != nullptr && ext->contains("receipt")) {
          if (!exchange.acceptance) return ToClient{invalid(event, answer_error("a receipt without a verified acceptance"))};
          const Json artifacts(exchange.artifacts);
          const std::string id = text_member(holder, "taskId").value_or(""),
                            context_id = text_member(holder, "contextId").value_or("");
          const std::string state = state_text(holder);
          if (auto s = check_task_receipt(exchange, (*ext)["receipt"], FinishedTask{id, context_id, state, artifacts}); !s.ok()) {
            return ToClient{invalid(event, s.error())};
          }
        }
      }
      return ToClient{std::move(event)};
    }
    case SendResult::Kind::kArtifactUpdate:
      if (r.object->contains("artifact")) exchange.artifacts.push_back(without_ours((*r.object)["artifact"]));
      return ToClient{std::move(event)};
    case SendResult::Kind::kUnknown:
      break;
  }
  return ToClient{std::move(event)};
}

}  // namespace handshake::a2a
