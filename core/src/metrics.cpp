#include "handshake/metrics.hpp"

#include <charconv>
#include <cmath>
#include <map>
#include <stdexcept>

namespace handshake::metrics {

namespace {

bool valid_name(std::string_view n, bool allow_colon) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

std::vector<double> latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest form that reads back exactly
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) noexcept {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// One family: its metadata and its series by label values.
class Family {
 public:
  std::string name, help;
  Type type = Type::kCounter;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  std::size_t max_series = Registry::kDefaultMaxSeries;
  bool is_callback = false;                   // samples come from `read`
  std::function<std::vector<Sample>()> read;  // guarded by mu (a callback may be replaced)

  template <typename Labels>
  std::vector<std::string> key_of(const Labels& labels) const {
    if (labels.size() != label_names.size()) {
      throw std::invalid_argument("metric " + name + " takes " + std::to_string(label_names.size()) + " labels");
    }
    std::vector<std::string> key;
    key.reserve(labels.size());
    for (const auto& l : labels) key.emplace_back(l);
    return key;
  }

  template <typename Labels>
  Value& value(const Labels& labels) {
    auto key = key_of(labels);
    std::lock_guard lock(mu);
    if (auto it = values.find(key); it != values.end()) return *it->second;
    if (values.size() >= max_series) key.assign(label_names.size(), "other");
    auto& slot = values[std::move(key)];
    if (!slot) slot = std::make_unique<Value>();
    return *slot;
  }

  Histogram& histogram(std::initializer_list<std::string_view> labels) {
    auto key = key_of(labels);
    std::lock_guard lock(mu);
    if (auto it = histograms.find(key); it != histograms.end()) return *it->second;
    if (histograms.size() >= max_series) key.assign(label_names.size(), "other");
    auto& slot = histograms[std::move(key)];
    if (!slot) slot = std::make_unique<Histogram>(bounds);
    return *slot;
  }

  std::string label_text(const std::vector<std::string>& label_values, std::string_view extra = {}) const {
    if (label_names.empty() && extra.empty()) return "";
    std::string out = "{";
    for (std::size_t i = 0; i < label_names.size() && i < label_values.size(); ++i) {
      if (i > 0) out += ',';
      out += label_names[i] + "=\"" + escape_label_value(label_values[i]) + "\"";
    }
    if (!extra.empty()) {
      if (!label_names.empty()) out += ',';
      out += extra;
    }
    return out + "}";
  }

  void render(std::string& out) const {
    out += "# HELP " + name + " " + escape_help(help) + "\n";
    out += "# TYPE " + name + " " + type_name(type) + "\n";
    std::function<std::vector<Sample>()> reader;
    {
      std::lock_guard lock(mu);
      reader = read;
    }
    if (is_callback) {
      for (const auto& s : reader ? reader() : std::vector<Sample>{}) {
        if (s.labels.size() != label_names.size()) continue;
        out += name + label_text(s.labels) + " " + format_value(s.value) + "\n";
      }
      return;
    }
    std::lock_guard lock(mu);
    if (type != Type::kHistogram) {
      if (values.empty() && label_names.empty()) out += name + " 0\n";
      for (const auto& [labels, v] : values) out += name + label_text(labels) + " " + format_value(v->get()) + "\n";
      return;
    }
    for (const auto& [labels, h] : histograms) {
      const auto snap = h->snapshot();
      for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
        const std::string le = i < bounds.size() ? format_value(bounds[i]) : "+Inf";
        out += name + "_bucket" + label_text(labels, "le=\"" + le + "\"") + " " +
               format_value(static_cast<double>(snap.cumulative[i])) + "\n";
      }
      out += name + "_sum" + label_text(labels) + " " + format_value(snap.sum) + "\n";
      out += name + "_count" + label_text(labels) + " " + format_value(static_cast<double>(snap.count)) + "\n";
    }
  }

  mutable std::mutex mu;
  std::map<std::vector<std::string>, std::unique_ptr<Value>> values;
  std::map<std::vector<std::string>, std::unique_ptr<Histogram>> histograms;
};

Value& Counter::with(std::initializer_list<std::string_view> labels) const { return f_->value(labels); }
Value& Counter::with(std::span<const std::string> labels) const { return f_->value(labels); }
Value& Gauge::with(std::initializer_list<std::string_view> labels) const { return f_->value(labels); }
Histogram& Histograms::with(std::initializer_list<std::string_view> labels) const { return f_->histogram(labels); }

Registry::Registry() = default;
Registry::~Registry() = default;

Family* Registry::add(std::string name, std::string help, Type type, std::vector<std::string> label_names,
                      std::vector<double> bounds, std::size_t max_series, std::function<std::vector<Sample>()> read) {
  if (!valid_name(name, true)) throw std::invalid_argument("bad metric name: " + name);
  if (type == Type::kCounter && !(name.size() > 6 && name.ends_with("_total"))) {
    throw std::invalid_argument("a counter's name ends in _total: " + name);
  }
  for (const auto& l : label_names) {
    if (!valid_name(l, false) || l.starts_with("__") || (type == Type::kHistogram && l == "le")) {
      throw std::invalid_argument("bad label name for " + name + ": " + l);
    }
  }
  for (std::size_t i = 1; i < bounds.size(); ++i) {
    if (!(bounds[i] > bounds[i - 1])) throw std::invalid_argument("histogram bounds must increase: " + name);
  }
  if (max_series == 0) max_series = 1;
  std::lock_guard lock(mu_);
  for (auto& f : families_) {
    if (f->name != name) continue;
    if (read && f->is_callback) {  // a callback replaced (same type and labels: a scrape may be running)
      if (f->type != type || f->label_names != label_names) {
        throw std::invalid_argument("metric " + name + " registered twice with different types or labels");
      }
      std::lock_guard family_lock(f->mu);
      f->read = std::move(read);
      return f.get();
    }
    if (f->type != type || f->label_names != label_names || static_cast<bool>(read) != f->is_callback) {
      throw std::invalid_argument("metric " + name + " registered twice with different types or labels");
    }
    return f.get();
  }
  auto f = std::make_unique<Family>();
  f->name = std::move(name);
  f->help = std::move(help);
  f->type = type;
  f->label_names = std::move(label_names);
  f->bounds = std::move(bounds);
  f->max_series = max_series;
  f->is_callback = static_cast<bool>(read);
  f->read = std::move(read);
  families_.push_back(std::move(f));
  return families_.back().get();
}

Counter Registry::counter(std::string name, std::string help, std::vector<std::string> label_names,
                          std::size_t max_series) {
  return Counter(add(std::move(name), std::move(help), Type::kCounter, std::move(label_names), {}, max_series, {}));
}

Gauge Registry::gauge(std::string name, std::string help, std::vector<std::string> label_names, std::size_t max_series) {
  return Gauge(add(std::move(name), std::move(help), Type::kGauge, std::move(label_names), {}, max_series, {}));
}

Histograms Registry::histogram(std::string name, std::string help, std::vector<std::string> label_names,
                               std::vector<double> bounds, std::size_t max_series) {
  if (bounds.empty()) throw std::invalid_argument("a histogram needs buckets: " + name);
  return Histograms(
      add(std::move(name), std::move(help), Type::kHistogram, std::move(label_names), std::move(bounds), max_series, {}));
}

void Registry::callback(std::string name, std::string help, Type type, std::vector<std::string> label_names,
                        std::function<std::vector<Sample>()> read) {
  if (type == Type::kHistogram || !read) throw std::invalid_argument("a callback family is a counter or gauge: " + name);
  (void)add(std::move(name), std::move(help), type, std::move(label_names), {}, kDefaultMaxSeries, std::move(read));
}

std::string Registry::render() const {
  std::vector<const Family*> families;
  {
    std::lock_guard lock(mu_);
    for (const auto& f : families_) families.push_back(f.get());
  }
  std::string out;
  for (const Family* f : families) f->render(out);
  return out;
}

}  // namespace handshake::metrics
