// stdio transport: our stdin/stdout <-> a spawned server's stdin/stdout, one JSON-RPC message per
// line (MCP stdio framing). Logs go to stderr; stdout carries only protocol messages.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "handshake/mcp/envelope.hpp"
#include "handshake/net/http.hpp"
#include "handshake/mcp/stdio.hpp"
#include "handshake/net/sse.hpp"
#include "relay.hpp"

namespace hsk::mcp_proxy {

namespace mcp = handshake::mcp;

namespace {

// Writes all of `data` to `fd` (serialized by `mu`). false when the other end is gone.
bool write_all(int fd, std::mutex& mu, std::string_view data) {
  std::lock_guard lock(mu);
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads `fd` to its end (or a read error) through the MCP stdio framer (mcp/stdio.hpp).
void read_lines(int fd, std::size_t max, const mcp::LineFramer::OnLine& on_line,
                const mcp::LineFramer::OnOversize& on_oversize) {
  mcp::LineFramer framer(max);
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    framer.feed(std::string_view(chunk, static_cast<std::size_t>(n)), on_line, on_oversize);
  }
  framer.finish(on_line);
}

struct Child {
  pid_t pid = -1;
  int in = -1;   // its stdin (we write)
  int out = -1;  // its stdout (we read)
};

bool spawn(const std::vector<std::string>& command, const sigset_t& original_mask, Child& child) {
  int to_child[2], from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0) return false;
  if (::pipe2(from_child, O_CLOEXEC) != 0) {
    ::close(to_child[0]);
    ::close(to_child[1]);
    return false;
  }
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    // The child dies with us even if we are killed with SIGKILL.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP}) ::sigaction(s, &dfl, nullptr);
    ::sigprocmask(SIG_SETMASK, &original_mask, nullptr);
    ::execvp(argv[0], argv.data());
    const std::string msg = "hsk-mcp-proxy: cannot run " + command[0] + ": " + std::strerror(errno) + "\n";
    (void)!::write(2, msg.data(), msg.size());
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  child.pid = pid;
  child.in = to_child[1];
  child.out = from_child[0];
  return true;
}

// Waits up to `timeout` for the child to exit; its exit code, or -1 if it is still running.
int wait_for(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (r < 0 && errno != EINTR) return 0;  // already reaped
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

int run_stdio(const StdioOptions& options, const Route& route) {
  // Signals are taken by one thread (net::wait_for_stop) so that every exit path reaps the child;
  // SIGHUP is a reload, not a stop.
  const sigset_t original = handshake::net::block_signals();

  Child child;
  if (!spawn(options.command, original, child)) {
    log("cannot start " + options.command[0] + ": " + std::strerror(errno));
    return 1;
  }

  std::mutex out_mu, child_mu;
  std::mutex pending_mu;
  std::unordered_map<std::string, Finish> pending;
  std::mutex exit_mu;
  std::atomic<bool> exiting{false};

  // Ends the process: the child gets EOF, then SIGTERM, then SIGKILL, and is reaped.
  auto finish = [&](int code, bool child_gone) {
    std::lock_guard lock(exit_mu);  // first caller wins; others block until _exit
    exiting = true;
    int child_code = wait_for(child.pid, std::chrono::milliseconds(child_gone ? 2000 : 0));
    if (child_code < 0) {
      ::close(child.in);
      child_code = wait_for(child.pid, std::chrono::milliseconds(child_gone ? 0 : 1500));
    }
    if (child_code < 0) {
      ::kill(child.pid, SIGTERM);
      child_code = wait_for(child.pid, std::chrono::milliseconds(2000));
    }
    if (child_code < 0) {
      ::kill(child.pid, SIGKILL);
      child_code = wait_for(child.pid, std::chrono::milliseconds(5000));
    }
    ::_exit(code >= 0 ? code : (child_code < 0 ? 1 : child_code));
  };

  std::thread signals([&] {
    const int sig = handshake::net::wait_for_stop(options.on_reload, [](const std::string& line) { log(line); });
    log("signal " + std::to_string(sig) + ": stopping the server");
    finish(128 + sig, false);
  });
  signals.detach();

  auto to_client = [&](std::string line) {
    line.push_back('\n');
    if (!write_all(1, out_mu, line)) finish(0, false);  // the client is gone
  };
  auto to_server = [&](std::string line) {
    line.push_back('\n');
    return write_all(child.in, child_mu, line);
  };

  // Server -> client.
  std::thread from_server([&] {
    read_lines(
        child.out, options.max_message_bytes,
        [&](std::string_view line) {
          auto message = mcp::decode(line);
          if (!message) {
            log("the server wrote a line that is not JSON; answered with a parse error");
            (void)to_server(mcp::serialize(mcp::error_response(nullptr, mcp::kParseError, "Parse error")));
            return;
          }
          if (mcp::message_type(*message) == mcp::MessageType::kResponse) {
            const std::string key = mcp::pending_key((*message)["id"]);
            Finish done;
            {
              std::lock_guard lock(pending_mu);
              if (auto it = pending.find(key); it != pending.end()) {
                done = std::move(it->second);
                pending.erase(it);
              }
            }
            if (done) {
              Finished f = done(std::move(*message));
              if (!f.resend) {
                to_client(mcp::serialize(f.message));
                return;
              }
              // The role sends another request in place of this one (same id): its response is
              // the one the client gets.
              {
                std::lock_guard lock(pending_mu);
                pending[key] = std::move(f.resend);
              }
              if (!to_server(mcp::serialize(f.message))) {
                log("the server's stdin is closed");
                {
                  std::lock_guard lock(pending_mu);
                  pending.erase(key);
                }
                to_client(mcp::serialize(mcp::error_response(f.message.value("id", Json()), mcp::kInternalError,
                                                             "the server's stdin is closed")));
              }
              return;
            }
          }
          to_client(std::string(line));
        },
        [&](std::size_t size, const Json& id) {
          log("the server wrote a message of " + std::to_string(size) + " bytes, over the limit; dropped");
          // The response to a call the client waits for: the client gets an error, not silence.
          bool pending_call = false;
          if (!id.is_null()) {
            std::lock_guard lock(pending_mu);
            pending_call = pending.erase(mcp::pending_key(id)) > 0;
          }
          if (pending_call) {
            to_client(mcp::serialize(mcp::error_response(
                id, mcp::kMessageTooLarge,
                "the server's response of " + std::to_string(size) + " bytes exceeds the limit of " +
                    std::to_string(options.max_message_bytes))));
            return;
          }
          (void)to_server(mcp::serialize(mcp::error_response(nullptr, mcp::kMessageTooLarge, "message too large")));
        });
    if (!exiting) finish(-1, true);  // the server ended: we end with its exit code
  });
  from_server.detach();

  // Client -> server (this thread).
  read_lines(
      0, options.max_message_bytes,
      [&](std::string_view line) {
        mcp::ClientLine in = mcp::read_client_line(line);
        if (in.error) {
          to_client(mcp::serialize(*in.error));
          return;
        }
        const Json id = std::move(in.id);
        Routed r = route(std::move(*in.message), line);
        if (r.answer_now) {
          to_client(mcp::serialize(r.message));
          return;
        }
        if (r.finish) {
          std::lock_guard lock(pending_mu);
          pending[mcp::pending_key(id)] = std::move(r.finish);
        }
        if (!to_server(r.modified ? mcp::serialize(r.message) : std::string(line))) {
          log("the server's stdin is closed");
        }
      },
      [&](std::size_t size, const Json& id) {
        // With the request's id (read as the line passed), so that the client can match it.
        log("a client message of " + std::to_string(size) + " bytes exceeds --max-message-bytes; answered -32012");
        to_client(mcp::serialize(mcp::error_response(id, mcp::kMessageTooLarge,
                                                     "message of " + std::to_string(size) +
                                                         " bytes exceeds the limit of " +
                                                         std::to_string(options.max_message_bytes))));
      });
  // stdin ended: the client is done. Let the server finish what it has, then stop it.
  finish(-1, false);
  return 0;
}

namespace {

// The MCP handshake a client opens with, then tools/list (id 2): what --check asks a server.
std::vector<Json> probe_messages() {
  return {Json{{"jsonrpc", "2.0"},
               {"id", 1},
               {"method", "initialize"},
               {"params", Json{{"protocolVersion", "2025-06-18"},
                               {"capabilities", Json::object()},
                               {"clientInfo", Json{{"name", "hsk-mcp-proxy --check"}, {"version", "1"}}}}}},
          Json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}},
          Json{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/list"}}};
}

handshake::Error probe_error(const std::string& why) {
  return handshake::make_error(handshake::ErrorCode::kUnavailable, "mcp.probe", why);
}

}  // namespace

handshake::Result<Json> probe_tools_stdio(const std::vector<std::string>& command, std::chrono::milliseconds timeout) {
  const sigset_t mask = handshake::net::block_signals();  // the mask main() started with, for the child
  Child child;
  if (!spawn(command, mask, child)) return probe_error("cannot start " + command[0] + ": " + std::strerror(errno));
  std::string out;
  for (const auto& m : probe_messages()) out += mcp::serialize(m) + "\n";
  std::mutex mu;
  const bool written = write_all(child.in, mu, out);
  std::optional<Json> result;
  std::string error = written ? "" : "the server's stdin closed";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  mcp::LineFramer framer(64 * 1024 * 1024);
  char chunk[65536];
  while (written && !result && error.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      error = "no answer to tools/list within " + std::to_string(timeout.count()) + " ms";
      break;
    }
    pollfd p{child.out, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::read(child.out, chunk, sizeof chunk);
    if (n <= 0) {
      error = "the server ended before it answered tools/list";
      break;
    }
    framer.feed(
        std::string_view(chunk, static_cast<std::size_t>(n)),
        [&](std::string_view line) {
          auto m = mcp::decode(line);
          if (!m || !m->is_object() || m->value("id", Json()) != 2) return;
          if (m->contains("result")) {
            result = (*m)["result"];
          } else {
            error = "tools/list answered " + mcp::serialize(m->value("error", Json())).substr(0, 200);
          }
        },
        [](std::size_t, const Json&) {});
  }
  ::close(child.in);
  if (wait_for(child.pid, std::chrono::milliseconds(1000)) < 0) {
    ::kill(child.pid, SIGTERM);
    if (wait_for(child.pid, std::chrono::milliseconds(2000)) < 0) {
      ::kill(child.pid, SIGKILL);
      (void)wait_for(child.pid, std::chrono::milliseconds(2000));
    }
  }
  ::close(child.out);
  if (result) return std::move(*result);
  return probe_error(error);
}

handshake::Result<Json> probe_tools_http(const handshake::net::Url& url, const handshake::net::ClientOptions& client) {
  auto c = handshake::net::Client::open(url, client);
  if (!c.ok()) return c.error();
  httplib::Headers headers{{"Accept", "application/json, text/event-stream"}};
  std::optional<Json> result;
  for (const auto& m : probe_messages()) {
    auto r = (*c)->post(url.path, mcp::serialize(m), "application/json", headers);
    if (!r.ok()) return r.error();
    if (r->status >= 400) {
      return probe_error(mcp::serialize(m["method"]) + " answered HTTP " + std::to_string(r->status) + ": " +
                         r->body.substr(0, 200));
    }
    if (auto sid = r->headers.find("Mcp-Session-Id"); sid != r->headers.end()) {
      headers.erase("Mcp-Session-Id");
      headers.emplace("Mcp-Session-Id", sid->second);
    }
    if (!m.contains("id") || m["id"] != 2) continue;
    // A JSON body, or an event stream whose events carry the response.
    std::vector<std::string> bodies;
    auto ct = r->headers.find("Content-Type");
    if (ct != r->headers.end() && ct->second.rfind("text/event-stream", 0) == 0) {
      handshake::net::SseSplitter split;
      auto on = [&](const handshake::net::SseEvent& ev) { bodies.push_back(ev.data()); };
      split.feed(r->body, on);
      split.finish(on);
    } else {
      bodies.push_back(r->body);
    }
    for (const auto& b : bodies) {
      auto answer = mcp::decode(b);
      if (answer && answer->is_object() && answer->value("id", Json()) == 2 && answer->contains("result")) {
        result = (*answer)["result"];
      }
    }
  }
  if (result) return std::move(*result);
  return probe_error("tools/list got no result");
}

}  // namespace hsk::mcp_proxy
