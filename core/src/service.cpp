#include "handshake/service.hpp"

#include <algorithm>

#include "handshake/crypto.hpp"
#include "handshake/did.hpp"
#include "handshake/encoding.hpp"
#include "handshake/ids.hpp"
#include "messages_internal.hpp"

namespace handshake {

namespace {

// Refusals quote details built from validated fields and our own messages; keep them printable
// and short so a Refusal can always be canonicalized and signed.
std::string clean_detail(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 1024)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7F ? c : '?');
  }
  return out;
}

RefusalInfo info(RefusalCode code, VerificationStep step, std::string detail) {
  RefusalInfo r;
  r.code = code;
  r.step = step;
  r.detail = std::move(detail);
  return r;
}

// The request against the action it is presented for (ActionBinding, service.hpp).
std::optional<RefusalInfo> check_action(const HandshakeRequest& request, const capability::ConstraintSet& scope,
                                        const ActionBinding& action, Timestamp now) {
  if (!capability::name_covers(request.capability.name, action.capability)) {
    return info(RefusalCode::kScopeExceeded, VerificationStep::kScopeIntersection,
                "the request is for " + request.capability.name + " but the call needs " + action.capability);
  }
  if (!action.constraints.is_object()) {
    return info(RefusalCode::kScopeExceeded, VerificationStep::kScopeIntersection,
                "the values derived from the call are not an object");
  }
  if (auto v = scope.check_request(action.constraints, now)) {
    return info(RefusalCode::kScopeExceeded, VerificationStep::kScopeIntersection, "the call's arguments: " + v->detail);
  }
  return std::nullopt;
}

constexpr char kUnknownRequestId[] = "hs_00000000000000000000000000";

