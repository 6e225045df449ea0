// The verifier a service embeds (§9): request -> signed Acceptance or signed Refusal.
//
// Cold path, in order (the first failure becomes the signed Refusal):
//   schema_validation   size limit, strict JSON, version, closed schema
//                       -> protocol_version_unsupported (a message that is not a well-formed
//                          0.2.3 HandshakeRequest is not a version this service speaks)
//   audience_check      request aud = this service's DID                 -> aud_mismatch
//   request_signature   the agent's key (at the request's iat)           -> signature_invalid
//                       iat within [now - max_request_age - skew, now + skew]
//                                                                       -> expired / not_yet_valid
//   chain walk, scope   see chain.hpp
//   policy              local policy                                     -> policy_denied
//   replay              (iss, nonce) not seen within the window          -> replay_detected
//   rate_limit          service rules and rate_limit constraints         -> rate_limited (+ retry_after)
//                       (after replay, so a replayed request spends nobody's budget)
// Stores or resolvers that cannot answer give service_unavailable, never an accept.
//
// Warm path (§9.2): an Acceptance may carry session_token / session_ttl_seconds. The token is a
// sealed ticket (session_ticket.hpp): what the cold path established (the agent's DID and key,
// the granted capability name, the chain's exact scope, its delegations with their issuers and
// its principals, the expiry), encrypted and authenticated under the service's ticket key with
// the service's DID as associated data. No session table is kept, so instances sharing a ticket
// key (ServiceOptions::ticket_keys) accept each other's sessions. A later request presents the
// token as agent_attestation["handshake:session_token"] (agent_attestation is the reference
// schema's open extension point, so the request stays schema-valid and the token is covered by
// the agent's signature). It is otherwise a full HandshakeRequest with a fresh nonce; its
// delegation_chain (the schema requires one link; the leaf suffices) is not walked. The service
// checks: the ticket opens (under the current or a previous key, for this service's DID) and has
// not expired, else expired at step session; the same agent, else signature_invalid; the agent's
// signature with the key in the ticket (one verification); every delegation and principal of the
// session against revocation (a revocation ends the session at once: checked on every warm
// request); the request within the session's scope, policy, rate limits (keyed by the root
// delegation, as on the cold path), nonce; then signs (one signature). A warm Acceptance hands
// back the same ticket with its remaining ttl.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/capability.hpp"
#include "handshake/chain.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/policy.hpp"
#include "handshake/receipt.hpp"
#include "handshake/refusal.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/session_ticket.hpp"
#include "handshake/time.hpp"

namespace handshake {

inline constexpr std::string_view kSessionTokenMember = "handshake:session_token";

struct RateLimitRule {
  std::string capability = "**";  // glob over the capability name
  std::int64_t count = 0;
  std::int64_t per_seconds = 0;
  enum class Per { kAgent, kDeployer } per = Per::kAgent;
};

struct ServiceOptions {
  ChainOptions chain;  // trust roots, skew, chain length
  std::chrono::seconds max_request_age{300};  // how old a request's iat may be; nonces live this long + skew
  std::size_t max_request_bytes = 256 * 1024;
  std::chrono::seconds session_ttl{0};  // 0: no warm sessions (tickets are neither issued nor accepted)
  // Seal and open session tickets (current key first; see session_ticket.hpp). Share one between
  // instances (the same key files) so that each accepts the others' sessions. Empty with
  // session_ttl > 0: the service generates a random key of its own (sessions of this Service
  // object only).
  std::shared_ptr<const SessionTicketKeys> ticket_keys;
  capability::CapabilitySchemaSet capabilities;
  Policy policy;
  std::vector<RateLimitRule> rate_limits;
};

// The action a request is presented for, as the service itself derived it from the real call
// (design: "Arguments are checked, not only declarations"). An adapter fills it from its
// protocol's envelope, e.g. an MCP tools/call's tool name and `arguments` through a mapping.
struct ActionBinding {
  // The capability the action needs. The request's capability name must cover it
  // (capability::name_covers), else scope_exceeded at scope_intersection.
  std::string capability;
  // Constraint values derived from the action's arguments (a JSON object). Checked against the
  // effective scope (the chain's intersection narrowed by the request's own declared values)
  // exactly as declared values are (ConstraintSet::check_request), so a request that declares
  // max_invoices 10 for a call that asks for 500 is refused scope_exceeded. A malformed value is
  // also scope_exceeded. Not an object: refused scope_exceeded.
  Json constraints = Json::object();
};

// What verify() decided. `response` is always a signed Acceptance or Refusal (both validate
// against the reference schemas).
struct Decision {
  bool accepted = false;
  // The signed Acceptance or Refusal; null only when the service's key cannot sign now
  // (refusal: service_unavailable, "cannot sign"): then there is no signed answer to give.
  Json response;
  std::optional<RefusalInfo> refusal;      // when refused
  std::optional<HandshakeRequest> request;  // when it parsed
  std::optional<Acceptance> acceptance;     // when accepted
  bool warm = false;                        // accepted through a session
  std::chrono::nanoseconds elapsed{0};      // how long verify() took (steady clock), for metrics
};

// What a Service is made of, by name (Service::create checks it).
struct ServiceConfig {
  std::optional<Identity> identity;  // its signer is shared, not copied
  ServiceOptions options;
  const Clock* clock = nullptr;
  const KeyResolver* keys = nullptr;
  const RevocationSource* revocations = nullptr;
  NonceStore* nonces = nullptr;
  RateLimiter* limiter = nullptr;
};

class Service {
 public:
  // The checked way to make one: every collaborator given, at least one trust root (unless
  // trust_any_root), limits that make sense. Errors: kInvalidArgument "service.config" naming
  // what is missing or wrong. The collaborators are borrowed, as below.
  [[nodiscard]] static Result<std::unique_ptr<Service>> create(ServiceConfig config);

