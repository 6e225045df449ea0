// What an operator watches: the metrics of every decision, one audit line per decision, and the
// checks behind a readiness probe. Transport-free; handshake/net/ops.hpp serves them over HTTP
// (GET /metrics, /healthz, /readyz).
//
// Every adapter reports a decision once, when it is done with it (a refusal at once; an accepted
// call after its action ran and its receipt was issued), through one Observer:
//
//   metrics (bounded labels; no DIDs or ids as label values)
//     hsk_decisions_total{transport, outcome, code, capability, path}
//         outcome accepted | refused; code the §14 code ("none" when accepted);
//         capability the action's (from the adapter's map), "none" when there is none;
//         path cold | warm
//     hsk_verification_seconds{transport, path}   histogram of Service::verify
//     hsk_upstream_seconds{transport}              histogram of the gated call (accepted calls)
//     hsk_sessions_issued_total{transport}         warm sessions handed out by cold acceptances
//     hsk_unsigned_answers_total{transport}        refusals the service could not sign (key unusable)
//   audit log: one JSON object per line, keys in this order:
//     time, transport, request_id, agent, deployer, root_principal, capability, outcome, code,
//     step, path, receipt_id, verify_seconds, upstream_seconds
//     (absent values are null). No action arguments or results, no refusal details: §18.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/metrics.hpp"
#include "handshake/result.hpp"
#include "handshake/service.hpp"

namespace handshake::ops {

// Audit lines to a file (appended; created owner-only) or to stderr. Thread-safe; each line is
// written and flushed whole.
class AuditLog {
 public:
  // "-": stderr. Otherwise a file path. Errors: kIo "audit.open" with the reason.
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> open(const std::string& where);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Writes `line` (an object) as one line. A failed write is counted, not thrown.
  void write(const Json& line);
  // Opens the file again under its name (after logrotate moved it; on SIGHUP). A file that
  // cannot be opened keeps the old one and says why. Errors: kIo "audit.open". stderr: no-op.
  [[nodiscard]] Status reopen();
  [[nodiscard]] std::uint64_t failed_writes() const;
  [[nodiscard]] const std::string& where() const { return where_; }

 private:
  explicit AuditLog(std::string where) : where_(std::move(where)) {}
  std::string where_;
  mutable std::mutex mu_;
  std::FILE* file_ = nullptr;  // stderr when where_ == "-"
  std::uint64_t failed_ = 0;
};

// What the adapter adds to a Decision once the call is done.
struct Outcome {
  std::string_view transport;   // "mcp", "a2a", "oauth", "http"
  std::string_view capability;  // the capability the action needs ("" when none was derived)
  std::optional<std::string> receipt_id;
  std::optional<std::chrono::nanoseconds> upstream;  // how long the gated call took
};

class Observer {
 public:
  // Registers its families in `registry`; `audit` optional. Both borrowed; they must outlive it.
  explicit Observer(metrics::Registry& registry, AuditLog* audit = nullptr);

  void decided(const Decision& decision, const Outcome& outcome) const;
  // The audit line decided() writes (for tests and for callers with a log of their own).
  [[nodiscard]] static Json audit_line(const Decision& decision, const Outcome& outcome, Timestamp now);

  [[nodiscard]] metrics::Registry& registry() const { return registry_; }
  [[nodiscard]] AuditLog* audit() const { return audit_; }

 private:
  metrics::Registry& registry_;
  AuditLog* audit_;
  metrics::Counter decisions_, sessions_, unsigned_;
  metrics::Histograms verification_, upstream_;
};

// The checks of a readiness probe: each says what it needs, ok or the reason it is not.
class Readiness {
 public:
  void add(std::string name, std::function<Status()> check);
  struct Report {
    bool ready = true;
    Json body;  // {"status": "ready"|"not ready", "checks": {name: "ok" | reason}}
  };
  // Runs every check (in the calling thread).
  [[nodiscard]] Report run() const;
  [[nodiscard]] bool empty() const { return checks_.empty(); }

 private:
  std::vector<std::pair<std::string, std::function<Status()>>> checks_;
};

// A check that the key can sign now (a PKCS#11 token can go away): one signature of a fixed
// probe, its result kept for `cache` so that a busy probe does not load the token.
[[nodiscard]] std::function<Status()> signing_key_check(const Identity& identity,
                                                        std::chrono::seconds cache = std::chrono::seconds(5));

}  // namespace handshake::ops
