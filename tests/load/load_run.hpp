// What every load, soak and abuse run against one of our HTTP servers shares (registry_load.cpp,
// mcp_proxy_load.cpp, a2a_proxy_load.cpp): the command line, the timed client loop at a fixed
// concurrency, slowloris connections held open meanwhile, a once-a-second hook for abuse
// (oversized and malformed requests), the server's resident memory sampled from /proc, and the
// report with its pass/fail rule. A program supplies only the requests and what counts as success.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "handshake/json.hpp"

namespace hsk_load {

using Clock = std::chrono::steady_clock;
using handshake::Json;

struct RunOptions {
  int seconds = 20;
  int concurrency = 16;
  int slow = 32;                 // slowloris connections held open during the run
  long rss_growth_bound_mb = 64;  // allowed growth from the warm sample to the end
};

// `--name value` pairs. The common ones go to RunOptions; the rest stay in `extra` for the program.
struct CommandLine {
  RunOptions run;
  std::map<std::string, std::string> extra;
};

inline std::optional<CommandLine> parse_command_line(int argc, char** argv, long default_rss_growth_mb = 64) {
  CommandLine c;
  c.run.rss_growth_bound_mb = default_rss_growth_mb;
  try {
    for (int i = 1; i < argc; i += 2) {
      const std::string k = argv[i];
      if (k.rfind("--", 0) != 0 || i + 1 >= argc) return std::nullopt;
      const std::string v = argv[i + 1];
      if (k == "--seconds") c.run.seconds = std::stoi(v);
      else if (k == "--concurrency") c.run.concurrency = std::stoi(v);
      else if (k == "--slow") c.run.slow = std::stoi(v);
      else if (k == "--rss-growth-mb") c.run.rss_growth_bound_mb = std::stol(v);
      else c.extra[k.substr(2)] = v;
    }
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (c.run.seconds < 1 || c.run.concurrency < 1 || c.run.slow < 0) return std::nullopt;
  return c;
}

inline const char* kCommonUsage = "[--seconds N] [--concurrency C] [--slow S] [--rss-growth-mb M]";

// VmRSS of `pid` in KiB, or -1 once the process is gone.
inline long rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

inline std::filesystem::path make_temp_dir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
  return tmpl;
}

// Waits until `path` holds a line starting with `prefix`; returns the rest of that line. For
// servers that announce their address on stderr (sent to a file, see ChildProcess).
inline std::optional<std::string> wait_for_line_in_file(const std::filesystem::path& path, const std::string& prefix,
                                                        std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (auto at = line.find(prefix); at != std::string::npos) return line.substr(at + prefix.size());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

// The last `max_bytes` of a log file, for a failure report.
inline std::string tail_of(const std::filesystem::path& path, std::size_t max_bytes = 4000) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

// A slowloris client: `head` (a request line and some headers, unfinished), then one header byte
// every half second until `stop`. Returns whether the server was still holding the connection
// at the end (informational: per-read timeouts do not end such a connection, a big worker pool
// is what keeps the server serving).
inline bool slowloris(int port, const std::string& head, const std::atomic<bool>& stop) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool held = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    held = ::send(fd, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size());
    while (held && !stop.load()) {
      held = ::send(fd, "a", 1, MSG_NOSIGNAL) == 1;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
  ::close(fd);
  return held;
}

// One request of the load: whether it succeeded, and its latency (what the program chose to time).
struct Sample {
  bool ok = false;
  double latency_ms = 0;
};

inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Abuse outcomes: each probe must be refused the way the program expects.
class AbuseTally {
 public:
  void expect(const std::string& probe, bool refused_cleanly) {
    std::lock_guard lock(mu_);
    auto& [ok, total] = by_probe_[probe];
    ++total;
    if (refused_cleanly) ++ok;
  }
  [[nodiscard]] bool all_clean() const {
    std::lock_guard lock(mu_);
    for (const auto& [_, c] : by_probe_) {
      if (c.first != c.second) return false;
    }
    return !by_probe_.empty();
  }
  [[nodiscard]] Json json() const {
    std::lock_guard lock(mu_);
    Json out = Json::object();
    for (const auto& [probe, c] : by_probe_) out[probe] = std::to_string(c.first) + "/" + std::to_string(c.second);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> by_probe_;
};

struct Outcome {
  double elapsed_seconds = 0;
  std::vector<double> latencies_ms;  // sorted
  std::uint64_t errors = 0;
  long rss_idle_kb = -1;   // before the load starts
  long rss_first_kb = -1;  // after the first second
  long rss_warm_kb = -1;   // at the end of the first third (stores and pools warm)
  long rss_end_kb = -1;
  long rss_max_kb = -1;
  std::vector<long> rss_kb_per_second;
  int slow_started = 0;
  int slow_held = 0;

  [[nodiscard]] double percentile(double p) const {
    if (latencies_ms.empty()) return 0;
    return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(latencies_ms.size())))];
  }
  [[nodiscard]] long growth_kb() const { return rss_end_kb - rss_warm_kb; }
};

