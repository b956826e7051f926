// The access log (log.access): one line per finished session or plain HTTP
// exchange, in text (`access key=value ...`) and as one JSON object per line
// (log.format: json). Each case runs a known exchange and checks every field
// of the line it leaves, after parsing the line as an operator's tool would.
#include <boost/json/src.hpp>
#include <boost/test/unit_test.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "extra_handshake.hpp"
#include "server/logging.hpp"
#include "log_capture.hpp"
#include "test_support.hpp"

using namespace tt;

namespace {

using fields = std::map<std::string, std::string>;

/// Collects tether's log lines (info) while it lives, formatted as tether
/// writes them to stderr for `format` once use_format() is called (tether's
/// start sets every sink's format to the test's default).
class access_log : public log_capture {
 public:
  explicit access_log(std::string format) : log_capture(1024), format_(std::move(format)) {}
  /// After tether started: this sink formats as log.format says.
  void use_format() {
    tether::log_config c;
    c.format = format_;
    sink().set_formatter(tether::make_log_formatter(c));
  }
  /// The fields of the `n`-th access line (0-based), parsed from its text or
  /// JSON form; empty when it does not come within `timeout`.
  fields access(std::size_t n = 0, ms timeout = 5000ms) const {
    std::vector<std::string> lines;
    wait_until(
        [&] {
          lines.clear();
          for (const auto& line : this->lines()) {
            const bool is_access = format_ == "json" ? line.find("\"msg\":\"access\"") != std::string::npos
                                                     : line.find(" info access ") != std::string::npos;
            if (is_access) {
              lines.push_back(line);
            }
          }
          return lines.size() > n;
        },
        timeout);
    if (lines.size() <= n) {
      return {};
    }
    auto line = lines[n];
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
      line.pop_back();
    }
    BOOST_TEST_MESSAGE("access line: " << line);
    return format_ == "json" ? parse_json(line) : parse_text(line);
  }

 private:
  /// `ts level access k=v k="v w" ...`: logfmt, as operators' tools read it.
  static fields parse_text(const std::string& line) {
    fields out;
    auto at = line.find(" info access ");
    BOOST_REQUIRE(at != std::string::npos);
    at += std::string(" info access ").size();
    while (at < line.size()) {
      const auto eq = line.find('=', at);
      BOOST_REQUIRE_MESSAGE(eq != std::string::npos, "no '=' after " << line.substr(at));
      const auto key = line.substr(at, eq - at);
      BOOST_REQUIRE_MESSAGE(key.find(' ') == std::string::npos, "bad key " << key);
      std::string value;
      at = eq + 1;
      if (at < line.size() && line[at] == '"') {
        ++at;
        while (at < line.size() && line[at] != '"') {
          if (line[at] == '\\' && at + 1 < line.size()) {
            ++at;
          }
          value += line[at++];
        }
        BOOST_REQUIRE_MESSAGE(at < line.size(), "unterminated quote in " << line);
        ++at;  // the closing quote
      } else {
        const auto end = std::min(line.find(' ', at), line.size());
        value = line.substr(at, end - at);
        at = end;
      }
      BOOST_CHECK_MESSAGE(out.emplace(key, value).second, "field twice: " << key);
      if (at < line.size()) {
        BOOST_REQUIRE_EQUAL(line[at], ' ');
        ++at;
      }
    }
    return out;
  }

  /// One JSON object; numbers must be JSON numbers, the rest strings.
  static fields parse_json(const std::string& line) {
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    BOOST_REQUIRE_MESSAGE(!ec && v.is_object(), "not one JSON object: " << line);
    fields out;
    for (const auto& [k, value] : v.as_object()) {
      const std::string key(k);
      if (value.is_string()) {
        out[key] = std::string(value.as_string());
      } else if (value.is_int64()) {
        out[key] = std::to_string(value.as_int64());
      } else if (value.is_uint64()) {
        out[key] = std::to_string(value.as_uint64());
      } else {
        BOOST_ERROR("field " << key << " is neither a string nor an integer");
      }
      if (numeric(key)) {
        BOOST_CHECK_MESSAGE(value.is_int64() || value.is_uint64(), key << " is not a JSON number");
      }
    }
    BOOST_CHECK_EQUAL(out["msg"], "access");
    BOOST_CHECK_EQUAL(out["level"], "info");
    BOOST_CHECK(!out["ts"].empty());
    for (const char* envelope : {"msg", "level", "ts"}) {
      out.erase(envelope);
    }
    return out;
  }

