#include "handshake/mcp/service_gate.hpp"

#include <set>

#include "handshake/encoding.hpp"

#include "handshake/mcp/stdio.hpp"

namespace handshake::mcp {

namespace {

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

// params._meta.handshake when it carries a request_b64u (the reference SDKs' form).
const Json* reference_member(const Json* meta) {
  const Json* h = member(meta, kReferenceKey);
  return member(h, kReferenceRequestField) != nullptr ? h : nullptr;
}

Json& meta_of(Json& object) {
  Json& meta = object["_meta"];
  if (!meta.is_object()) meta = Json::object();
  return meta;
}

}  // namespace

ServiceGate::ServiceGate(Service& service, ToolMap map, GateOptions options)
    : service_(service), map_(std::make_shared<const ToolMap>(std::move(map))), options_(std::move(options)) {}

void ServiceGate::observe(const Decision& decision, std::string_view capability, std::optional<std::string> receipt_id,
                          std::optional<std::chrono::nanoseconds> upstream) const {
  if (options_.observer == nullptr) return;
  options_.observer->decided(decision, ops::Outcome{"mcp", capability, std::move(receipt_id), upstream});
}

Json ServiceGate::service_meta() const {
  Json m{{"did", service_.did()}, {"version", std::string(kProtocolVersion)}};
  if (options_.did_document) m["did_document"] = *options_.did_document;
  return m;
}

Inbound ServiceGate::refuse(const Json& id, const Decision& decision, std::string_view tool,
                            std::string_view capability) const {
  if (options_.on_refusal) options_.on_refusal(decision, tool);
  observe(decision, capability, std::nullopt, std::nullopt);
  Inbound in;
  in.kind = Inbound::Kind::kAnswer;
  in.message = refusal_response(id, decision);
  return in;
}

Inbound ServiceGate::on_client_message(Json message, std::string_view raw_text) const {
  Inbound in;
  if (message_type(message) != MessageType::kRequest) {
    in.message = std::move(message);
    return in;
  }
  const std::string_view method = method_of(message);
  if (method == "tools/call") return gate_tool_call(std::move(message), raw_text);
  if (method == "tools/list") in.exchange.kind = Exchange::Kind::kToolsList;
  if (method == "initialize") in.exchange.kind = Exchange::Kind::kInitialize;
  in.message = std::move(message);
  return in;
}

ServiceGate::EnvelopeRequest ServiceGate::request_of(const Json* meta, std::string_view raw_text) const {
  EnvelopeRequest out;
  const bool ours = member(meta, kRequestKey) != nullptr;
  const bool reference = reference_member(meta) != nullptr;
  if (!ours && !reference) return out;
  if (ours && reference) {
    out.refusal = service_.refuse_request(*member(meta, kRequestKey),
                                          policy_refusal("params._meta carries both \"" + std::string(kRequestKey) +
                                                         "\" and handshake.request_b64u: send one HandshakeRequest"));
    return out;
  }
  // The envelope as the agent sent it: re-read strictly when we have the raw text.
  std::optional<Json> strict_meta;
  if (!raw_text.empty()) {
    json::ParseLimits limits;
    limits.max_bytes = raw_text.size();
    limits.max_depth = 128;
    auto strict = json::parse_strict(raw_text, limits);
    if (!strict.ok()) {
      // Not strict JSON: the Service refuses the text itself (protocol_version_unsupported).
      out.refusal = service_.verify(raw_text.substr(0, service_.options()->max_request_bytes + 1));
      return out;
    }
    const Json* m = member(member(&*strict, "params"), "_meta");
    strict_meta = m != nullptr ? *m : Json(nullptr);
    meta = &*strict_meta;
  }
  if (ours) {
    out.form = EnvelopeRequest::Form::kOurs;
    const Json* r = member(meta, kRequestKey);
    out.request = r != nullptr ? *r : Json(nullptr);  // absent from the strict text: the Service refuses null
    return out;
  }
  out.form = EnvelopeRequest::Form::kReference;
  const Json* h = reference_member(meta);
  const Json* b64u = member(h, kReferenceRequestField);
  if (b64u == nullptr || !b64u->is_string()) {
    out.refusal = service_.refuse_unverified(malformed("params._meta.handshake.request_b64u is not a string"));
    return out;
  }
  if (const Json* v = member(h, kReferenceVersionField); v != nullptr && (!v->is_string() || v->get_ref<const std::string&>() != kProtocolVersion)) {
    out.refusal = service_.refuse_unverified(
        malformed("params._meta.handshake.spec_version is not \"" + std::string(kProtocolVersion) + "\""));
    return out;
  }
  auto bytes = encoding::base64url_decode(b64u->get_ref<const std::string&>());
  if (!bytes.ok()) {
    out.refusal = service_.refuse_unverified(
        malformed("params._meta.handshake.request_b64u is not base64url without padding (" + bytes.error().reason + ")"));
    return out;
  }
  out.text.assign(bytes->begin(), bytes->end());
  return out;
}

Inbound ServiceGate::gate_tool_call(Json message, std::string_view raw_text) const {
  const Json id = message["id"];
  Json& params = message["params"];
  std::string tool;
  if (params.is_object()) {
    if (auto n = params.find("name"); n != params.end() && n->is_string()) tool = n->get<std::string>();
  }
  if (tool.empty()) {
    Inbound in;
    in.kind = Inbound::Kind::kAnswer;
    in.message = error_response(id, kInvalidParams, "tools/call needs params.name");
    return in;
  }
  const auto map = map_.load();  // one map for the whole call, even if SIGHUP replaces it meanwhile
  const ToolRule* rule = map->find(tool);
  Json* meta = nullptr;
  if (auto m = params.find("_meta"); m != params.end() && m->is_object()) meta = &*m;

  if (rule == nullptr) {
    if (map->unmapped() == UnmappedTools::kPassThrough) {
      Inbound in;
      in.message = std::move(message);
      in.exchange.kind = Exchange::Kind::kToolCall;
      in.exchange.tool = std::move(tool);
      return in;
    }
    const RefusalInfo why = policy_refusal("tool " + tool.substr(0, 128) + " is not offered through handshakes");
    // Bound to the request when one can be read, so the agent can match the refusal to it.
    const EnvelopeRequest e = request_of(meta, raw_text);
    Json bound;
    if (!e.refusal && e.form == EnvelopeRequest::Form::kOurs) bound = e.request;
    if (!e.refusal && e.form == EnvelopeRequest::Form::kReference) {
      if (auto r = json::parse_strict(e.text); r.ok()) bound = std::move(r).value();
    }
    return refuse(id, bound.is_null() ? service_.refuse_unverified(why) : service_.refuse_request(bound, why), tool);
  }

  EnvelopeRequest e = request_of(meta, raw_text);
  if (e.refusal) return refuse(id, *e.refusal, tool, rule->capability);
  if (e.form == EnvelopeRequest::Form::kNone) {
    return refuse(id,
                  service_.refuse_unverified(policy_refusal(
                      "tool " + tool + " needs a HandshakeRequest in params._meta[\"" + std::string(kRequestKey) +
                      "\"] (or params._meta.handshake.request_b64u) for capability " + rule->capability)),
                  tool, rule->capability);
  }
  const Json arguments = params.contains("arguments") ? params["arguments"] : Json::object();
  ActionBinding action;
  action.capability = rule->capability;
  action.constraints = derive_constraints(rule->constraints, arguments);
  const bool reference = e.form == EnvelopeRequest::Form::kReference;
  auto decision = std::make_shared<Decision>(reference ? service_.verify(std::string_view(e.text), action)
                                                       : service_.verify(e.request, action));
  if (!decision->accepted) return refuse(id, *decision, tool, rule->capability);

  meta->erase(std::string(reference ? kReferenceKey : kRequestKey));
  if (meta->empty()) params.erase("_meta");
  Inbound in;
  in.message = std::move(message);
  in.exchange.kind = Exchange::Kind::kToolCall;
  in.exchange.tool = std::move(tool);
  in.exchange.capability = rule->capability;
  in.exchange.decision = std::move(decision);
  in.exchange.forwarded_at = std::chrono::steady_clock::now();
  in.exchange.reference_form = reference;
  return in;
}

Json ServiceGate::on_response(const Exchange& exchange, Json response) const {
  if (!response.is_object()) return response;
  switch (exchange.kind) {
    case Exchange::Kind::kOther:
      return response;
    case Exchange::Kind::kInitialize: {
      if (auto r = response.find("result"); r != response.end() && r->is_object()) {
        meta_of(*r)[std::string(kServiceKey)] = service_meta();
      }
      return response;
    }
    case Exchange::Kind::kToolsList: {
      auto r = response.find("result");
      if (r == response.end() || !r->is_object()) return response;
      const auto map = map_.load();
      if (options_.log && !told_missing_.load(std::memory_order_relaxed)) {
        if (auto missing = missing_tools(*map, *r); !missing.empty() && !told_missing_.exchange(true)) {
          std::string names;
          for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
          options_.log("the tool map names tools the server does not offer: " + names + " (a typo in the map?)");
        }
      }
      if (auto tools = r->find("tools"); tools != r->end() && tools->is_array()) {
        Json kept = Json::array();
        for (auto& t : *tools) {
          const ToolRule* rule = t.is_object() && t.contains("name") && t["name"].is_string()
                                     ? map->find(t["name"].get<std::string>())
                                     : nullptr;
          if (rule != nullptr) {
            meta_of(t)[std::string(kToolKey)] = ToolMap::describe(*rule, service_.options()->capabilities);
          } else if (map->unmapped() == UnmappedTools::kRefuse) {
            continue;  // every call to it would be refused: not offered
          }
          kept.push_back(std::move(t));
        }
        *tools = std::move(kept);
      }
      meta_of(*r)[std::string(kServiceKey)] = service_meta();
      return response;
    }
    case Exchange::Kind::kToolCall:
      break;
  }
  if (!exchange.decision) return response;  // passed through: no handshake, no receipt
  const Decision& d = *exchange.decision;
  const auto upstream = std::chrono::steady_clock::now() - exchange.forwarded_at;
  auto done = [&](const Result<Json>& receipt) {
    if (receipt.ok() && options_.on_receipt) options_.on_receipt(*receipt, d);
    observe(d, exchange.capability, receipt.ok() ? std::optional(receipt->value("id", std::string())) : std::nullopt,
            upstream);
  };
  if (auto r = response.find("result"); r != response.end()) {
    // The receipt commits to the result as the client will hold it: a _meta that is not an
    // object (null, say) gives way to ours below, so it must not be in the subject either, or no
    // client could recompute it.
    // Likewise a _meta.handshake that is not an object gives way to the reference answer's.
    const bool in_kind = exchange.reference_form && r->is_object();
    if (r->is_object()) meta_of(*r);
    if (in_kind && !meta_of(*r)[std::string(kReferenceKey)].is_object()) meta_of(*r)[std::string(kReferenceKey)] = Json::object();
    auto receipt = service_.issue_receipt(d, receipt_subject(*r), receipt_status(*r), options_.receipt);
    if (r->is_object()) {
      Json& meta = meta_of(*r);
      meta[std::string(kAcceptanceKey)] = d.response;
      if (receipt.ok()) meta[std::string(kReceiptKey)] = *receipt;
      if (in_kind) {
        Json& h = meta[std::string(kReferenceKey)];
        if (receipt.ok()) h[std::string(kReferenceReceiptField)] = receipt->value("id", std::string());
        if (h.empty()) meta.erase(std::string(kReferenceKey));
      }
    }
    done(receipt);
    return response;
  }
  if (auto e = response.find("error"); e != response.end() && e->is_object()) {
    auto receipt = service_.issue_receipt(d, *e, "error", options_.receipt);
    if (receipt.ok()) {
      Json& data = (*e)["data"];
      if (data.is_null()) data = Json::object();
      if (data.is_object()) {
        data[std::string(kAcceptanceKey)] = d.response;
        data[std::string(kReceiptKey)] = *receipt;
      }
    }
    done(receipt);
    return response;
  }
  // Neither a result nor an error object: no receipt, but the decision still counts.
  observe(d, exchange.capability, std::nullopt, upstream);
  return response;
}

// ---- Middleware ----------------------------------------------------------------------------------

Json Middleware::handle(Json message, std::string_view raw, const Handler& next) const {
  Inbound in = gate_.on_client_message(std::move(message), raw);
  if (in.kind == Inbound::Kind::kAnswer) return std::move(in.message);
  Json response = next(in.message);
  if (response.is_null()) return response;
  return gate_.on_response(in.exchange, std::move(response));
}

Handler Middleware::wrap(Handler next) const {
  return [this, next = std::move(next)](const Json& message) { return handle(message, {}, next); };
}

std::vector<std::string> missing_tools(const ToolMap& map, const Json& result) {
  std::vector<std::string> missing;
  if (!result.is_object() || result.contains("nextCursor")) return missing;
  const auto tools = result.find("tools");
  if (tools == result.end() || !tools->is_array()) return missing;
  std::set<std::string, std::less<>> offered;
  for (const auto& t : *tools) {
    if (t.is_object() && t.contains("name") && t["name"].is_string()) offered.insert(t["name"].get<std::string>());
  }
  for (const auto& [name, rule] : map.rules()) {
    if (offered.count(name) == 0) missing.push_back(name);
  }
  return missing;
}

std::string Middleware::handle_line(std::string_view line, const Handler& next, std::size_t max_bytes) const {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > max_bytes) {
    IdScanner id;  // not parsed whole (that is what the limit prevents), but its id is answered
    id.feed(line);
    return serialize(error_response(id.id(), kMessageTooLarge,
                                    "message of " + std::to_string(line.size()) + " bytes exceeds the limit of " +
                                        std::to_string(max_bytes)));
  }
  ClientLine in = read_client_line(line);
  if (in.error) return serialize(*in.error);
  Json response = handle(std::move(*in.message), line, next);
  return response.is_null() ? std::string() : serialize(response);
}

}  // namespace handshake::mcp
