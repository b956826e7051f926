// A conformance suite in the spirit of the Autobahn test suite's sections
// 1-7 and 9, run through tether both ways (client to backend, backend to
// client) over ws:// and wss:// (upstream stays ws://). Peers on both
// sides are raw sockets, so every case states exactly what each peer gets:
// the relayed messages (type, bytes, order), the pongs tether answers, the
// close code and reason each side receives, or a dropped connection.
#include <boost/test/unit_test.hpp>

#include <set>

#include "conformance_runner.hpp"

using namespace tt;
using namespace tt::conformance;

namespace {

std::vector<conf_case> all_cases() {
  std::vector<conf_case> all;
  for (auto part : {framing_cases(), fragment_cases(), utf8_cases(), close_cases(), limit_cases()}) {
    all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return all;
}

void run_all(direction d, bool tls) {
  const auto cases = all_cases();
  runner r(d, tls);
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    BOOST_TEST_CONTEXT("case " << cases[i].name) { r.run(cases[i], i); }
    const auto took = std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - t0);
    if (took > 200ms) {
      BOOST_TEST_MESSAGE("slow case " << cases[i].name << ": " << took.count() << " ms");
    }
  }
  BOOST_CHECK_MESSAGE(wait_until([&] { return r.active_sessions() == 0; }, 5000ms),
                      "sessions still active after the last case: " << r.active_sessions());
  BOOST_TEST_MESSAGE(cases.size() << " cases in "
                                  << std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - started).count()
                                  << " ms");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conformance_test)

BOOST_AUTO_TEST_CASE(case_names_are_distinct) {
  const auto cases = all_cases();
  std::set<std::string> names;
  for (const auto& c : cases) {
    BOOST_CHECK_MESSAGE(names.insert(c.name).second, "two cases named " << c.name);
  }
  BOOST_TEST_MESSAGE(cases.size() << " conformance cases");
  BOOST_CHECK_GE(cases.size(), 150u);
}

BOOST_AUTO_TEST_CASE(client_to_backend_over_ws) { run_all(direction::client_to_backend, false); }
BOOST_AUTO_TEST_CASE(client_to_backend_over_wss) { run_all(direction::client_to_backend, true); }
BOOST_AUTO_TEST_CASE(backend_to_client_over_ws) { run_all(direction::backend_to_client, false); }
BOOST_AUTO_TEST_CASE(backend_to_client_over_wss) { run_all(direction::backend_to_client, true); }

BOOST_AUTO_TEST_SUITE_END()