  static bool numeric(const std::string& key) {
    static const std::vector<std::string> names{
        "duration_ms", "messages_to_upstream", "bytes_to_upstream", "messages_to_client",
        "bytes_to_client", "client_pings_sent", "upstream_pings_sent", "client_heartbeat_timeouts",
        "upstream_heartbeat_timeouts", "app_heartbeats_sent", "app_heartbeats_answered", "reconnects",
        "outage_ms", "client_close", "upstream_close", "status", "request_bytes", "response_bytes"};
    return std::find(names.begin(), names.end(), key) != names.end();
  }

  std::string format_;
};

/// Every field a session's line has, in the order tether writes them.
const std::vector<std::string> session_fields{
    "listener", "route", "client", "target", "duration_ms", "messages_to_upstream", "bytes_to_upstream",
    "messages_to_client", "bytes_to_client", "client_pings_sent", "upstream_pings_sent",
    "client_heartbeat_timeouts", "upstream_heartbeat_timeouts", "app_heartbeats_sent",
    "app_heartbeats_answered", "reconnects", "outage_ms", "client_close", "client_close_reason",
    "client_closed_by", "upstream_close", "upstream_close_reason", "upstream_closed_by"};

void check_names(const fields& f, const std::vector<std::string>& names) {
  std::vector<std::string> got;
  for (const auto& [k, v] : f) {
    got.push_back(k);
  }
  auto want = names;
  std::sort(want.begin(), want.end());
  BOOST_CHECK_EQUAL_COLLECTIONS(got.begin(), got.end(), want.begin(), want.end());
}

std::uint64_t num(const fields& f, const std::string& key) {
  const auto it = f.find(key);
  BOOST_REQUIRE_MESSAGE(it != f.end(), "no field " << key);
  return std::stoull(it->second);
}

std::string value(const fields& f, const std::string& key) {
  const auto it = f.find(key);
  return it == f.end() ? "<missing>" : it->second;
}

std::string session_config(const test_backend& b, const std::string& format) {
  return listener_yaml(false) + "log: {access: true, format: " + format +
         "}\n"
         "defaults:\n"
         "  heartbeat:\n"
         "    client:\n"
         "      ping_interval: 0s\n"
         "      app: {message: hb, interval: 500ms}\n"
         "      answer: [{match: ping, reply: pong}]\n"
         "    upstream: {ping_interval: 0s}\n"
         "  reconnect:\n"
         "    backoff: {initial: 20ms, max: 50ms, multiplier: 2.0, jitter: 0.2}\n"
         "    notify: {reconnected: \"~back\"}\n"
         "routes:\n  - name: r\n    upstream:\n      url: \"" +
         b.url() + "\"\n";
}

/// Reads the next message that is not an app heartbeat ("hb"), counting those.
std::optional<message> read_data(ws_client& c, std::size_t& heartbeats, ms timeout = 5000ms) {
  for (;;) {
    auto m = c.read(timeout);
    if (m && m->text && m->data == "hb") {
      ++heartbeats;
      continue;
    }
    return m;
  }
}

/// The known exchange: 3 messages of 5, 10 and 20 bytes each way (echoed),
/// one answered heartbeat, an upstream outage of at least `outage` with one
/// reconnect, and at least one app heartbeat. Returns the heartbeats seen.
std::size_t known_exchange(ws_client& c, test_backend& backend, ms outage) {
  std::size_t heartbeats = 0;
  BOOST_REQUIRE(!c.send_text("aaaaa"));
  BOOST_REQUIRE_EQUAL(read_data(c, heartbeats)->data, "aaaaa");
  BOOST_REQUIRE(!c.send_text("ping"));
  BOOST_REQUIRE_EQUAL(read_data(c, heartbeats)->data, "pong");
  backend.kill();
  std::this_thread::sleep_for(outage);
  backend.restart();
  BOOST_REQUIRE_EQUAL(read_data(c, heartbeats)->data, "~back");
  BOOST_REQUIRE(!c.send_binary(std::string(10, 'b')));
  BOOST_REQUIRE_EQUAL(read_data(c, heartbeats)->data, std::string(10, 'b'));
  BOOST_REQUIRE(!c.send_text(std::string(20, 'c')));
  BOOST_REQUIRE_EQUAL(read_data(c, heartbeats)->data, std::string(20, 'c'));
  // Silence: an app heartbeat comes after 500 ms; the session ends well
  // before the next one.
  const auto m = c.read(3000ms);
  BOOST_REQUIRE_MESSAGE(m, "no app heartbeat within 3 s");
  BOOST_REQUIRE_EQUAL(m->data, "hb");
  return heartbeats + 1;
}

