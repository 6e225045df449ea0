#include "handshake/a2a/service_gate.hpp"

#include "handshake/encoding.hpp"
#include "handshake/ids.hpp"

namespace handshake::a2a {
namespace {

constexpr int kExtensionSupportRequired = -32008;

RefusalInfo policy_refusal(std::string detail) {
  RefusalInfo r;
  r.code = RefusalCode::kPolicyDenied;
  r.step = VerificationStep::kPolicy;
  r.detail = std::move(detail);
  return r;
}

RefusalInfo malformed(std::string detail) {
  RefusalInfo r;
  r.code = RefusalCode::kProtocolVersionUnsupported;
  r.step = VerificationStep::kSchemaValidation;
  r.detail = std::move(detail);
  return r;
}

const Json* member(const Json* object, std::string_view name) {
  if (object == nullptr || !object->is_object()) return nullptr;
  auto it = object->find(name);
  return it == object->end() ? nullptr : &*it;
}

// The JSON-RPC envelope's metadata.handshake when it carries a request (the TypeScript SDK's form).
const Json* rpc_handshake(const Json& rpc) {
  const Json* h = member(member(&rpc, "metadata"), "handshake");
  return member(h, "request") != nullptr ? h : nullptr;
}

void strip_rpc_handshake(Json& rpc) {
  if (rpc_handshake(rpc) == nullptr) return;
  Json& meta = rpc["metadata"];
  meta.erase("handshake");
  if (meta.empty()) rpc.erase("metadata");
}

// Answers the TypeScript SDK's form in kind: top-level metadata.handshake.receipt_id.
void put_rpc_receipt_id(Json& rpc_response, const std::string& receipt_id) {
  Json& meta = rpc_response["metadata"];
  if (!meta.is_object()) meta = Json::object();
  Json& h = meta["handshake"];
  if (!h.is_object()) h = Json::object();
  h["receipt_id"] = receipt_id;
}

Json rpc_result(const Json& id, Json result) { return Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}; }

Json rpc_error(const Json& id, int code, const std::string& message, Json data) {
  Json e{{"code", code}, {"message", message}};
  if (!data.is_null()) e["data"] = std::move(data);
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(e)}};
}

std::string now_text() { return time::format_rfc3339(std::chrono::floor<std::chrono::milliseconds>(SystemClock().now())); }

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

// The receipt and the evidence's carried members, under our key in `object`'s metadata.
void attach_receipt(Json& object, const Json& receipt, const Json& carried) {
  put_extension(object, "receipt", receipt);
  if (carried.is_object()) {
    for (const auto& [k, v] : carried.items()) put_extension(object, k, v);
  }
}

bool terminal(State s) { return s == State::kCompleted || s == State::kFailed || s == State::kCanceled || s == State::kRejected; }

// The status message of a task (or status update), created when the agent sent none.
Json& status_message(Json& holder, Version v) {
  Json& status = holder["status"];
  if (!status.is_object()) status = Json::object();
  Json& m = status["message"];
  if (!m.is_object()) {
    m = agent_message(v, "msg-" + ids::make_ulid(SystemClock().now()), "Handshake accepted",
                      text_member(holder, "contextId"),
                      text_member(holder, "id") ? text_member(holder, "id") : text_member(holder, "taskId"));
  }
  return m;
}

}  // namespace

ActionMapFormat skill_map_format() { return ActionMapFormat{"skills", "data", "a2a.skill_map"}; }

ServiceGate::ServiceGate(Service& service, ActionMap skills, GateOptions options)
    : service_(service), skills_(std::make_shared<const ActionMap>(std::move(skills))), options_(std::move(options)) {}

Inbound ServiceGate::refuse(const Json& id, const Json& message, Version v, const Decision& decision) const {
  if (options_.observer != nullptr) options_.observer->decided(decision, ops::Outcome{"a2a", {}, std::nullopt, std::nullopt});
  if (decision.response.is_null()) {
    // Nothing signed to carry (the service's key is unavailable): a JSON-RPC error that says so.
    Inbound in;
    in.kind = Inbound::Kind::kAnswer;
    in.message = Json{{"jsonrpc", "2.0"},
                      {"id", id},
                      {"error", Json{{"code", -32603},
                                     {"message", decision.refusal ? decision.refusal->detail
                                                                  : std::string("the service cannot sign its answer now")}}}};
    return in;
  }
  if (options_.on_refusal) options_.on_refusal(decision);
  const auto now = SystemClock().now();
  const std::string task_id = "task-" + ids::make_ulid(now);
  const std::string context_id = text_member(message, "contextId").value_or("ctx-" + ids::make_ulid(now));
  const std::string code = decision.refusal ? std::string(to_string(decision.refusal->code)) : "refused";
  Json status_msg = agent_message(v, "msg-" + ids::make_ulid(now), "Handshake refused: " + code, context_id, task_id);
  put_extension(status_msg, "refusal", decision.response);
  Json task{{"id", task_id},
            {"contextId", context_id},
            {"status", Json{{"state", state_name(State::kRejected, v)}, {"message", std::move(status_msg)},
                            {"timestamp", now_text()}}}};
  Inbound in;
  in.kind = Inbound::Kind::kAnswer;
  in.activated = true;
  in.message = rpc_result(id, wrap_task(std::move(task), v));
  return in;
}

