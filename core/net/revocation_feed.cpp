#include "handshake/net/revocation_feed.hpp"

#include <httplib.h>

#include "handshake/json.hpp"
#include "handshake/registry_revocations.hpp"

namespace handshake::net {
namespace {

std::int64_t micros(Timestamp t) { return t.time_since_epoch().count(); }

}  // namespace

Result<std::unique_ptr<PolledRevocationFeed>> PolledRevocationFeed::create(FeedOptions options, const KeyResolver& keys,
                                                                           const Clock& clock) {
  const std::string& url = options.url;
  const auto scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return make_error(ErrorCode::kInvalidArgument, "feed.url", "the feed URL must start with http:// or https://");
  }
  const auto path_start = url.find('/', scheme_end + 3);
  std::string base = url.substr(0, path_start);
  std::string path = path_start == std::string::npos ? "/" : url.substr(path_start);
  if (base.size() <= scheme_end + 3) return make_error(ErrorCode::kInvalidArgument, "feed.url", "the feed URL has no host");
  return std::unique_ptr<PolledRevocationFeed>(
      new PolledRevocationFeed(std::move(options), std::move(base), std::move(path), keys, clock));
}

PolledRevocationFeed::PolledRevocationFeed(FeedOptions options, std::string base, std::string path,
                                           const KeyResolver& keys, const Clock& clock)
    : options_(std::move(options)), base_(std::move(base)), path_(std::move(path)), keys_(keys), clock_(clock) {}

PolledRevocationFeed::~PolledRevocationFeed() { stop(); }

Result<std::string> PolledRevocationFeed::fetch(const std::string& path) {
  httplib::Client client(base_);
  const auto t = static_cast<time_t>(options_.timeout.count());
  client.set_connection_timeout(t, 0);
  client.set_read_timeout(t, 0);
  client.set_write_timeout(t, 0);
  client.set_follow_location(false);
  std::string body;
  bool too_large = false;
  auto res = client.Get(path, [&](const char* data, std::size_t n) {
    if (body.size() + n > options_.max_body_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (too_large) return make_error(ErrorCode::kUnavailable, "feed.unreachable", "feed response exceeds the size limit");
  if (!res) {
    return make_error(ErrorCode::kUnavailable, "feed.unreachable",
                      options_.url + ": " + httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    return make_error(ErrorCode::kUnavailable, "feed.unreachable", options_.url + ": HTTP " + std::to_string(res->status));
  }
  return body;
}

Status PolledRevocationFeed::poll_once() {
  std::lock_guard lock(poll_mu_);
  HSK_TRY(options_.registry ? poll_registry_feed() : poll_statements());
  last_success_us_.store(micros(clock_.now()));
  return {};
}

Status PolledRevocationFeed::poll_statements() {
  HSK_ASSIGN_OR_RETURN(auto body, fetch(path_));
  json::ParseLimits limits;
  limits.max_bytes = options_.max_body_bytes;
  HSK_ASSIGN_OR_RETURN(auto doc, json::parse_strict(body, limits));
  if (!doc.is_array()) {
    return make_error(ErrorCode::kSchema, "feed.format", "the feed must be a JSON array of RevocationStatements");
  }
  // All or nothing: a response with one bad statement records none of them.
  std::size_t i = 0;
  for (const auto& s : doc) {
    if (auto st = list_.check_statement(s, keys_); !st.ok()) {
      Error e = st.error();
      e.message = options_.url + " [" + std::to_string(i) + "]: " + e.message;
      return e;
    }
    ++i;
  }
  for (const auto& s : doc) {
    if (auto st = list_.add_statement(s, keys_); !st.ok()) return st.error();
  }
  return {};
}

Status PolledRevocationFeed::poll_registry_feed() {
  std::vector<registry::RevocationEntry> entries;
  std::optional<std::string> cursor;
  json::ParseLimits limits;
  limits.max_bytes = options_.max_body_bytes;
  for (std::size_t page = 0;; ++page) {
    if (page == options_.max_pages) {
      return make_error(ErrorCode::kUnavailable, "feed.unreachable", "the feed has more pages than allowed");
    }
    std::string path = path_;
    if (cursor) path += std::string(path_.find('?') == std::string::npos ? "?" : "&") + "cursor=" + httplib::detail::encode_query_param(*cursor);
    HSK_ASSIGN_OR_RETURN(auto body, fetch(path));
    HSK_ASSIGN_OR_RETURN(auto doc, json::parse_strict(body, limits));
    HSK_ASSIGN_OR_RETURN(auto feed, registry::verify_revocation_feed(doc, options_.registry->did, options_.registry->key));
    for (auto& e : feed.entries) entries.push_back(std::move(e));
    if (!feed.next_cursor) break;
    cursor = std::move(feed.next_cursor);
  }
  for (const auto& e : entries) list_.add_principal(e.subject_did, e.revoked_at);
  return {};
}

void PolledRevocationFeed::start() {
  std::lock_guard lock(thread_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock l(thread_mu_);
    while (!stopping_) {
      l.unlock();
      (void)poll_once();  // failures show as staleness: answers turn kUnavailable
      l.lock();
      wake_.wait_for(l, options_.poll_interval, [this] { return stopping_; });
    }
  });
}

void PolledRevocationFeed::stop() {
  {
    std::lock_guard lock(thread_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool PolledRevocationFeed::fresh() const {
  const auto last = last_success_us_.load();
  if (last == INT64_MIN) return false;
  const auto staleness = std::chrono::duration_cast<std::chrono::microseconds>(options_.max_staleness).count();
  return micros(clock_.now()) - last <= staleness;
}

RevocationSource::Answer PolledRevocationFeed::delegation_revoked(std::string_view id, std::string_view issuer,
                                                                 Timestamp at) const {
  if (!fresh()) return Answer::kUnavailable;
  return list_.delegation_revoked(id, issuer, at);
}

RevocationSource::Answer PolledRevocationFeed::principal_revoked(std::string_view did, Timestamp at) const {
  if (!fresh()) return Answer::kUnavailable;
  return list_.principal_revoked(did, at);
}

}  // namespace handshake::net
