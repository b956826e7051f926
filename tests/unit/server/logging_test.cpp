// The log's own rules: a rate limit per kind of line with a count of what it
// held back, and the access line's two forms (text fields quoted when they
// must be; JSON members escaped).
#include <boost/test/unit_test.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "server/logging.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// The lines logged while it lives, formatted as `format` says.
class captured {
 public:
  explicit captured(const std::string& format) : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16)) {
    tether::log_config c;
    c.level = "info";
    tether::setup_logging(c);
    c.format = format;
    sink_->set_formatter(tether::make_log_formatter(c));
    spdlog::get("tether")->sinks().push_back(sink_);
  }
  ~captured() {
    auto& sinks = spdlog::get("tether")->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string last() const {
    auto all = sink_->last_formatted(1);
    return all.empty() ? std::string() : all.back();
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(logging_test)

BOOST_AUTO_TEST_CASE(limiter_lets_n_a_second_through_and_counts_the_rest) {
  tether::log_limiter limit(3);
  const auto t0 = clock_type::now();
  int logged = 0;
  for (int i = 0; i < 10; ++i) {
    const auto v = limit.check(t0 + std::chrono::milliseconds(i));
    logged += v.log ? 1 : 0;
    BOOST_CHECK_EQUAL(v.suppressed, 0u);
  }
  BOOST_CHECK_EQUAL(logged, 3);
  // The next second: the first line through carries the 7 held back, once.
  auto v = limit.check(t0 + 1001ms);
  BOOST_CHECK(v.log);
  BOOST_CHECK_EQUAL(v.suppressed, 7u);
  v = limit.check(t0 + 1002ms);
  BOOST_CHECK(v.log);
  BOOST_CHECK_EQUAL(v.suppressed, 0u);
}

BOOST_AUTO_TEST_CASE(limiter_never_drops_a_trickle) {
  tether::log_limiter limit(2);
  const auto t0 = clock_type::now();
  for (int i = 0; i < 20; ++i) {
    const auto v = limit.check(t0 + std::chrono::milliseconds(600 * i));
    BOOST_CHECK(v.log);
    BOOST_CHECK_EQUAL(v.suppressed, 0u);
  }
}

BOOST_AUTO_TEST_CASE(text_access_line_quotes_what_needs_it) {
  captured log("text");
  tether::access_line(false)
      .field("route", "r")
      .field("reason", "going \"away\" now")
      .field("empty", "")
      .field("n", std::uint64_t{42})
      .field("ctl", "a\nb")
      .write();
  const auto line = log.last();
  BOOST_TEST_MESSAGE(line);
  BOOST_CHECK(line.find(" info access route=r reason=\"going \\\"away\\\" now\" empty=\"\" n=42 ctl=\"a b\"") !=
              std::string::npos);
}

BOOST_AUTO_TEST_CASE(json_access_line_is_one_object) {
  captured log("json");
  tether::access_line(true).field("route", "r\"x").field("n", std::uint64_t{7}).field("ctl", "a\nb").write();
  const auto line = log.last();
  BOOST_TEST_MESSAGE(line);
  BOOST_CHECK_EQUAL(line.substr(0, 7), "{\"ts\":\"");
  BOOST_CHECK(line.find(R"("level":"info","msg":"access","route":"r\"x","n":7,"ctl":"a\nb"})") !=
              std::string::npos);
  // Other lines keep their message as a string.
  spdlog::info("plain \"quoted\"");
  BOOST_CHECK(log.last().find(R"("level":"info","msg":"plain \"quoted\""})") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