ServiceGate::EnvelopeRequest ServiceGate::request_of(const Json& rpc, const Json& message, std::string_view raw_body,
                                                     std::optional<std::string_view> header_request) const {
  EnvelopeRequest out;
  const Json* ext = extension_data(message);
  const bool ours = member(ext, "request") != nullptr;
  const bool in_rpc = rpc_handshake(rpc) != nullptr;
  const int forms = int(ours) + int(in_rpc) + int(header_request.has_value());
  if (forms == 0) return out;
  out.present = true;
  if (forms > 1) {
    out.refusal = service_.refuse_unverified(
        policy_refusal("a send carries more than one HandshakeRequest (our metadata, X-Handshake-Request, "
                       "metadata.handshake): send one"));
    return out;
  }
  // The request as the agent sent it: re-read strictly when we have the raw body.
  std::optional<Json> strict;
  if (!raw_body.empty()) {
    json::ParseLimits limits;
    limits.max_bytes = raw_body.size();
    limits.max_depth = 128;
    auto parsed = json::parse_strict(raw_body, limits);
    if (!parsed.ok()) {
      out.refusal = service_.verify(raw_body.substr(0, service_.options()->max_request_bytes + 1));
      return out;
    }
    strict = std::move(parsed).value();
  }
  if (ours) {
    out.form = Exchange::Form::kOurs;
    const Json* e = strict ? extension_data((*strict)["params"]["message"]) : ext;
    out.request = member(e, "request") != nullptr ? *member(e, "request") : Json(nullptr);
    return out;
  }
  if (in_rpc) {
    out.form = Exchange::Form::kRpcMetadata;
    const Json* h = rpc_handshake(strict ? *strict : rpc);
    if (h == nullptr) {  // cannot happen for a body that decodes to `rpc`; refused rather than trusted
      out.refusal = service_.refuse_unverified(malformed("metadata.handshake.request is not in the body"));
      return out;
    }
    if (const Json* v = member(h, "spec_version");
        v != nullptr && (!v->is_string() || v->get_ref<const std::string&>() != kProtocolVersion)) {
      out.refusal = service_.refuse_unverified(
          malformed("metadata.handshake.spec_version is not \"" + std::string(kProtocolVersion) + "\""));
      return out;
    }
    out.request = *member(h, "request");
    return out;
  }
  out.form = Exchange::Form::kHeader;
  auto bytes = encoding::base64url_decode(*header_request);
  if (!bytes.ok()) {
    out.refusal = service_.refuse_unverified(
        malformed("X-Handshake-Request is not base64url without padding (" + bytes.error().reason + ")"));
    return out;
  }
  out.text.assign(bytes->begin(), bytes->end());
  json::ParseLimits limits;
  limits.max_bytes = service_.options()->max_request_bytes;
  limits.max_depth = 32;
  auto parsed = json::parse_strict(out.text, limits);
  if (!parsed.ok()) {
    out.refusal = service_.verify(std::string_view(out.text));  // the Service's own refusal of the text
    return out;
  }
  out.request = std::move(parsed).value();
  return out;
}

