// Server-sent events as the proxies relay them (net/sse.hpp): LF, CR and CRLF, split anywhere.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/net/sse.hpp"

namespace net = handshake::net;

namespace {

// Feeds `stream` in pieces of `piece` bytes; returns the data of each event, and how many events
// had arrived after each piece.
struct Split {
  std::vector<std::string> data;
  std::vector<std::size_t> after_piece;
};

Split split(const std::string& stream, std::size_t piece) {
  Split out;
  net::SseSplitter s;
  auto on = [&](const net::SseEvent& ev) { out.data.push_back(ev.data()); };
  for (std::size_t i = 0; i < stream.size(); i += piece) {
    s.feed(std::string_view(stream).substr(i, piece), on);
    out.after_piece.push_back(out.data.size());
  }
  s.finish(on);
  return out;
}

}  // namespace

TEST_CASE("sse: events whatever the line endings, wherever the chunks cut", "[net][sse]") {
  const std::vector<std::string> expected = {"{\"a\":1}", "{\"b\":2}\nsecond line", "{\"c\":3}"};
  for (const std::string eol : {"\n", "\r\n", "\r"}) {
    const std::string stream = "event: message" + eol + "data: {\"a\":1}" + eol + eol + ": a comment" + eol +
                               "data: {\"b\":2}" + eol + "data: second line" + eol + eol + "id: 7" + eol +
                               "data:{\"c\":3}" + eol + eol;
    for (std::size_t piece : {1u, 2u, 3u, 7u, 1000u}) {
      CAPTURE(eol == "\r\n" ? "CRLF" : eol == "\r" ? "CR" : "LF", piece);
      CHECK(split(stream, piece).data == expected);
    }
  }
}

TEST_CASE("sse: each event is handed on as soon as its blank line arrives", "[net][sse]") {
  // CRLF framing, one byte at a time: the first event is out before the second begins.
  const std::string first = "data: one\r\n\r\n";
  const std::string stream = first + "data: two\r\n\r\n";
  const auto s = split(stream, 1);
  REQUIRE(s.data == std::vector<std::string>{"one", "two"});
  CHECK(s.after_piece[first.size() - 1] == 1);  // right after the first event's last byte
  CHECK(s.after_piece[first.size() - 2] == 0);  // not before
}

TEST_CASE("sse: a CR at a chunk's end waits for the next chunk; a stream may end without a blank line",
          "[net][sse]") {
  net::SseSplitter s;
  std::vector<std::string> got;
  auto on = [&](const net::SseEvent& ev) { got.push_back(ev.data()); };
  s.feed("data: x\r", on);
  s.feed("\n\r", on);
  CHECK(got.empty());  // "\r" alone at the end might be half of "\r\n"
  s.feed("\n", on);
  CHECK(got == std::vector<std::string>{"x"});
  s.feed("data: tail", on);
  s.finish(on);
  CHECK(got == std::vector<std::string>{"x", "tail"});
  net::SseEvent ev;
  ev.lines = {"event: message", "data: old", "data: more", "id: 3"};
  CHECK(ev.render(std::string("new")) == "event: message\ndata: new\nid: 3\n\n");
  CHECK(ev.render(std::nullopt) == "event: message\ndata: old\ndata: more\nid: 3\n\n");
}
