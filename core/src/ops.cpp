#include "handshake/ops.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "handshake/time.hpp"

namespace handshake::ops {

namespace {

Result<std::FILE*> open_append(const std::string& path) {
  // Owner-only: the log names agents and principals.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kIo, "audit.open", "cannot open the audit log " + path + ": " + std::strerror(errno));
  std::FILE* f = ::fdopen(fd, "a");
  if (f == nullptr) {
    ::close(fd);
    return make_error(ErrorCode::kIo, "audit.open", "cannot open the audit log " + path + ": " + std::strerror(errno));
  }
  return f;
}

Json or_null(std::string_view s) { return s.empty() ? Json() : Json(std::string(s)); }

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& where) {
  if (where.empty()) return make_error(ErrorCode::kInvalidArgument, "audit.open", "the audit log needs a file, or - for stderr");
  std::unique_ptr<AuditLog> log(new AuditLog(where));
  if (where == "-") {
    log->file_ = stderr;
  } else {
    HSK_ASSIGN_OR_RETURN(log->file_, open_append(where));
  }
  return log;
}

AuditLog::~AuditLog() {
  if (file_ != nullptr && file_ != stderr) std::fclose(file_);
}

void AuditLog::write(const Json& line) {
  std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace);
  text += '\n';
  std::lock_guard lock(mu_);
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) ++failed_;
}

Status AuditLog::reopen() {
  if (where_ == "-") return ok_status();
  HSK_ASSIGN_OR_RETURN(std::FILE * next, open_append(where_));
  std::lock_guard lock(mu_);
  std::fclose(file_);
  file_ = next;
  return ok_status();
}

std::uint64_t AuditLog::failed_writes() const {
  std::lock_guard lock(mu_);
  return failed_;
}

Observer::Observer(metrics::Registry& registry, AuditLog* audit)
    : registry_(registry),
      audit_(audit),
      decisions_(registry.counter("hsk_decisions_total", "Handshake decisions, by outcome, refusal code (§14), capability and path",
                                  {"transport", "outcome", "code", "capability", "path"})),
      sessions_(registry.counter("hsk_sessions_issued_total", "Warm sessions handed out with cold acceptances", {"transport"})),
      unsigned_(registry.counter("hsk_unsigned_answers_total",
                                 "Refusals that could not be signed because the service's key could not sign",
                                 {"transport"})),
      verification_(registry.histogram("hsk_verification_seconds", "Time spent verifying a handshake request",
                                       {"transport", "path"})),
      upstream_(registry.histogram("hsk_upstream_seconds", "Time the gated call took upstream (accepted calls)",
                                   {"transport"})) {
  if (audit_ != nullptr) {
    AuditLog* log = audit_;
    registry.callback("hsk_audit_write_failures_total", "Audit lines that could not be written", metrics::Type::kCounter, {},
                      [log] { return std::vector<metrics::Sample>{{{}, static_cast<double>(log->failed_writes())}}; });
  }
}

Json Observer::audit_line(const Decision& d, const Outcome& o, Timestamp now) {
  Json line = Json::object();
  line["time"] = time::format_rfc3339(now);
  line["transport"] = std::string(o.transport);
  Json request_id, agent, deployer, root, capability;
  if (d.request) {
    request_id = d.request->id;
    agent = d.request->iss;
    deployer = or_null(d.request->agent_attestation.deployer);
    if (!d.request->delegation_chain.empty()) root = d.request->delegation_chain.front().iss;
    capability = d.request->capability.name;
  }
  line["request_id"] = request_id;
  line["agent"] = agent;
  line["deployer"] = deployer;
  line["root_principal"] = root;
  line["capability"] = o.capability.empty() ? capability : Json(std::string(o.capability));
  line["outcome"] = d.accepted ? "accepted" : "refused";
  line["code"] = d.refusal ? Json(std::string(to_string(d.refusal->code))) : Json();
  line["step"] = d.refusal ? Json(std::string(to_string(d.refusal->step))) : Json();
  line["path"] = d.warm ? "warm" : "cold";
  line["receipt_id"] = o.receipt_id ? Json(*o.receipt_id) : Json();
  line["verify_seconds"] = seconds(d.elapsed);
  line["upstream_seconds"] = o.upstream ? Json(seconds(*o.upstream)) : Json();
  return line;
}

void Observer::decided(const Decision& d, const Outcome& o) const {
  const std::string_view path = d.warm ? "warm" : "cold";
  const std::string code = d.refusal ? std::string(to_string(d.refusal->code)) : "none";
  const std::string_view capability = !o.capability.empty() ? o.capability
                                      : d.request                ? std::string_view(d.request->capability.name)
                                                                 : std::string_view("none");
  decisions_.with({o.transport, d.accepted ? "accepted" : "refused", code, capability, path}).inc();
  if (d.elapsed.count() > 0) verification_.with({o.transport, path}).observe(seconds(d.elapsed));
  if (o.upstream) upstream_.with({o.transport}).observe(seconds(*o.upstream));
  if (d.accepted && !d.warm && d.acceptance && d.acceptance->session_token) sessions_.with({o.transport}).inc();
  if (!d.accepted && d.response.is_null()) unsigned_.with({o.transport}).inc();
  if (audit_ != nullptr) audit_->write(audit_line(d, o, SystemClock().now()));
}

void Readiness::add(std::string name, std::function<Status()> check) {
  checks_.emplace_back(std::move(name), std::move(check));
}

Readiness::Report Readiness::run() const {
  Report r;
  Json checks = Json::object();
  for (const auto& [name, check] : checks_) {
    Status s = check ? check() : ok_status();
    if (s.ok()) {
      checks[name] = "ok";
    } else {
      r.ready = false;
      checks[name] = s.error().message;
    }
  }
  r.body = {{"status", r.ready ? "ready" : "not ready"}, {"checks", std::move(checks)}};
  return r;
}

std::function<Status()> signing_key_check(const Identity& identity, std::chrono::seconds cache) {
  struct State {
    std::shared_ptr<const crypto::Signer> signer;
    std::chrono::seconds cache;
    std::mutex mu;
    std::chrono::steady_clock::time_point checked{};
    Status last;
  };
  auto state = std::make_shared<State>();
  state->signer = identity.signer();
  state->cache = cache;
  return [state]() -> Status {
    std::lock_guard lock(state->mu);
    const auto now = std::chrono::steady_clock::now();
    if (state->checked != std::chrono::steady_clock::time_point{} && now - state->checked < state->cache) return state->last;
    static constexpr std::uint8_t kProbe[] = {'h', 's', 'k', '-', 'r', 'e', 'a', 'd', 'y'};
    auto sig = state->signer->try_sign(kProbe);
    state->last = sig.ok() ? ok_status()
                           : make_error(ErrorCode::kUnavailable, "signer.unavailable",
                                        "the signing key cannot sign: " + sig.error().message);
    state->checked = now;
    return state->last;
  };
}

}  // namespace handshake::ops
