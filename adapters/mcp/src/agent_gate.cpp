#include "handshake/mcp/agent_gate.hpp"

#include "handshake/did_document.hpp"
#include "handshake/receipt.hpp"
#include "handshake/resolver.hpp"

namespace handshake::mcp {

AgentGate::AgentGate(Agent agent, AgentGateOptions options, const Clock& clock)
    : agent_(std::move(agent)), options_(std::move(options)), clock_(clock) {
  if (options_.service_did_document) {
    auto history = DidKeyHistory::build({*options_.service_did_document}, /*trusted_source=*/true);
    if (history.ok()) {
      service_did_ = history->did().str();
      service_key_ = history->current().key;
    } else {
      log("the configured service DID Document is unusable: " + history.error().to_string());
    }
  }
}

void AgentGate::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

std::size_t AgentGate::receipts_verified() const {
  std::lock_guard lock(mu_);
  return verified_;
}

std::size_t AgentGate::cold_retries() const {
  std::lock_guard lock(mu_);
  return cold_retries_;
}

std::optional<std::string> AgentGate::service_did() const {
  std::lock_guard lock(mu_);
  return service_did_;
}

// Called with mu_ held.
void AgentGate::learn_service(const Json& meta) {
  if (!meta.is_object()) return;
  const auto did = meta.find("did");
  if (did == meta.end() || !did->is_string()) return;
  const std::string published = did->get<std::string>();
  if (options_.service_did && *options_.service_did != published) {
    log("the service presents itself as " + published + ", not the configured " + *options_.service_did +
        "; no call will be sent to it");
    impostor_ = published;
    return;
  }
  if (service_key_) {
    if (*service_did_ != published) {
      log("the service presents itself as " + published + ", not " + *service_did_ + "; no call will be sent to it");
      impostor_ = published;
    }
    return;
  }
  const auto doc = meta.find("did_document");
  if (doc == meta.end()) {
    log("the service publishes no DID Document; give one with --service-did-doc to check its answers");
    service_did_ = published;
    return;
  }
  // Not a trusted source: only a document that proves itself (self-certifying DID) is taken.
  auto history = DidKeyHistory::build({*doc}, /*trusted_source=*/false);
  if (!history.ok() || history->did().str() != published) {
    log("the service's DID Document does not prove " + published +
        (history.ok() ? std::string() : ": " + history.error().to_string()));
    return;
  }
  service_did_ = published;
  service_key_ = history->current().key;
}

AgentInbound AgentGate::on_client_message(Json message) {
  AgentInbound in;
  if (message_type(message) != MessageType::kRequest) {
    in.message = std::move(message);
    return in;
  }
  const std::string_view method = method_of(message);
  if (method == "initialize") in.exchange.kind = AgentExchange::Kind::kInitialize;
  if (method == "tools/list") in.exchange.kind = AgentExchange::Kind::kToolsList;
  if (method != "tools/call") {
    in.message = std::move(message);
    return in;
  }
  const auto params = message.find("params");
  if (params == message.end() || !params->is_object() || !params->contains("name") || !(*params)["name"].is_string()) {
    in.exchange.kind = AgentExchange::Kind::kToolCall;
    in.message = std::move(message);
    return in;
  }
  return sign_call(std::move(message), /*may_be_warm=*/true);
}

AgentInbound AgentGate::sign_call(Json message, bool may_be_warm) {
  AgentInbound in;
  in.exchange.kind = AgentExchange::Kind::kToolCall;
  Json& params = message["params"];
  in.exchange.tool = params["name"].get<std::string>();
  const Timestamp now = clock_.now();
  std::optional<std::string> did;
  std::optional<ToolInfo> info;
  std::optional<std::string> token;
  std::optional<std::string> impostor;
  {
    std::lock_guard lock(mu_);
    did = service_did_;
    impostor = impostor_;
    if (auto t = tools_.find(in.exchange.tool); t != tools_.end()) info = t->second;
    if (info && may_be_warm) {
      if (auto s = sessions_.find(info->capability); s != sessions_.end()) {
        if (s->second.usable_until > now) {
          token = s->second.token;
          in.exchange.session = s->second.serial;
        } else {
          sessions_.erase(s);
        }
      }
    }
  }
  if (impostor) {
    // Its arguments are not for a server this agent does not trust: answered here.
    const std::string why = "the service presents itself as " + *impostor + ", not the configured " +
                            options_.service_did.value_or(did.value_or("service")) +
                            " (--service-did / --service-did-doc): the call was not sent";
    log("tools/call " + in.exchange.tool + ": " + why);
    in.answer_now = true;
    in.exchange.kind = AgentExchange::Kind::kOther;
    in.message = error_response(message.value("id", Json()), kReceiptUnverified, why);
    return in;
  }
  if (!info || !did) {
    if (!info) log("tools/call " + in.exchange.tool + ": the service did not mark it as needing a handshake; sent as is");
    else log("tools/call " + in.exchange.tool + ": the service's DID is unknown (no tools/list yet?); sent without a handshake");
    in.message = std::move(message);
    return in;
  }
  const Json arguments = params.contains("arguments") ? params["arguments"] : Json::object();
  Capability capability{info->capability, derive_constraints(info->sources, arguments), std::nullopt};
  auto request = agent_.request(*did, capability, now, token);
  if (!request.ok()) {
    log("tools/call " + in.exchange.tool + ": cannot sign a request: " + request.error().to_string());
    in.message = std::move(message);
    return in;
  }
  in.exchange.capability = info->capability;
  in.exchange.request_id = (*request)["id"].get<std::string>();
  in.exchange.warm = token.has_value();
  // Kept before our member goes in: a refused session means signing this call again, cold.
  if (in.exchange.warm) in.exchange.call = std::make_shared<const Json>(message);
  Json& meta = params["_meta"];
  if (!meta.is_object()) meta = Json::object();
  meta[std::string(kRequestKey)] = std::move(request).value();
  in.message = std::move(message);
  return in;
}

AgentReply AgentGate::on_response(const AgentExchange& exchange, Json response) {
  if (!response.is_object()) return ToClient{std::move(response)};
  switch (exchange.kind) {
    case AgentExchange::Kind::kOther:
      return ToClient{std::move(response)};
    case AgentExchange::Kind::kInitialize:
    case AgentExchange::Kind::kToolsList: {
      const auto r = response.find("result");
      if (r == response.end() || !r->is_object()) return ToClient{std::move(response)};
      std::lock_guard lock(mu_);
      if (auto m = r->find("_meta"); m != r->end() && m->is_object()) {
        if (auto s = m->find(kServiceKey); s != m->end()) learn_service(*s);
      }
      if (exchange.kind == AgentExchange::Kind::kToolsList) {
        if (auto tools = r->find("tools"); tools != r->end() && tools->is_array()) {
          for (const auto& t : *tools) {
            if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) continue;
            const std::string name = t["name"].get<std::string>();
            const auto m = t.find("_meta");
            if (m == t.end() || !m->is_object() || !m->contains(kToolKey)) {
              tools_.erase(name);
              continue;
            }
            const Json& entry = (*m)[std::string(kToolKey)];
            auto sources = sources_from_tool_meta(entry);
            if (!sources.ok() || !entry.contains("capability") || !entry["capability"].is_string()) {
              log("tool " + name + ": malformed handshake metadata");
              continue;
            }
            tools_[name] = ToolInfo{entry["capability"].get<std::string>(), std::move(sources).value()};
          }
        }
      }
      return ToClient{std::move(response)};
    }
    case AgentExchange::Kind::kToolCall:
      break;
  }
  if (!exchange.request_id) return ToClient{std::move(response)};
  return check_call(exchange, std::move(response));
}

