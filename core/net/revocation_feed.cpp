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
  auto url = Url::parse(options.url);
  if (!url.ok()) {
    Error e = url.error();
    e.message = "the feed URL: " + e.message;
    return e;
  }
  HSK_TRY(Client::open(*url, options.client));  // TLS options checked at start-up
  return std::unique_ptr<PolledRevocationFeed>(new PolledRevocationFeed(std::move(options), std::move(url).value(), keys, clock));
}

PolledRevocationFeed::PolledRevocationFeed(FeedOptions options, Url url, const KeyResolver& keys, const Clock& clock)
    : options_(std::move(options)), url_(std::move(url)), path_(url_.path), keys_(keys), clock_(clock) {}

PolledRevocationFeed::~PolledRevocationFeed() { stop(); }

Result<std::string> PolledRevocationFeed::fetch(const std::string& path) {
  if (!client_) {
    auto opened = Client::open(url_, options_.client);
    if (!opened.ok()) return make_error(ErrorCode::kUnavailable, "feed.unreachable", opened.error().message);
    client_ = std::move(opened).value();
  }
  auto res = client_->get(path);
  if (!res.ok()) {
    client_.reset();  // a fresh connection next time
    return make_error(ErrorCode::kUnavailable, "feed.unreachable", options_.url + ": " + res.error().message);
  }
  if (res->status != 200) {
    return make_error(ErrorCode::kUnavailable, "feed.unreachable", options_.url + ": HTTP " + std::to_string(res->status));
  }
  return std::move(res->body);
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
  limits.max_bytes = options_.client.max_response_bytes;
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
  limits.max_bytes = options_.client.max_response_bytes;
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

std::optional<double> PolledRevocationFeed::age_seconds() const {
  const auto last = last_success_us_.load();
  if (last == INT64_MIN) return std::nullopt;
  return static_cast<double>(micros(clock_.now()) - last) / 1e6;
}

Status PolledRevocationFeed::health() const {
  if (fresh()) return ok_status();
  const auto age = age_seconds();
  return make_error(ErrorCode::kUnavailable, "feed.stale",
                    "revocation feed " + options_.url +
                        (age ? " last answered " + std::to_string(static_cast<long long>(*age)) + " s ago (max " +
                                   std::to_string(options_.max_staleness.count()) + " s)"
                             : " has not answered yet"));
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
