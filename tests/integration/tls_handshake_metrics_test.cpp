// Client TLS handshakes counted (tether_tls_handshakes_total) and their
// failures sorted by reason (tether_tls_handshake_failures_total), and the
// failed-handshake log line held to a few a second per worker in a flood.
#include <boost/test/unit_test.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <regex>

#include "extra_handshake.hpp"
#include "server/logging.hpp"
#include "log_capture.hpp"
#include "test_support.hpp"

using namespace tt;

namespace {

std::string config(const test_backend& b, const std::string& tls_extra = {}) {
  return "listeners:\n  - name: main\n    bind: \"127.0.0.1:0\"\n    tls:\n      cert: " +
         cert_path("server-chain.crt") + "\n      key: " + cert_path("server.key") + "\n" + tls_extra +
         "routes:\n  - name: r\n    upstream:\n      url: \"" + b.url() + "\"\n";
}

double failures(const tether_instance& t, const std::string& reason) {
  return t.metric("tether_tls_handshake_failures_total{listener=\"main\",reason=\"" + reason + "\"}");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls_handshake_metrics_test)

BOOST_AUTO_TEST_CASE(successes_and_failures_by_reason) {
  test_backend backend;
  tether_instance t(config(backend, "      min_version: \"1.3\"\n"));
  for (const char* r : {"timeout", "closed", "not_tls", "protocol_version", "no_shared_cipher",
                        "client_certificate", "certificate_rejected", "other"}) {
    BOOST_CHECK_EQUAL(failures(t, r), 0);
  }
  BOOST_CHECK_EQUAL(t.metric("tether_tls_handshakes_total{listener=\"main\"}"), 0);
  {
    auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
    BOOST_REQUIRE(!c->send_text("x"));
    BOOST_REQUIRE(c->read());
  }
  {
    hs::conn old(t.port(), {.tls = true, .max_tls_version = TLS1_2_VERSION});
    BOOST_CHECK(!old.connected());
  }
  {
    raw_client plain(t.port());  // plain HTTP on the TLS port
    BOOST_REQUIRE(!plain.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    plain.read_all(2000ms);
  }
  {
    raw_client gone(t.port());  // connects, says nothing, leaves
  }
  BOOST_REQUIRE(wait_until([&] { return t.metric("tether_handshake_failures_total{listener=\"main\",reason=\"tls\"}") == 3; }));
  BOOST_CHECK_EQUAL(t.metric("tether_tls_handshakes_total{listener=\"main\"}"), 1);
  BOOST_CHECK_EQUAL(failures(t, "protocol_version"), 1);
  BOOST_CHECK_EQUAL(failures(t, "not_tls"), 1);
  BOOST_CHECK_EQUAL(failures(t, "closed"), 1);
  BOOST_CHECK_EQUAL(failures(t, "other"), 0);
  BOOST_CHECK_EQUAL(failures(t, "timeout"), 0);
  // Both families are declared for Prometheus.
  const auto text = t.metrics();
  BOOST_CHECK(text.find("# TYPE tether_tls_handshakes_total counter") != std::string::npos);
  BOOST_CHECK(text.find("# HELP tether_tls_handshake_failures_total ") != std::string::npos);
  BOOST_CHECK(text.find("# TYPE tether_tls_handshake_failures_total counter") != std::string::npos);
}

// 80 garbage handshakes in a burst on one worker: every one counted, at most
// 10 lines a second written, and a summary line that accounts for the rest.
BOOST_AUTO_TEST_CASE(failed_handshake_lines_are_rate_limited) {
  constexpr int flood = 80;
  log_capture log;
  test_backend backend;
  tether_instance t(config(backend), 1);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < flood; ++i) {
    raw_client c(t.port());
    BOOST_REQUIRE(!c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  BOOST_REQUIRE(wait_until([&] { return failures(t, "not_tls") == flood; }, 10000ms));
  const auto took = std::chrono::steady_clock::now() - start;
  std::this_thread::sleep_for(1100ms);
  {
    raw_client last(t.port());  // the next second's first failure brings the summary
    BOOST_REQUIRE(!last.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  BOOST_REQUIRE(wait_until([&] { return failures(t, "not_tls") == flood + 1; }));
  const std::regex summary(R"(failed handshake lines suppressed: (\d+) )");
  std::size_t written = 0;
  std::size_t suppressed = 0;
  std::size_t summaries = 0;
  BOOST_REQUIRE(wait_until([&] {
    written = suppressed = summaries = 0;
    for (const auto& line : log.lines()) {
      std::smatch m;
      if (line.find("main: handshake from 127.0.0.1 failed: tls") != std::string::npos) {
        ++written;
      } else if (std::regex_search(line, m, summary)) {
        ++summaries;
        suppressed += std::stoul(m[1]);
      }
    }
    return written + suppressed == flood + 1;
  }));
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(took).count() + 2;
  BOOST_TEST_MESSAGE("written " << written << ", suppressed " << suppressed << " over " << seconds << " s");
  BOOST_CHECK_GE(summaries, 1u);
  BOOST_CHECK_LE(written, static_cast<std::size_t>(10 * seconds));
  BOOST_CHECK_GE(written, 11u);  // 10 in the burst's first second, and the last one
}

BOOST_AUTO_TEST_SUITE_END()