// Runs the load: `concurrency` threads call `one(worker, n)` (n numbers requests across all
// workers) until `seconds` have passed, while `slow` slowloris connections (sending
// `slow_head`) stay open. Once a second the server's RSS is sampled and `each_second` runs.
inline Outcome run_load(const RunOptions& o, int port, int server_pid, const std::string& slow_head,
                        const std::function<Sample(int worker, std::uint64_t n)>& one,
                        const std::function<void()>& each_second) {
  Outcome out;
  out.rss_idle_kb = rss_kb(server_pid);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> counter{0}, errors{0};
  std::atomic<int> held{0};
  std::mutex lat_mu;
  std::vector<std::thread> slow_threads;
  for (int i = 0; i < o.slow; ++i) {
    slow_threads.emplace_back([&] {
      if (slowloris(port, slow_head, stop)) ++held;
    });
  }
  out.slow_started = o.slow;

  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < o.concurrency; ++t) {
    workers.emplace_back([&, t] {
      std::vector<double> mine;
      while (!stop.load()) {
        const Sample s = one(t, counter.fetch_add(1));
        mine.push_back(s.latency_ms);
        if (!s.ok) ++errors;
      }
      std::lock_guard lock(lat_mu);
      out.latencies_ms.insert(out.latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  std::vector<long> rss;
  for (int s = 0; s < o.seconds; ++s) {
    std::this_thread::sleep_until(start + std::chrono::seconds(s + 1));
    rss.push_back(rss_kb(server_pid));
    if (each_second) each_second();
  }
  stop = true;
  for (auto& w : workers) w.join();
  out.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& s : slow_threads) s.join();
  out.slow_held = held.load();
  out.errors = errors.load();
  std::sort(out.latencies_ms.begin(), out.latencies_ms.end());
  if (!rss.empty()) {
    out.rss_first_kb = rss.front();
    out.rss_warm_kb = rss[rss.size() / 3];
    out.rss_end_kb = rss.back();
    out.rss_max_kb = *std::max_element(rss.begin(), rss.end());
  }
  out.rss_kb_per_second = std::move(rss);
  return out;
}

// The common part of the report; a program adds its own members.
inline Json report(const RunOptions& o, const Outcome& out, const AbuseTally& abuse, bool alive_after) {
  const double n = static_cast<double>(out.latencies_ms.size());
  // The memory curve, thinned to about ten points: flat or still climbing?
  Json curve = Json::array();
  const std::size_t step = std::max<std::size_t>(1, out.rss_kb_per_second.size() / 10);
  for (std::size_t i = step - 1; i < out.rss_kb_per_second.size(); i += step) {
    curve.push_back(Json{{"second", i + 1}, {"kb", out.rss_kb_per_second[i]}});
  }
  return Json{{"seconds", out.elapsed_seconds},
              {"concurrency", o.concurrency},
              {"requests", out.latencies_ms.size()},
              {"throughput_rps", out.elapsed_seconds > 0 ? n / out.elapsed_seconds : 0.0},
              {"latency_ms", Json{{"p50", out.percentile(0.50)},
                                  {"p99", out.percentile(0.99)},
                                  {"max", out.latencies_ms.empty() ? 0.0 : out.latencies_ms.back()}}},
              {"errors", out.errors},
              {"slowloris", Json{{"connections", out.slow_started}, {"held_to_end", out.slow_held}}},
              {"abuse_refused_cleanly", abuse.json()},
              {"server_rss_kb", Json{{"idle", out.rss_idle_kb},
                                     {"first", out.rss_first_kb},
                                     {"warm", out.rss_warm_kb},
                                     {"end", out.rss_end_kb},
                                     {"max", out.rss_max_kb},
                                     {"growth_warm_to_end", out.growth_kb()},
                                     {"growth_bound", o.rss_growth_bound_mb * 1024},
                                     {"curve", std::move(curve)}}},
              {"alive_after", alive_after}};
}

// The rule every run shares: no request failed, some succeeded, every abuse probe was refused
// cleanly, the server still answers, and memory stayed within the bound after warming up.
inline bool passed(const RunOptions& o, const Outcome& out, const AbuseTally& abuse, bool alive_after,
                   std::uint64_t successes) {
  bool ok = true;
  auto need = [&](bool c, const char* why) {
    if (!c) std::cerr << "load run FAILED: " << why << "\n";
    ok = ok && c;
  };
  need(out.errors == 0, "requests failed");
  need(successes > 0, "no request succeeded");
  need(abuse.all_clean(), "an abuse probe was not refused cleanly");
  need(alive_after, "the server does not answer after the run");
  need(out.rss_end_kb > 0, "the server process is gone");
  need(out.growth_kb() <= o.rss_growth_bound_mb * 1024, "resident memory grew past the bound");
  return ok;
}

}  // namespace hsk_load
