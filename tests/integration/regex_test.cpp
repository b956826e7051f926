// Regexes applied to traffic (heartbeat.client.answer[].match_regex and
// reconnect.replay.match_regex) against the largest messages that can reach
// them, with the README's patterns and pathological ones. Each message is
// answered or relayed within a second, and a canary session on the same
// worker keeps flowing (one worker thread). With std::regex the first case overflowed the stack
// and the nested repetitions stalled the worker for ever.
#include <boost/test/unit_test.hpp>


#include "extra_hostile.hpp"
#include "test_support.hpp"

using namespace tt;

namespace {

/// Route r to `b` with the patterns, beside the canary's route.
std::string config(const test_backend& b, const test_backend& canary_backend, const std::string& answer_regex,
                   const std::string& replay_regex = {}) {
  return hostile::tether_yaml(canary_backend,
                              hostile::route("r", b.url(),
                                             "    heartbeat:\n"
                                             "      client:\n"
                                             "        answer:\n"
                                             "          - {match_regex: '" + answer_regex + "', reply: 'pong'}\n"
                                             "    reconnect:\n"
                                             "      backoff: {initial: 50ms, max: 200ms}\n"
                                             "      buffer: {messages: 100, bytes: 4MiB}\n" +
                                                 (replay_regex.empty()
                                                      ? std::string()
                                                      : "      replay: {match_regex: '" + replay_regex + "'}\n")),
                              "defaults:\n  limits: {max_message_size: 1MiB}\n");
}

/// Sends `text` and waits for the first message back: the answer or the echo.
std::pair<std::optional<message>, ms> round_trip(ws_client& c, const std::string& text) {
  const auto start = std::chrono::steady_clock::now();
  BOOST_REQUIRE(!c.send_text(text));
  auto m = c.read(5000ms);
  return {m, std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - start)};
}

/// The largest text message that reaches the answer rules: one frame of 64 KiB.
constexpr std::size_t answer_bound = 64 * 1024;

}  // namespace

BOOST_AUTO_TEST_SUITE(regex_test)

BOOST_AUTO_TEST_CASE(readme_answer_pattern_on_the_largest_answerable_message) {
  test_backend backend, canary_backend;
  tether_instance t(config(backend, canary_backend, R"(\{"type":"ping".*)"), 1);
  hostile::canary can(t.port());
  auto c = ws_client::connect(t.port());
  const std::string head = R"({"type":"ping")";
  const auto text = head + std::string(answer_bound - head.size() - 1, 'x') + "}";
  BOOST_REQUIRE_EQUAL(text.size(), answer_bound);
  const auto [m, took] = round_trip(*c, text);
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->data, "pong");
  BOOST_CHECK_LT(took.count(), 1000);
  can.check();
  BOOST_REQUIRE(!c->send_text("after"));
  BOOST_REQUIRE(backend.wait_messages(1));
  BOOST_CHECK_EQUAL(backend.messages()[0].data, "after");  // the heartbeat never reached it
}

BOOST_AUTO_TEST_CASE(pathological_answer_patterns_relay_in_linear_time) {
  for (const char* pattern : {"(a|aa)*c", "(a*)*b", "(x+x+)+y"}) {
    BOOST_TEST_CONTEXT("pattern " << pattern) {
      test_backend backend, canary_backend;
      tether_instance t(config(backend, canary_backend, pattern), 1);
      hostile::canary can(t.port());
      auto c = ws_client::connect(t.port());
      const char fill = pattern[1] == 'x' ? 'x' : 'a';
      for (const std::size_t size : {std::size_t{30}, answer_bound}) {
        const std::string text(size, fill);
        const auto [m, took] = round_trip(*c, text);
        BOOST_REQUIRE_MESSAGE(m, "no echo of " << size << " bytes");
        BOOST_CHECK(m->data == text);  // no match: forwarded and echoed
        BOOST_CHECK_LT(took.count(), 1000);
      }
      can.check();
    }
  }
}

BOOST_AUTO_TEST_CASE(replay_patterns_on_a_message_of_max_message_size) {
  // The README's replay pattern must still select the message (it is
  // replayed after a restart); pathological ones must not stall the worker.
  const std::string head = R"({"type":"subscribe")";
  const auto big = head + std::string(1024 * 1024 - head.size() - 1, 'a') + "}";
  for (const std::string& pattern : {std::string(R"(\{"type":"subscribe".*)"), std::string("(a|aa)*c"),
                                    std::string("\\{\"type\":\"subscribe\"(a*)*\\}")}) {
    BOOST_TEST_CONTEXT("pattern " << pattern) {
      test_backend backend, canary_backend;
      tether_instance t(config(backend, canary_backend, "never", pattern), 1);
      hostile::canary can(t.port());
      auto c = ws_client::connect(t.port());
      const auto [m, took] = round_trip(*c, big);
      BOOST_REQUIRE(m);
      BOOST_CHECK(m->data == big);
      BOOST_CHECK_LT(took.count(), 1000);
      can.check();
      const bool selects = pattern != "(a|aa)*c";
      // A restart shows whether the pattern selected the message for replay.
      backend.kill();
      backend.restart();
      BOOST_REQUIRE(wait_until([&] { return backend.handshakes().size() >= 2; }, 5000ms));
      BOOST_REQUIRE(!c->send_text("after"));
      // Before the restart: the message. After: its replay, if selected, then "after".
      BOOST_REQUIRE(backend.wait_messages(selects ? 3u : 2u, 5000ms));
      const auto got = backend.messages();
      BOOST_REQUIRE_EQUAL(got.size(), selects ? 3u : 2u);
      if (selects) {
        BOOST_CHECK(got[1].data == big);
      }
      BOOST_CHECK_EQUAL(got.back().data, "after");
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