AgentReply AgentGate::check_call(const AgentExchange& exchange, Json response) {
  const Json id = response.contains("id") ? response["id"] : Json();
  std::optional<std::string> did;
  std::optional<crypto::PublicKey> key;
  {
    std::lock_guard lock(mu_);
    did = service_did_;
    key = service_key_;
    // A warm request that was refused (or whose answer is not an acceptance) ends the session,
    // unless a newer one has replaced it meanwhile.
    if (exchange.warm && !response.contains("result")) {
      if (auto s = sessions_.find(exchange.capability); s != sessions_.end() && s->second.serial == exchange.session) {
        sessions_.erase(s);
      }
    }
  }
  auto unverified = [&](const std::string& why) {
    log("tools/call " + exchange.tool + ": " + why);
    return ToClient{error_response(id, kReceiptUnverified, "handshake answer did not verify: " + why,
                                   Json{{"response", response}})};
  };
  if (auto refusal = refusal_of(response)) {
    if (!key) return ToClient{std::move(response)};  // cannot check it; the client still learns why
    auto checked = agent_.check_answer(*refusal, *did, *key, *exchange.request_id);
    if (!checked.ok() || checked->accepted) {
      return unverified("refusal: " + (checked.ok() ? std::string("not a refusal") : checked.error().to_string()));
    }
    const std::string& code = checked->refusal->reason.code;
    if (exchange.warm && !exchange.cold_retry && exchange.call && refusal_ends_session(*checked->refusal)) {
      AgentInbound cold = sign_call(*exchange.call, /*may_be_warm=*/false);
      if (cold.exchange.request_id) {
        cold.exchange.cold_retry = true;
        {
          std::lock_guard lock(mu_);
          ++cold_retries_;
        }
        log("tools/call " + exchange.tool + ": the service refused the warm session (" + code +
            "); retrying once with a cold handshake");
        return ColdRetry{std::move(cold)};
      }
      log("tools/call " + exchange.tool + ": cannot sign a cold retry; the refusal goes to the client");
    }
    log("tools/call " + exchange.tool + " refused: " + code);
    return ToClient{std::move(response)};
  }
  // The receipt and acceptance ride in result._meta, or in error.data for a call that failed.
  Json* holder = nullptr;
  Json* subject_source = nullptr;
  bool is_error = false;
  if (auto r = response.find("result"); r != response.end() && r->is_object()) {
    if (auto m = r->find("_meta"); m != r->end() && m->is_object()) holder = &*m;
    subject_source = &*r;
  } else if (auto e = response.find("error"); e != response.end() && e->is_object()) {
    if (auto d = e->find("data"); d != e->end() && d->is_object()) holder = &*d;
    subject_source = &*e;
    is_error = true;
  }
  if (!key) return unverified("the service's key is unknown (no verifiable DID Document)");
  if (holder == nullptr || !holder->contains(kAcceptanceKey) || !holder->contains(kReceiptKey)) {
    return unverified("the response carries no acceptance and receipt");
  }
  const Json acceptance = (*holder)[std::string(kAcceptanceKey)];
  const Json receipt = (*holder)[std::string(kReceiptKey)];
  auto checked = agent_.check_answer(acceptance, *did, *key, *exchange.request_id);
  if (!checked.ok() || !checked->accepted) {
    return unverified("acceptance: " + (checked.ok() ? std::string("not an acceptance") : checked.error().to_string()));
  }
  Json subject;
  if (is_error) {
    subject = *subject_source;
    subject["data"].erase(std::string(kAcceptanceKey));
    subject["data"].erase(std::string(kReceiptKey));
    if (subject["data"].empty()) subject.erase("data");
  } else {
    subject = receipt_subject(*subject_source);
  }
  StaticKeyResolver keys;
  keys.add(*did, *key);
  if (auto s = verify_receipt(receipt, keys, subject); !s.ok()) return unverified("receipt: " + s.error().to_string());
  auto parsed = Receipt::from_json(receipt);
  if (!parsed.ok() || parsed->handshake_id != *exchange.request_id || parsed->iss != *did ||
      parsed->sub != agent_.identity().did_string()) {
    return unverified("receipt: not bound to this request");
  }
  {
    std::lock_guard lock(mu_);
    ++verified_;
    const Acceptance& a = *checked->acceptance;
    if (a.session_token && a.session_ttl_seconds && *a.session_ttl_seconds > options_.session_margin_seconds) {
      // The same session again (a warm accept) keeps its serial; a new one gets a new serial.
      auto& s = sessions_[exchange.capability];
      if (s.serial == 0 || s.token != *a.session_token) s.serial = next_session_serial_++;
      s.token = *a.session_token;
      s.usable_until = clock_.now() + std::chrono::seconds(*a.session_ttl_seconds - options_.session_margin_seconds);
    }
  }
  if (options_.receipts != nullptr) {
    const Json chain(agent_.chain());  // the chain this call was made under, for audit
    if (auto s = options_.receipts->put_receipt(receipt, acceptance, exchange.tool, chain); !s.ok()) {
      log("cannot store the receipt of " + exchange.tool + ": " + s.error().to_string());
    }
  }
  return ToClient{std::move(response)};
}

}  // namespace handshake::mcp