Inbound ServiceGate::on_request(Json rpc, Version v, const std::vector<std::string>& activated,
                                std::string_view raw_body, std::optional<std::string_view> header_request) const {
  Inbound in;
  in.exchange.version = v;
  const Json id = rpc.is_object() && rpc.contains("id") ? rpc["id"] : Json(nullptr);
  const std::string method = text_member(rpc, "method").value_or("");  // value() would throw on a non-string
  const Method m = classify(method);
  if (m == Method::kGetTask) in.exchange.kind = Exchange::Kind::kGetTask;
  if (m != Method::kSend && m != Method::kStream) {
    in.message = std::move(rpc);
    return in;
  }
  in.exchange.kind = Exchange::Kind::kSend;
  const bool ours = contains(activated, kExtensionUri);
  in.activated = ours;
  Json* message = nullptr;
  if (auto p = rpc.find("params"); p != rpc.end() && p->is_object()) {
    if (auto msg = p->find("message"); msg != p->end() && msg->is_object()) message = &*msg;
  }
  if (message == nullptr) {  // not a send the agent could run; let it answer
    in.message = std::move(rpc);
    return in;
  }
  // The reference SDKs know no extension URI: their forms count as using the handshake.
  const bool reference = header_request.has_value() || rpc_handshake(rpc) != nullptr;
  if (!ours && !reference) {
    if (options_.required) {
      in.kind = Inbound::Kind::kAnswer;
      in.message = rpc_error(id, kExtensionSupportRequired,
                             "Extension support required: " + std::string(kExtensionUri),
                             Json::array({Json{{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
                                               {"reason", "EXTENSION_SUPPORT_REQUIRED"},
                                               {"domain", "a2a-protocol.org"},
                                               {"metadata", Json{{"extension", kExtensionUri}}}}}));
      return in;
    }
    strip_extension(*message);
    in.message = std::move(rpc);
    return in;
  }

  EnvelopeRequest e = request_of(rpc, *message, raw_body, header_request);
  if (e.refusal) return refuse(id, *message, v, *e.refusal);
  const Json* ext = extension_data(*message);
  auto skill = ext != nullptr ? text_member(*ext, "skill") : std::nullopt;
  const auto skills = skills_.load();  // one map for the whole message, even if SIGHUP replaces it meanwhile
  if (!skill && e.present && e.form != Exchange::Form::kOurs) {
    // No skill named: the skill whose capability the request asks for, when exactly one has it.
    const Json* cap = member(member(&e.request, "capability"), "name");
    std::vector<std::string> named;
    if (cap != nullptr && cap->is_string()) {
      for (const auto& [name, rule] : skills->rules()) {
        if (rule.capability == cap->get_ref<const std::string&>()) named.push_back(name);
      }
    }
    if (named.size() > 1) {
      return refuse(id, *message, v,
                    service_.refuse_request(e.request, policy_refusal("several skills need capability " +
                                                                      cap->get<std::string>().substr(0, 128) +
                                                                      ": name one in metadata[\"" +
                                                                      std::string(kExtensionUri) + "\"].skill")));
    }
    if (named.size() == 1) skill = named.front();
  }
  const ActionRule* rule = skill ? skills->find(*skill) : nullptr;
  if (rule == nullptr) {
    if (skills->unmapped() == UnmappedActions::kPassThrough) {
      strip_extension(*message);
      strip_rpc_handshake(rpc);
      in.message = std::move(rpc);
      return in;
    }
    const std::string why = skill ? "skill " + skill->substr(0, 128) + " is not offered through handshakes"
                          : e.present && e.form != Exchange::Form::kOurs
                              ? std::string("no skill is offered for the request's capability")
                              : "a message needs metadata[\"" + std::string(kExtensionUri) + "\"].skill";
    return refuse(id, *message, v,
                  e.present ? service_.refuse_request(e.request, policy_refusal(why))
                            : service_.refuse_unverified(policy_refusal(why)));
  }
  if (!e.present) {
    return refuse(id, *message, v,
                  service_.refuse_unverified(policy_refusal("skill " + rule->action + " needs a HandshakeRequest in metadata[\"" +
                                                            std::string(kExtensionUri) + "\"].request for capability " +
                                                            rule->capability)));
  }
  Json data = first_data(*message);
  if (data.is_null()) data = Json::object();
  ActionBinding binding = bind_action(*rule, data);
  if (options_.derive) {
    if (auto derived = options_.derive(*rule, *message)) {
      if (!derived->ok()) {
        // Bound to the request, so the agent can tell which of its messages was declined.
        return refuse(id, *message, v,
                      service_.refuse_request(e.request, policy_refusal("skill " + rule->action + ": " + derived->error().to_string())));
      }
      binding = std::move(*derived).value();
    }
  }
  auto decision = std::make_shared<Decision>(e.form == Exchange::Form::kHeader
                                                 ? service_.verify(std::string_view(e.text), binding)
                                                 : service_.verify(e.request, binding));
  if (!decision->accepted) return refuse(id, *message, v, *decision);
  strip_extension(*message);
  if (options_.evidence) in.exchange.message = std::make_shared<const Json>(*message);
  strip_rpc_handshake(rpc);
  in.exchange.skill = rule->action;
  in.exchange.form = e.form;
  in.message = std::move(rpc);
  in.exchange.decision = std::move(decision);
  in.exchange.forwarded_at = std::chrono::steady_clock::now();
  return in;
}

std::optional<Json> ServiceGate::receipt_for(const Decision& decision, const ReceiptEvidence& evidence,
                                             std::chrono::steady_clock::time_point forwarded_at) const {
  ReceiptOptions o = options_.receipt;
  if (evidence.summary) o.result_summary = evidence.summary;
  auto receipt = service_.issue_receipt(decision, evidence.result, evidence.status, o);
  if (options_.observer != nullptr) {
    std::optional<std::chrono::nanoseconds> upstream;
    if (forwarded_at != std::chrono::steady_clock::time_point{}) upstream = std::chrono::steady_clock::now() - forwarded_at;
    options_.observer->decided(
        decision, ops::Outcome{"a2a", {}, receipt.ok() ? std::optional(receipt->value("id", std::string())) : std::nullopt,
                               upstream});
  }
  if (!receipt.ok()) return std::nullopt;
  if (options_.on_receipt) options_.on_receipt(*receipt, decision);
  return std::move(receipt).value();
}

void ServiceGate::remember(const std::string& task_id, Pending p) const {
  if (p.receipt) {
    p.issued = Json{{"receipt", std::move(*p.receipt)}, {"carried", std::move(p.carried)}}.dump();
    p.receipt.reset();
    p.carried = Json();
    p.decision.reset();
    p.message.reset();
  }
  std::lock_guard lock(mu_);
  if (tasks_.insert_or_assign(task_id, std::move(p)).second) order_.push_back(task_id);
  while (tasks_.size() > options_.remembered_tasks && !order_.empty()) {
    tasks_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<Json> ServiceGate::task_receipt(const Pending& p, const FinishedTask& task, Json& carried) const {
  static const Json kNoMessage = Json::object();
  ReceiptEvidence evidence = task_evidence(options_.evidence, p.skill, p.message ? *p.message : kNoMessage, task);
  auto receipt = receipt_for(*p.decision, evidence, p.forwarded_at);
  if (receipt) carried = std::move(evidence.carried);
  return receipt;
}

std::string ServiceGate::finish_task(Json& task, Version v, const Exchange* send) const {
  const auto task_id = text_member(task, "id");
  if (!task_id) return {};
  Pending p;
  if (send != nullptr && send->decision) {
    p.decision = send->decision;
    p.skill = send->skill;
    p.message = send->message;
    p.forwarded_at = send->forwarded_at;
  }
  {
    std::lock_guard lock(mu_);
    if (auto it = tasks_.find(*task_id); it != tasks_.end()) {
      if (!p.decision) p = it->second;
      if (!it->second.issued.empty()) {
        const Json issued = Json::parse(it->second.issued);  // written by remember()
        p.receipt = issued["receipt"];
        p.carried = issued["carried"];
      }
    }
  }
  if (!p.decision && !p.receipt) return {};  // not a task this gate accepted
  if (send != nullptr && send->decision) put_extension(status_message(task, v), "acceptance", send->decision->response);
  const std::string state = state_text(task);
  if (!p.receipt && terminal(state_of(state))) {
    const Json artifacts = artifacts_without_ours(task);
    const std::string context_id = text_member(task, "contextId").value_or("");
    p.receipt = task_receipt(p, FinishedTask{*task_id, context_id, state, artifacts}, p.carried);
  }
  const std::optional<Json> receipt = p.receipt;
  const Json carried = p.carried;
  remember(*task_id, std::move(p));
  if (!receipt) return {};
  attach_receipt(task, *receipt, carried);
  if (task.contains("artifacts") && task["artifacts"].is_array()) {
    for (auto& a : task["artifacts"]) {
      if (a.is_object()) attach_receipt(a, *receipt, carried);
    }
  }
  return receipt->value("id", std::string());
}

Json ServiceGate::on_response(Exchange& exchange, Json response) const {
  if (exchange.kind == Exchange::Kind::kOther || !response.is_object()) return response;
  auto r = response.find("result");
  if (r == response.end() || !r->is_object()) return response;
  const SendResult result = unwrap(*r, exchange.version);
  exchange.receipt_id.clear();
  if (result.kind == SendResult::Kind::kTask) {
    exchange.receipt_id =
        finish_task(*result.object, exchange.version, exchange.kind == Exchange::Kind::kSend ? &exchange : nullptr);
  } else if (result.kind == SendResult::Kind::kMessage && exchange.decision) {
    Json& message = *result.object;
    put_extension(message, "acceptance", exchange.decision->response);
    ReceiptEvidence evidence;
    evidence.result = Json{{"a2a_context_id", text_member(message, "contextId").value_or("")},
                           {"a2a_message_id", text_member(message, "messageId").value_or("")},
                           {"parts", message.contains("parts") ? message["parts"] : Json::array()}};
    if (auto receipt = receipt_for(*exchange.decision, evidence, exchange.forwarded_at)) {
      put_extension(message, "receipt", *receipt);
      exchange.receipt_id = receipt->value("id", std::string());
    }
  }
  if (!exchange.receipt_id.empty() && exchange.form == Exchange::Form::kRpcMetadata) {
    put_rpc_receipt_id(response, exchange.receipt_id);
  }
  return response;
}

Json ServiceGate::on_stream_event(Exchange& exchange, Json event) const {
  if (exchange.kind != Exchange::Kind::kSend || !exchange.decision || !event.is_object()) return event;
  auto r = event.find("result");
  if (r == event.end() || !r->is_object()) return event;
  const SendResult result = unwrap(*r, exchange.version);
  const Version v = exchange.version;
  const Pending pending{exchange.decision, exchange.skill, exchange.message, exchange.forwarded_at, std::nullopt, Json(), {}};
  switch (result.kind) {
    case SendResult::Kind::kMessage: {
      exchange.acceptance_sent = true;
      return on_response(exchange, std::move(event));
    }
    case SendResult::Kind::kTask: {
      Json& task = *result.object;
      for (auto& a : artifacts_without_ours(task)) exchange.artifacts.push_back(std::move(a));
      if (!exchange.acceptance_sent) {
        put_extension(status_message(task, v), "acceptance", exchange.decision->response);
        exchange.acceptance_sent = true;
      }
      if (auto id = text_member(task, "id")) remember(*id, pending);
      return event;
    }
    case SendResult::Kind::kArtifactUpdate: {
      Json& update = *result.object;
      if (update.contains("artifact")) exchange.artifacts.push_back(without_ours(update["artifact"]));
      return event;
    }
    case SendResult::Kind::kStatusUpdate: {
      Json& update = *result.object;
      if (!exchange.acceptance_sent) {
        put_extension(status_message(update, v), "acceptance", exchange.decision->response);
        exchange.acceptance_sent = true;
      }
      const std::string state = state_text(update);
      if (terminal(state_of(state))) {
        const auto task_id = text_member(update, "taskId").value_or("");
        const Json artifacts(exchange.artifacts);
        const std::string context_id = text_member(update, "contextId").value_or("");
        Pending done = pending;
        if (auto receipt = task_receipt(done, FinishedTask{task_id, context_id, state, artifacts}, done.carried)) {
          attach_receipt(update, *receipt, done.carried);
          exchange.receipt_id = receipt->value("id", std::string());
          if (exchange.form == Exchange::Form::kRpcMetadata) put_rpc_receipt_id(event, exchange.receipt_id);
          done.receipt = std::move(receipt);
          if (!task_id.empty()) remember(task_id, std::move(done));
        }
      }
      return event;
    }
    case SendResult::Kind::kUnknown: break;
  }
  return event;
}

Json ServiceGate::agent_card(Json card) const {
  if (!card.is_object()) return card;
  Json skills = Json::object();
  const auto map = skills_.load();
  for (const auto& [name, rule] : map->rules()) skills[name] = ActionMap::describe(rule, service_.options()->capabilities);
  Json params{{"service_did", service_.did()}, {"skills", std::move(skills)}, {"protocol_version", "0.2.3"}};
  if (options_.did_document) params["did_document"] = *options_.did_document;
  Json ext{{"uri", kExtensionUri},
           {"description", "Handshake Protocol v0.2.3: signed delegations checked per message, signed receipts per task"},
           {"required", options_.required},
           {"params", std::move(params)}};
  Json& caps = card["capabilities"];
  if (!caps.is_object()) caps = Json::object();
  Json& exts = caps["extensions"];
  if (!exts.is_array()) exts = Json::array();
  Json kept = Json::array();
  for (auto& e : exts) {
    if (text_member(e, "uri") != kExtensionUri) kept.push_back(std::move(e));
  }
  kept.push_back(std::move(ext));
  exts = std::move(kept);
  // The card is no longer the one the agent signed: a stale signature must not travel with it.
  if (card.contains("signatures")) card["signatures"] = Json::array();
  return card;
}

}  // namespace handshake::a2a
