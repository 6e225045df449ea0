// Metrics in the Prometheus text exposition format (version 0.0.4), for GET /metrics.
//
// A Registry holds families: counters, gauges and histograms with a fixed list of label names,
// and families read at scrape time (callbacks, for values another part owns: the nonce store's
// size, a feed's age). Names follow the Prometheus conventions: a counter's name ends in _total,
// durations are in seconds (_seconds), sizes in bytes.
//
// Label values are bounded: a family keeps at most `max_series` label sets; the sets after that
// are counted under one set whose every value is "other". So a value an agent controls (a
// capability name it asks for) cannot grow the registry without bound. Never use a DID, a
// request id or a receipt id as a label value: those belong in the audit log.
//
// Everything here is thread-safe. Recording is one short lock to find the series (or none, with a
// handle kept by the caller) and atomic updates.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace handshake::metrics {

// A sample of a callback family: its label values (in the family's label order) and value.
struct Sample {
  std::vector<std::string> labels;
  double value = 0;
};

enum class Type { kCounter, kGauge, kHistogram };

// Buckets (upper bounds, seconds) fit for verification and upstream latencies: 50 µs to 10 s.
[[nodiscard]] std::vector<double> latency_buckets();

class Family;

// One series of a counter or gauge.
class Value {
 public:
  void inc(double by = 1) noexcept { v_.fetch_add(by, std::memory_order_relaxed); }
  void set(double to) noexcept { v_.store(to, std::memory_order_relaxed); }
  [[nodiscard]] double get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// One series of a histogram.
class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds);
  void observe(double value) noexcept;
  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  [[nodiscard]] Snapshot snapshot() const;

 private:
  std::span<const double> bounds_;  // owned by the family
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket, not cumulative; last: +Inf
  std::atomic<double> sum_{0};
};

// Handles of the families a Registry holds (cheap to copy; valid as long as the registry). with()
// takes the label values in the order of the family's label names; fewer or more values than
// names is a defect of the caller (std::invalid_argument).
class Counter {
 public:
  [[nodiscard]] Value& with(std::initializer_list<std::string_view> labels) const;
  [[nodiscard]] Value& with(std::span<const std::string> labels) const;

 private:
  friend class Registry;
  explicit Counter(Family* f) : f_(f) {}
  Family* f_;
};

class Gauge {
 public:
  [[nodiscard]] Value& with(std::initializer_list<std::string_view> labels) const;

 private:
  friend class Registry;
  explicit Gauge(Family* f) : f_(f) {}
  Family* f_;
};

class Histograms {
 public:
  [[nodiscard]] Histogram& with(std::initializer_list<std::string_view> labels) const;

 private:
  friend class Registry;
  explicit Histograms(Family* f) : f_(f) {}
  Family* f_;
};

class Registry {
 public:
  static constexpr std::size_t kDefaultMaxSeries = 200;

  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registering a name twice returns the family registered first when the type and labels agree;
  // a bad name or label name, or a clash, is a defect of the caller (std::invalid_argument).
  Counter counter(std::string name, std::string help, std::vector<std::string> label_names = {},
                  std::size_t max_series = kDefaultMaxSeries);
  Gauge gauge(std::string name, std::string help, std::vector<std::string> label_names = {},
              std::size_t max_series = kDefaultMaxSeries);
  Histograms histogram(std::string name, std::string help, std::vector<std::string> label_names = {},
                       std::vector<double> bounds = latency_buckets(), std::size_t max_series = kDefaultMaxSeries);
  // A family whose samples are read at each scrape (counter or gauge). `read` must be thread-safe
  // and quick, and must not call back into this registry. Replaces an earlier callback of that name.
  void callback(std::string name, std::string help, Type type, std::vector<std::string> label_names,
                std::function<std::vector<Sample>()> read);

  // The text exposition of every family, in registration order.
  [[nodiscard]] std::string render() const;
  // Content-Type of render()'s output.
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  Family* add(std::string name, std::string help, Type type, std::vector<std::string> label_names,
              std::vector<double> bounds, std::size_t max_series, std::function<std::vector<Sample>()> read);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// A number in the exposition format: integers without a fraction, others in the shortest form
// that reads back exactly, +Inf / -Inf / NaN.
[[nodiscard]] std::string format_value(double v);
// A label value escaped for the exposition format (\\, \", \n).
[[nodiscard]] std::string escape_label_value(std::string_view v);

}  // namespace handshake::metrics