  // Collaborators are borrowed and must outlive the service; all must be thread-safe, as
  // verify() may be called from many threads at once.
  Service(Identity identity, ServiceOptions options, const Clock& clock, const KeyResolver& keys,
          const RevocationSource& revocations, NonceStore& nonces, RateLimiter& limiter);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // The request as received (text): size limit, strict JSON, then as below.
  [[nodiscard]] Decision verify(std::string_view request_text);
  [[nodiscard]] Decision verify(const std::string& request_text) { return verify(std::string_view(request_text)); }
  [[nodiscard]] Decision verify(const char* request_text) { return verify(std::string_view(request_text)); }
  // An already-parsed request (e.g. from a JSON-RPC envelope). Parse it with json::parse_strict:
  // a permissive parser may have dropped duplicate members the signature did not cover.
  [[nodiscard]] Decision verify(const Json& request);
  // The same, and also checks that the request fits `action` (see ActionBinding), on the cold
  // and the warm path, after the scope checks and before policy, replay and rate limits (so a
  // request refused for its action spends neither its nonce nor any rate budget).
  [[nodiscard]] Decision verify(std::string_view request_text, const ActionBinding& action);
  [[nodiscard]] Decision verify(const Json& request, const ActionBinding& action);

  // A signed Refusal for a call that carries no HandshakeRequest to verify (e.g. an adapter's
  // tools/call with no handshake in its envelope, or for an action the service does not offer
  // through handshakes): request_id hs_00000000000000000000000000, addressed to the service
  // itself, exactly as the Refusal of an unparseable request. Never accepts.
  [[nodiscard]] Decision refuse_unverified(RefusalInfo info) const { return refuse(nullptr, std::move(info)); }
  // A signed Refusal for a request the service declines without verifying it, for a reason in the
  // call around it (an action the adapter could not derive, e.g. a payment with no mandate, or one
  // not offered through handshakes). Bound like the refusal of a request that failed a check: its
  // request_id is the request's id and it is addressed to the request's iss when those are
  // well-formed (nothing else is read), so the agent can match it to what it sent; otherwise as
  // refuse_unverified. Never accepts, spends no nonce.
  [[nodiscard]] Decision refuse_request(const Json& request, RefusalInfo info) const { return refuse(&request, std::move(info)); }

  // A receipt for an accepted decision (see receipt.hpp). Errors: kInvalidArgument
  // "receipt.not_accepted" for a refused decision, and those of issue_receipt.
  [[nodiscard]] Result<Json> issue_receipt(const Decision& decision, const Json& result, std::string_view status,
                                           const ReceiptOptions& options = {}) const;

  [[nodiscard]] const Identity& identity() const noexcept { return identity_; }
  [[nodiscard]] std::string did() const { return identity_.did_string(); }
  // The options in force now (reconfigure() may replace them; a verification in progress keeps
  // the ones it started with).
  [[nodiscard]] std::shared_ptr<const ServiceOptions> options() const { return options_.load(); }
  // Replaces the options for the verifications that start after it (SIGHUP: trust roots, policy,
  // capability schemas, rate limits, limits). Checked as create() checks them; a bad set keeps
  // the running one. The session ticket keys stay those the service started with (sessions
  // handed out go on working); new session_keys take effect on restart. Thread-safe.
  // Errors: kInvalidArgument "service.config".
  [[nodiscard]] Status reconfigure(ServiceOptions options);

 private:
  Decision refuse(const Json* request, RefusalInfo info) const;
  Decision accept(const HandshakeRequest& request, const capability::ConstraintSet& scope,
                  std::optional<std::string> session_token, std::int64_t session_ttl, bool warm) const;
  std::optional<RefusalInfo> after_scope(const ServiceOptions& o, const HandshakeRequest& request,
                                         const capability::ConstraintSet& scope, const std::string& root_delegation,
                                         Timestamp now);
  Decision verify_warm(const ServiceOptions& o, const HandshakeRequest& request, const std::string& token,
                       Timestamp now, const ActionBinding* action);
  Decision verify_owned(const ServiceOptions& o, Json request, const ActionBinding* action);
  Decision verify_text(std::string_view request_text, const ActionBinding* action);
  Decision timed(Json request, const ActionBinding* action);

  Identity identity_;
  std::atomic<std::shared_ptr<const ServiceOptions>> options_;
  const Clock& clock_;
  const KeyResolver& keys_;
  const RevocationSource& revocations_;
  NonceStore& nonces_;
  RateLimiter& limiter_;
  std::shared_ptr<const SessionTicketKeys> tickets_;  // null: no warm sessions
};

}  // namespace handshake