Status check_options(const ServiceOptions& o) {
  auto bad = [](const std::string& why) { return make_error(ErrorCode::kInvalidArgument, "service.config", why); };
  if (o.chain.trust_roots.empty() && !o.chain.trust_any_root) return bad("no trust root");
  if (o.chain.max_chain_length == 0) return bad("max_chain_length must be at least 1");
  if (o.max_request_age.count() <= 0) return bad("max_request_age must be positive");
  if (o.max_request_bytes < 1024) return bad("max_request_bytes must be at least 1024");
  if (o.chain.clock_skew.count() < 0 || o.session_ttl.count() < 0 || o.chain.max_delegation_ttl.count() < 0) {
    return bad("clock skew, session ttl and delegation ttl cannot be negative");
  }
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<Service>> Service::create(ServiceConfig c) {
  auto bad = [](const std::string& why) { return make_error(ErrorCode::kInvalidArgument, "service.config", why); };
  if (!c.identity) return bad("no identity");
  if (c.clock == nullptr || c.keys == nullptr || c.revocations == nullptr || c.nonces == nullptr || c.limiter == nullptr) {
    return bad("clock, keys, revocations, nonces and limiter are all required");
  }
  HSK_TRY(check_options(c.options));
  return std::make_unique<Service>(std::move(*c.identity), std::move(c.options), *c.clock, *c.keys, *c.revocations,
                                   *c.nonces, *c.limiter);
}

Service::Service(Identity identity, ServiceOptions options, const Clock& clock, const KeyResolver& keys,
                 const RevocationSource& revocations, NonceStore& nonces, RateLimiter& limiter)
    : identity_(std::move(identity)),
      options_(std::make_shared<const ServiceOptions>(std::move(options))),
      clock_(clock),
      keys_(keys),
      revocations_(revocations),
      nonces_(nonces),
      limiter_(limiter) {
  const auto o = options_.load();
  if (o->session_ttl.count() > 0) {
    tickets_ = o->ticket_keys;
    // A key of this object's own: single-instance sessions. Without guarded memory, no sessions.
    if (!tickets_) tickets_ = SessionTicketKeys::generate().value_or(nullptr);
  }
}

Service::~Service() = default;

Status Service::reconfigure(ServiceOptions options) {
  HSK_TRY(check_options(options));
  options.ticket_keys = options_.load()->ticket_keys;  // sessions already handed out stay valid
  options_.store(std::make_shared<const ServiceOptions>(std::move(options)));
  return ok_status();
}

Decision Service::refuse(const Json* request, RefusalInfo r) const {
  Decision d;
  d.refusal = r;
  Refusal out;
  out.request_id = kUnknownRequestId;
  out.aud = identity_.did_string();
  if (request != nullptr && request->is_object()) {
    if (auto it = request->find("id"); it != request->end() && it->is_string() &&
                                       ids::is_id(it->get_ref<const std::string&>(), ids::kRequestPrefix)) {
      out.request_id = it->get<std::string>();
    }
    if (auto it = request->find("iss"); it != request->end() && it->is_string() &&
                                        parse_did(it->get_ref<const std::string&>()).ok()) {
      out.aud = it->get<std::string>();
    }
  }
  out.iss = identity_.did_string();
  out.iat = std::chrono::floor<std::chrono::seconds>(clock_.now());
  out.reason.code = std::string(to_string(r.code));
  if (!r.detail.empty()) out.reason.detail = clean_detail(r.detail);
  out.reason.retry_after_seconds = r.retry_after_seconds;
  // Whatever could not answer (a store, a resolver, a revocation source), the agent is told when
  // to try again: such a refusal says nothing about the request itself.
  if (r.code == RefusalCode::kServiceUnavailable && !out.reason.retry_after_seconds) out.reason.retry_after_seconds = 1;
  auto signed_refusal = sign_message(out.to_json(), identity_.key());
  if (signed_refusal.ok()) {
    d.response = std::move(signed_refusal).value();
  } else if (signed_refusal.error().code == ErrorCode::kUnavailable) {
    // The key cannot sign now (a token gone): there is no signed answer to give. The response
    // stays null and the refusal says why; adapters answer unsigned 503 / JSON-RPC errors.
    d.refusal = info(RefusalCode::kServiceUnavailable, r.step,
                     "the service cannot sign its answer now: " + signed_refusal.error().message);
    d.refusal->retry_after_seconds = 5;
  } else {
    // Only reachable through a defect; still answer with a signed, minimal refusal.
    out.reason.detail.reset();
    d.response = sign_message(out.to_json(), identity_.key()).value_or(Json());
  }
  return d;
}

Decision Service::accept(const HandshakeRequest& request, const capability::ConstraintSet& scope,
                         std::optional<std::string> session_token, std::int64_t session_ttl, bool warm) const {
  Acceptance a;
  a.request_id = request.id;
  a.iss = identity_.did_string();
  a.aud = request.iss;
  a.iat = std::chrono::floor<std::chrono::seconds>(clock_.now());
  a.effective_scope.capability = request.capability.name;
  a.effective_scope.constraints = scope.to_json();
  if (session_token) {
    a.session_token = std::move(session_token);
    a.session_ttl_seconds = session_ttl;
  }
  // Built from validated parts: signed without re-parsing (tests check it against the schema).
  auto signed_acceptance = detail::sign_constructed(a.to_json(), identity_.key());
  if (!signed_acceptance.ok()) {
    return refuse(&request.source, info(RefusalCode::kServiceUnavailable, VerificationStep::kScopeIntersection,
                                        "cannot sign the acceptance: " + signed_acceptance.error().message));
  }
  Decision d;
  d.accepted = true;
  d.warm = warm;
  d.response = std::move(signed_acceptance).value();
  a.signature = d.response["signature"].get<std::string>();
  a.source = d.response;
  d.acceptance = std::move(a);
  return d;  // verify() moves the parsed request into d.request
}

Decision Service::verify(std::string_view request_text) { return verify_text(request_text, nullptr); }

Decision Service::verify(std::string_view request_text, const ActionBinding& action) {
  return verify_text(request_text, &action);
}

Decision Service::verify_text(std::string_view request_text, const ActionBinding* action) {
  const auto started = std::chrono::steady_clock::now();
  const auto o = options_.load();
  Decision d = [&] {
    if (request_text.size() > o->max_request_bytes) {
      return refuse(nullptr, info(RefusalCode::kProtocolVersionUnsupported, VerificationStep::kSchemaValidation,
                                  "request of " + std::to_string(request_text.size()) + " bytes exceeds the limit of " +
                                      std::to_string(o->max_request_bytes)));
    }
    json::ParseLimits limits;
    limits.max_bytes = o->max_request_bytes;
    limits.max_depth = 32;
    auto doc = json::parse_strict(request_text, limits);
    if (!doc.ok()) {
      return refuse(nullptr, info(RefusalCode::kProtocolVersionUnsupported, VerificationStep::kSchemaValidation,
                                  doc.error().to_string()));
    }
    return verify_owned(*o, std::move(doc).value(), action);
  }();
  d.elapsed = std::chrono::steady_clock::now() - started;
  return d;
}

Decision Service::verify(const Json& request) { return timed(request, nullptr); }

Decision Service::verify(const Json& request, const ActionBinding& action) { return timed(request, &action); }

Decision Service::timed(Json request, const ActionBinding* action) {
  const auto started = std::chrono::steady_clock::now();
  Decision d = verify_owned(*options_.load(), std::move(request), action);
  d.elapsed = std::chrono::steady_clock::now() - started;
  return d;
}

Decision Service::verify_owned(const ServiceOptions& o, Json doc, const ActionBinding* action) {
  const Timestamp now = clock_.now();
  auto parsed = detail::request_from_json(doc, /*schema_backstop=*/false);
  if (!parsed.ok()) {
    return refuse(&doc, info(RefusalCode::kProtocolVersionUnsupported, VerificationStep::kSchemaValidation,
                             parsed.error().to_string()));
  }
  const HandshakeRequest& request = *parsed;  // owns the document now (request.source)
  // Decision::request is set whenever the request parsed, refusals included (service.hpp).
  auto refused = [&](const RefusalInfo& r) {
    Decision d = refuse(&request.source, r);
    d.request = request;
    return d;
  };

  if (request.aud != identity_.did_string()) {
    return refused(info(RefusalCode::kAudMismatch, VerificationStep::kAudienceCheck,
                       "request is addressed to " + request.aud + ", not to " + identity_.did_string()));
  }

  const auto skew = std::chrono::duration_cast<std::chrono::microseconds>(o.chain.clock_skew);
  const auto max_age = std::chrono::duration_cast<std::chrono::microseconds>(o.max_request_age);
  auto freshness = [&]() -> std::optional<RefusalInfo> {
    if (request.iat > now + skew) {
      return info(RefusalCode::kNotYetValid, VerificationStep::kRequestSignature,
                  "request iat " + time::format_rfc3339(request.iat) + " is in the future");
    }
    if (request.iat < now - max_age - skew) {
      return info(RefusalCode::kExpired, VerificationStep::kRequestSignature,
                  "request iat " + time::format_rfc3339(request.iat) + " is older than the acceptance window");
    }
    return std::nullopt;
  };

  if (auto t = request.agent_attestation.extra.find(kSessionTokenMember);
      t != request.agent_attestation.extra.end()) {
    if (!t->is_string()) {
      return refused(info(RefusalCode::kProtocolVersionUnsupported, VerificationStep::kSchemaValidation,
                         "agent_attestation.handshake:session_token must be a string"));
    }
    if (auto r = freshness()) return refused(*r);
    const std::string token = t->get<std::string>();
    Decision warm = verify_warm(o, request, token, now, action);
    warm.request = std::move(*parsed);
    return warm;
  }

  const auto key = keys_.key_at(request.iss, request.iat);
  if (key.status == KeyResolver::Status::kUnavailable) {
    auto r = info(RefusalCode::kServiceUnavailable, VerificationStep::kRequestSignature,
                  "cannot resolve " + request.iss + ": " + key.detail);
    r.retry_after_seconds = 5;
    return refused(r);
  }
  if (key.status != KeyResolver::Status::kFound) {
    return refused(info(RefusalCode::kSignatureInvalid, VerificationStep::kRequestSignature,
                       "no key known for the request's issuer " + request.iss +
                           " (the service needs its DID Document: did_documents, public_keys or a resolver)"));
  }
  if (auto s = verify_message_signature(request.source, key.key); !s.ok()) {
    return refused(info(RefusalCode::kSignatureInvalid, VerificationStep::kRequestSignature,
                       "request: " + s.error().message));
  }
  if (auto r = freshness()) return refused(*r);

  ChainVerdict chain = validate_chain(request, o.chain, o.capabilities, keys_, revocations_, now);
  if (chain.refusal) return refused(*chain.refusal);
  if (action != nullptr) {
    if (auto r = check_action(request, chain.effective_scope, *action, now)) return refused(*r);
  }

  if (auto r = after_scope(o, request, chain.effective_scope, chain.delegations.front().first, now)) {
    return refused(*r);
  }

  std::optional<std::string> token;
  std::int64_t ttl = 0;
  if (tickets_) {
    Timestamp expires = now + std::chrono::duration_cast<std::chrono::microseconds>(o.session_ttl);
    for (const auto& link : request.delegation_chain) expires = std::min(expires, link.exp);
    ttl = std::chrono::duration_cast<std::chrono::seconds>(expires - now).count();
    if (ttl >= 1) {
      SessionTicket session;
      session.agent = request.iss;
      session.agent_key = key.key;
      session.granted_name = std::move(chain.granted_name);
      session.chain_scope = std::move(chain.chain_scope);
      session.delegations = std::move(chain.delegations);
      session.principals = std::move(chain.principals);
      session.expires_at = expires;
      // A ticket that cannot be sealed (too large to carry) means no warm path, not a refusal.
      if (auto sealed = tickets_->seal(identity_.did_string(), session); sealed.ok()) token = std::move(sealed).value();
    }
  }
  Decision accepted = accept(request, chain.effective_scope, std::move(token), ttl, false);
  accepted.request = std::move(*parsed);
  return accepted;
}

Decision Service::verify_warm(const ServiceOptions& o, const HandshakeRequest& request, const std::string& token,
                              Timestamp now, const ActionBinding* action) {
  auto unknown = [&] {
    return refuse(&request.source, info(RefusalCode::kExpired, VerificationStep::kSession,
                                        "session token unknown or expired; send a cold handshake"));
  };
  if (!tickets_) return unknown();
  auto opened = tickets_->open(identity_.did_string(), token);
  if (!opened.ok() || opened->expires_at <= now) return unknown();
  const SessionTicket* session = &opened.value();
  if (session->agent != request.iss) {
    return refuse(&request.source, info(RefusalCode::kSignatureInvalid, VerificationStep::kSession,
                                        "session belongs to another agent"));
  }
  if (auto s = verify_message_signature(request.source, session->agent_key); !s.ok()) {
    return refuse(&request.source, info(RefusalCode::kSignatureInvalid, VerificationStep::kRequestSignature,
                                        "request: " + s.error().message));
  }
  if (auto r = check_revocations(session->delegations, session->principals, revocations_, now)) {
    r->step = VerificationStep::kSession;
    return refuse(&request.source, *r);
  }
  // A root no longer trusted (reconfigure, SIGHUP) ends its sessions at once, as a revocation does.
  if (const std::string& root = session->delegations.front().second;
      !o.chain.trust_any_root && std::find(o.chain.trust_roots.begin(), o.chain.trust_roots.end(), root) == o.chain.trust_roots.end()) {
    return refuse(&request.source, info(RefusalCode::kChainBroken, VerificationStep::kSession,
                                        "the session's root " + root + " is no longer a trust root"));
  }
  if (!capability::name_covers(session->granted_name, request.capability.name)) {
    return refuse(&request.source, info(RefusalCode::kScopeExceeded, VerificationStep::kScopeIntersection,
                                        "the session grants " + session->granted_name + ", not " +
                                            request.capability.name));
  }
  if (auto v = session->chain_scope.check_request(request.capability.constraints, now)) {
    return refuse(&request.source,
                  info(RefusalCode::kScopeExceeded, VerificationStep::kScopeIntersection, v->detail));
  }
  const auto scope = session->chain_scope.narrowed_by_request(request.capability.constraints);
  if (action != nullptr) {
    if (auto r = check_action(request, scope, *action, now)) return refuse(&request.source, *r);
  }
  if (auto r = after_scope(o, request, scope, session->root_delegation(), now)) return refuse(&request.source, *r);
  const auto remaining = std::chrono::duration_cast<std::chrono::seconds>(session->expires_at - now).count();
  return accept(request, scope, remaining >= 1 ? std::optional(token) : std::nullopt, remaining, true);
}

std::optional<RefusalInfo> Service::after_scope(const ServiceOptions& o, const HandshakeRequest& request,
                                                const capability::ConstraintSet& scope,
                                                const std::string& root_delegation, Timestamp now) {
  if (auto why = o.policy.denies(request)) {
    return info(RefusalCode::kPolicyDenied, VerificationStep::kPolicy, *why);
  }

  // Replay before rate limits: a replayed request must not spend the agent's budget.
  const auto skew = std::chrono::duration_cast<std::chrono::microseconds>(o.chain.clock_skew);
  const auto window = std::chrono::duration_cast<std::chrono::microseconds>(o.max_request_age);
  auto fresh = nonces_.check_and_insert(request.iss, request.nonce, request.iat + window + 2 * skew, now);
  if (!fresh.ok()) {
    auto r = info(RefusalCode::kServiceUnavailable, VerificationStep::kReplay, fresh.error().message);
    r.retry_after_seconds = 1;
    return r;
  }
  if (!*fresh) {
    return info(RefusalCode::kReplayDetected, VerificationStep::kReplay,
                "nonce already used by " + request.iss + " within the replay window");
  }

  auto limit = [&](const std::string& key, std::int64_t count, std::int64_t per) -> std::optional<RefusalInfo> {
    auto d = limiter_.hit(key, count, per, now);
    if (!d.ok()) {
      auto r = info(RefusalCode::kServiceUnavailable, VerificationStep::kRateLimit, d.error().message);
      r.retry_after_seconds = 1;
      return r;
    }
    if (!d->allowed) {
      auto r = info(RefusalCode::kRateLimited, VerificationStep::kRateLimit,
                    "rate limit of " + std::to_string(count) + " per " + std::to_string(per) + " s reached");
      r.retry_after_seconds = d->retry_after_seconds;
      return r;
    }
    return std::nullopt;
  };
  for (std::size_t i = 0; i < o.rate_limits.size(); ++i) {
    const auto& rule = o.rate_limits[i];
    if (!capability::glob_match(rule.capability, request.capability.name)) continue;
    const std::string& who =
        rule.per == RateLimitRule::Per::kAgent ? request.iss : request.agent_attestation.deployer;
    if (auto r = limit("rule" + std::to_string(i) + "|" + who + "|" + request.capability.name, rule.count,
                       rule.per_seconds)) {
      return r;
    }
  }
  for (const auto& rl : scope.rate_limits()) {
    if (auto r = limit("chain|" + root_delegation + "|" + request.iss + "|" + rl.constraint, rl.count, rl.per_seconds)) {
      return r;
    }
  }
  return std::nullopt;
}

Result<Json> Service::issue_receipt(const Decision& decision, const Json& result, std::string_view status,
                                    const ReceiptOptions& options) const {
  if (!decision.accepted || !decision.acceptance) {
    return make_error(ErrorCode::kInvalidArgument, "receipt.not_accepted", "only an accepted request gets a receipt");
  }
  return handshake::issue_receipt(identity_, *decision.acceptance, result, status,
                                  std::chrono::floor<std::chrono::seconds>(clock_.now()), options);
}

}  // namespace handshake