/// What the known exchange leaves in any session's line.
void check_known_exchange(const fields& f, std::size_t heartbeats, ms outage) {
  check_names(f, session_fields);
  BOOST_CHECK_EQUAL(value(f, "listener"), "main");
  BOOST_CHECK_EQUAL(value(f, "route"), "r");
  BOOST_CHECK_EQUAL(value(f, "client"), "127.0.0.1");
  BOOST_CHECK_EQUAL(value(f, "target"), "/feed?x=1");
  BOOST_CHECK_EQUAL(num(f, "messages_to_upstream"), 3u);
  BOOST_CHECK_EQUAL(num(f, "bytes_to_upstream"), 35u);
  BOOST_CHECK_EQUAL(num(f, "messages_to_client"), 3u);
  BOOST_CHECK_EQUAL(num(f, "bytes_to_client"), 35u);
  BOOST_CHECK_EQUAL(num(f, "client_pings_sent"), 0u);
  BOOST_CHECK_EQUAL(num(f, "upstream_pings_sent"), 0u);
  BOOST_CHECK_EQUAL(num(f, "client_heartbeat_timeouts"), 0u);
  BOOST_CHECK_EQUAL(num(f, "upstream_heartbeat_timeouts"), 0u);
  BOOST_CHECK_EQUAL(num(f, "app_heartbeats_sent"), heartbeats);
  BOOST_CHECK_EQUAL(num(f, "app_heartbeats_answered"), 1u);
  BOOST_CHECK_EQUAL(num(f, "reconnects"), 1u);
  // From the loss (seen soon after the kill) to the new upstream: about the
  // sleep, plus a backoff step and a connect; generous for a loaded machine.
  BOOST_CHECK_GE(num(f, "outage_ms"), static_cast<std::uint64_t>(outage.count()) / 2);
  BOOST_CHECK_LT(num(f, "outage_ms"), static_cast<std::uint64_t>(outage.count()) + 2000);
  // The session lasted the outage plus the heartbeat's 500 ms of silence.
  BOOST_CHECK_GE(num(f, "duration_ms"), num(f, "outage_ms") + 480);
  BOOST_CHECK_LT(num(f, "duration_ms"), 15000u);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(access_log_test)

BOOST_AUTO_TEST_CASE(session_line_in_text_when_the_client_closes) {
  access_log log("text");
  test_backend backend;
  {
    tether_instance t(session_config(backend, "text"));
    log.use_format();
    client_options o;
    o.target = "/feed?x=1";
    auto c = ws_client::connect(t.port(), o);
    const auto heartbeats = known_exchange(*c, backend, 300ms);
    BOOST_REQUIRE(!c->close(4000, "client done"));
    BOOST_REQUIRE(backend.wait_closes(1));
    const auto f = log.access();
    BOOST_REQUIRE(!f.empty());
    check_known_exchange(f, heartbeats, 300ms);
    BOOST_CHECK_EQUAL(num(f, "client_close"), 4000u);
    BOOST_CHECK_EQUAL(value(f, "client_close_reason"), "client done");
    BOOST_CHECK_EQUAL(value(f, "client_closed_by"), "client");
    BOOST_CHECK_EQUAL(num(f, "upstream_close"), 4000u);
    BOOST_CHECK_EQUAL(value(f, "upstream_close_reason"), "client done");
    BOOST_CHECK_EQUAL(value(f, "upstream_closed_by"), "tether(client closed)");
  }
}

BOOST_AUTO_TEST_CASE(session_line_in_json_when_the_backend_closes) {
  access_log log("json");
  test_backend backend;
  {
    tether_instance t(session_config(backend, "json"));
    log.use_format();
    client_options o;
    o.target = "/feed?x=1";
    auto c = ws_client::connect(t.port(), o);
    const auto heartbeats = known_exchange(*c, backend, 300ms);
    backend.close_all(4001, "server \"done\"");
    const auto closed = c->wait_close();
    BOOST_REQUIRE(closed);
    BOOST_CHECK_EQUAL(closed->first, 4001);
    const auto f = log.access();
    BOOST_REQUIRE(!f.empty());
    check_known_exchange(f, heartbeats, 300ms);
    BOOST_CHECK_EQUAL(num(f, "client_close"), 4001u);
    BOOST_CHECK_EQUAL(value(f, "client_close_reason"), "server \"done\"");
    BOOST_CHECK_EQUAL(value(f, "client_closed_by"), "tether(upstream closed)");
    BOOST_CHECK_EQUAL(num(f, "upstream_close"), 4001u);
    BOOST_CHECK_EQUAL(value(f, "upstream_close_reason"), "server \"done\"");
    BOOST_CHECK_EQUAL(value(f, "upstream_closed_by"), "upstream");
  }
}

// A client that never answers pings: one ping, one timeout, dropped; the
// backend is told 1001. Its two text heartbeats were answered by tether.
BOOST_AUTO_TEST_CASE(client_heartbeat_timeout_in_the_line) {
  for (const std::string format : {"text", "json"}) {
    BOOST_TEST_CONTEXT("format " << format) {
      access_log log(format);
      test_backend backend;
      tether_instance t(listener_yaml(false) + "log: {access: true, format: " + format +
                        "}\n"
                        "defaults:\n  heartbeat:\n"
                        "    client: {ping_interval: 100ms, pong_timeout: 200ms, answer: [{match: ping, reply: pong}]}\n"
                        "    upstream: {ping_interval: 0s}\n"
                        "routes:\n  - name: r\n    upstream:\n      url: \"" +
                        backend.url() + "\"\n");
      log.use_format();
      raw_client c(t.port());
      BOOST_REQUIRE(c.upgrade("/hb").find(" 101 ") != std::string::npos);
      for (int i = 0; i < 2; ++i) {
        BOOST_REQUIRE(!c.send_text("ping"));
        const auto m = c.read_message(2000ms);
        BOOST_REQUIRE(m);
        BOOST_CHECK_EQUAL(m->data, "pong");
      }
      BOOST_REQUIRE(backend.wait_closes(1, 3000ms));
      const auto f = log.access();
      BOOST_REQUIRE(!f.empty());
      check_names(f, session_fields);
      BOOST_CHECK_EQUAL(value(f, "target"), "/hb");
      BOOST_CHECK_EQUAL(num(f, "messages_to_upstream"), 0u);
      BOOST_CHECK_EQUAL(num(f, "bytes_to_upstream"), 0u);
      BOOST_CHECK_EQUAL(num(f, "app_heartbeats_answered"), 2u);
      BOOST_CHECK_EQUAL(num(f, "app_heartbeats_sent"), 0u);
      BOOST_CHECK_EQUAL(num(f, "client_pings_sent"), 1u);
      BOOST_CHECK_EQUAL(num(f, "client_heartbeat_timeouts"), 1u);
      BOOST_CHECK_EQUAL(num(f, "upstream_pings_sent"), 0u);
      BOOST_CHECK_EQUAL(num(f, "upstream_heartbeat_timeouts"), 0u);
      BOOST_CHECK_EQUAL(num(f, "reconnects"), 0u);
      BOOST_CHECK_EQUAL(num(f, "outage_ms"), 0u);
      BOOST_CHECK_EQUAL(num(f, "client_close"), 1006u);
      BOOST_CHECK_EQUAL(value(f, "client_close_reason"), "");
      BOOST_CHECK_EQUAL(value(f, "client_closed_by"), "tether(heartbeat timeout)");
      BOOST_CHECK_EQUAL(num(f, "upstream_close"), 1001u);
      BOOST_CHECK_EQUAL(value(f, "upstream_closed_by"), "tether(client heartbeat timeout)");
      BOOST_CHECK_GE(num(f, "duration_ms"), 280u);
    }
  }
}

// A backend that never answers pings, reconnecting off: the upstream leg
// gets one ping and one timeout, and the client a 1014.
BOOST_AUTO_TEST_CASE(upstream_heartbeat_timeout_in_the_line) {
  access_log log("text");
  backend_options bo;
  bo.auto_pong = false;
  test_backend backend(bo);
  tether_instance t(listener_yaml(false) +
                    "log: {access: true}\n"
                    "defaults:\n  heartbeat:\n"
                    "    client: {ping_interval: 0s}\n"
                    "    upstream: {ping_interval: 100ms, pong_timeout: 200ms}\n"
                    "  reconnect: {enabled: false}\n"
                    "routes:\n  - name: r\n    upstream:\n      url: \"" +
                    backend.url() + "\"\n");
  log.use_format();
  {
    raw_client c(t.port());  // Beast's client takes 1014 for a reserved code (Boost 1.81)
    BOOST_REQUIRE(c.upgrade().find(" 101 ") != std::string::npos);
    const auto code = c.wait_close_code(3000ms);
    BOOST_REQUIRE(code);
    BOOST_CHECK_EQUAL(*code, 1014);
    // Answers the close frame and leaves.
    BOOST_REQUIRE(!c.write(client_frame(0x88, std::string("\x03\xf6", 2))));
  }
  const auto f = log.access();
  BOOST_REQUIRE(!f.empty());
  check_names(f, session_fields);
  BOOST_CHECK_EQUAL(num(f, "upstream_pings_sent"), 1u);
  BOOST_CHECK_EQUAL(num(f, "upstream_heartbeat_timeouts"), 1u);
  BOOST_CHECK_EQUAL(num(f, "client_pings_sent"), 0u);
  BOOST_CHECK_EQUAL(num(f, "client_heartbeat_timeouts"), 0u);
  BOOST_CHECK_EQUAL(num(f, "upstream_close"), 1006u);
  BOOST_CHECK_EQUAL(value(f, "upstream_closed_by"), "tether(heartbeat timeout)");
  BOOST_CHECK_EQUAL(num(f, "client_close"), 1014u);
  BOOST_CHECK_EQUAL(value(f, "client_close_reason"), "upstream lost");
  BOOST_CHECK_EQUAL(value(f, "client_closed_by"), "tether(upstream lost)");
}

// Plain HTTP: one line per exchange, on a kept-alive connection too.
BOOST_AUTO_TEST_CASE(http_exchange_lines) {
  for (const std::string format : {"text", "json"}) {
    BOOST_TEST_CONTEXT("format " << format) {
      access_log log(format);
      hs::http_origin origin;
      tether_instance t(listener_yaml(false) + "log: {access: true, format: " + format +
                        "}\nroutes:\n  - name: web\n    upstream:\n      url: \"" + origin.url() + "\"\n");
      log.use_format();
      hs::conn c(t.port());
      http::request<http::string_body> post{http::verb::post, "/echo", 11};
      post.set(http::field::host, "127.0.0.1");
      post.body() = "0123456789abc";
      post.prepare_payload();
      auto res = c.request(post, 5000ms);
      BOOST_REQUIRE(res);
      BOOST_CHECK_EQUAL(res->body(), "0123456789abc");
      http::request<http::string_body> get{http::verb::get, "/status/404", 11};
      get.set(http::field::host, "127.0.0.1");
      res = c.request(get, 5000ms);
      BOOST_REQUIRE(res);
      BOOST_CHECK_EQUAL(res->result_int(), 404);
      const std::vector<std::string> names{"listener", "route", "client", "method", "target", "status",
                                           "request_bytes", "response_bytes", "duration_ms"};
      const auto first = log.access(0);
      BOOST_REQUIRE(!first.empty());
      check_names(first, names);
      BOOST_CHECK_EQUAL(value(first, "route"), "web");
      BOOST_CHECK_EQUAL(value(first, "client"), "127.0.0.1");
      BOOST_CHECK_EQUAL(value(first, "method"), "POST");
      BOOST_CHECK_EQUAL(value(first, "target"), "/echo");
      BOOST_CHECK_EQUAL(num(first, "status"), 200u);
      BOOST_CHECK_EQUAL(num(first, "request_bytes"), 13u);
      BOOST_CHECK_EQUAL(num(first, "response_bytes"), 13u);
      BOOST_CHECK_LT(num(first, "duration_ms"), 5000u);
      const auto second = log.access(1);
      BOOST_REQUIRE(!second.empty());
      BOOST_CHECK_EQUAL(value(second, "method"), "GET");
      BOOST_CHECK_EQUAL(value(second, "target"), "/status/404");
      BOOST_CHECK_EQUAL(num(second, "status"), 404u);
      BOOST_CHECK_EQUAL(num(second, "request_bytes"), 0u);
      BOOST_CHECK_EQUAL(num(second, "response_bytes"), 10u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
