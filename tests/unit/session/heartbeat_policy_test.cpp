// The heartbeat rules on a synthetic clock: no sockets, no wheel. t0 lies on
// every grid (a whole hour), so snapping is visible as an exact offset.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

#include "session/heartbeat_policy.hpp"

namespace {

using namespace std::chrono_literals;
using tether::app_heartbeat_config;
using tether::heartbeat_action;
using tether::heartbeat_never;
using tether::heartbeat_snap;
using tether::leg_heartbeat;
using tether::leg_heartbeat_config;
using tether::steady;

const steady::time_point t0 = steady::time_point{} + 1h;

leg_heartbeat_config pings(std::chrono::milliseconds interval, std::chrono::milliseconds pong) {
  leg_heartbeat_config c;
  c.ping_interval = interval;
  c.pong_timeout = pong;
  return c;
}

app_heartbeat_config app_every(std::chrono::milliseconds interval) {
  app_heartbeat_config a;
  a.message = "hb";
  a.interval = interval;
  return a;
}

steady::time_point exact_deadline(const leg_heartbeat& s, const leg_heartbeat_config* ping,
                                  const app_heartbeat_config* app, bool mid, steady::time_point now) {
  return tether::next_heartbeat_deadline(s, ping, app, mid, now, heartbeat_snap::exact);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(heartbeat_policy_test)

BOOST_AUTO_TEST_CASE(state_is_no_larger_than_the_fields_it_replaced) {
  // Three time points and a bool took 32 bytes on leg (25 and padding).
  BOOST_TEST(sizeof(leg_heartbeat) <= 3 * sizeof(steady::time_point));
}

BOOST_AUTO_TEST_CASE(stamps) {
  leg_heartbeat s(t0);
  BOOST_TEST((s.last_rx() == t0));
  BOOST_TEST((s.last_data_tx() == t0));
  BOOST_TEST(!s.ping_outstanding());
  s.ping_sent(t0 + 5s);
  BOOST_TEST(s.ping_outstanding());
  BOOST_TEST((s.ping_sent_at() == t0 + 5s));
  s.data_sent(t0 + 6s);
  BOOST_TEST(s.ping_outstanding());  // sending data answers nothing
  BOOST_TEST((s.last_data_tx() == t0 + 6s));
  s.received(t0 + 7s);
  BOOST_TEST(!s.ping_outstanding());
  BOOST_TEST((s.last_rx() == t0 + 7s));
}

BOOST_AUTO_TEST_CASE(no_ping_before_the_interval) {
  const auto c = pings(20s, 10s);
  leg_heartbeat s(t0);
  s.received(t0 + 1s);
  BOOST_TEST((tether::check_ping(s, &c, t0 + 1s) == heartbeat_action::none));
  BOOST_TEST((tether::check_ping(s, &c, t0 + 21s - 1ns) == heartbeat_action::none));
}

BOOST_AUTO_TEST_CASE(ping_due_exactly_at_the_interval) {
  const auto c = pings(20s, 10s);
  leg_heartbeat s(t0);
  BOOST_TEST((tether::ping_due(s, &c) == t0 + 20s));
  BOOST_TEST((tether::check_ping(s, &c, t0 + 20s) == heartbeat_action::send_ping));
  BOOST_TEST((tether::check_ping(s, &c, t0 + 25s) == heartbeat_action::send_ping));
}

BOOST_AUTO_TEST_CASE(peer_dead_at_pong_timeout_after_the_ping_and_not_before) {
  const auto c = pings(20s, 10s);
  leg_heartbeat s(t0);
  s.ping_sent(t0 + 20s);
  BOOST_TEST((tether::check_ping(s, &c, t0 + 20s) == heartbeat_action::none));  // no second ping
  BOOST_TEST((tether::check_ping(s, &c, t0 + 30s - 1ns) == heartbeat_action::none));
  BOOST_TEST((tether::check_ping(s, &c, t0 + 30s) == heartbeat_action::peer_dead));
  // The pong (any bytes) clears it: the next ping is an interval after it.
  s.received(t0 + 29s);
  BOOST_TEST((tether::check_ping(s, &c, t0 + 30s) == heartbeat_action::none));
  BOOST_TEST((tether::check_ping(s, &c, t0 + 49s) == heartbeat_action::send_ping));
}

BOOST_AUTO_TEST_CASE(pong_timeout_zero_never_declares_dead) {
  const auto c = pings(20s, 0s);
  leg_heartbeat s(t0);
  s.ping_sent(t0 + 20s);
  BOOST_TEST((tether::ping_due(s, &c) == heartbeat_never));
  BOOST_TEST((tether::check_ping(s, &c, t0 + 20s + 10s) == heartbeat_action::none));
  BOOST_TEST((tether::check_ping(s, &c, t0 + 1000h) == heartbeat_action::none));
  // Still looked at one interval on, in case the pong came back.
  BOOST_TEST((exact_deadline(s, &c, nullptr, false, t0 + 20s) == t0 + 40s));
}

BOOST_AUTO_TEST_CASE(interval_zero_disables_pings) {
  const auto c = pings(0s, 10s);
  leg_heartbeat s(t0);
  BOOST_TEST((tether::check_ping(s, &c, t0 + 1000h) == heartbeat_action::none));
  BOOST_TEST((tether::next_heartbeat_deadline(s, &c, nullptr, false, t0) == heartbeat_never));
  s.ping_sent(t0);  // even with a ping outstanding (config reloaded in between)
  BOOST_TEST((tether::check_ping(s, &c, t0 + 1000h) == heartbeat_action::none));
  BOOST_TEST((tether::next_heartbeat_deadline(s, &c, nullptr, false, t0) == heartbeat_never));
}

BOOST_AUTO_TEST_CASE(no_rule_no_deadline) {
  const auto c = pings(20s, 10s);
  leg_heartbeat s(t0);
  // A closing leg (null rule) pings no more and is never found dead.
  BOOST_TEST((tether::check_ping(s, nullptr, t0 + 1000h) == heartbeat_action::none));
  s.ping_sent(t0);
  BOOST_TEST((tether::check_ping(s, nullptr, t0 + 1000h) == heartbeat_action::none));
  BOOST_TEST((tether::next_heartbeat_deadline(s, nullptr, nullptr, false, t0) == heartbeat_never));
  BOOST_TEST((tether::check_ping(s, &c, t0 + 10s) == heartbeat_action::peer_dead));
}

BOOST_AUTO_TEST_CASE(grid_is_a_tenth_of_the_interval_at_most_100ms) {
  // 500 ms: a 50 ms grid.
  BOOST_TEST((tether::heartbeat_grid(t0 + 1ms, 500ms) == t0 + 50ms));
  BOOST_TEST((tether::heartbeat_grid(t0 + 50ms, 500ms) == t0 + 50ms));  // on it already
  BOOST_TEST((tether::heartbeat_grid(t0 + 51ms, 500ms) == t0 + 100ms));
  // 20 s: a tenth would be 2 s; capped at 100 ms.
  BOOST_TEST((tether::heartbeat_grid(t0 + 1ms, 20s) == t0 + 100ms));
  BOOST_TEST((tether::heartbeat_grid(t0 + 100ms + 1ns, 20s) == t0 + 200ms));
  // 15 ms: 1.5 ms, still snapped.
  BOOST_TEST((tether::heartbeat_grid(t0 + 1ms, 15ms) == t0 + 1500us));
  // 10 ms (a 1 ms step) and below: not snapped.
  BOOST_TEST((tether::heartbeat_grid(t0 + 1ns, 10ms) == t0 + 1ns));
  BOOST_TEST((tether::heartbeat_grid(t0 + 3ns, 5ms) == t0 + 3ns));
}

BOOST_AUTO_TEST_CASE(ping_deadline_snaps_to_the_grid) {
  const auto c = pings(20s, 10s);
  leg_heartbeat s(t0);
  s.received(t0 + 1234ms);
  BOOST_TEST((tether::next_heartbeat_deadline(s, &c, nullptr, false, t0) == t0 + 21300ms));
  BOOST_TEST((exact_deadline(s, &c, nullptr, false, t0) == t0 + 21234ms));
  // The snapped look still finds the ping due.
  BOOST_TEST((tether::check_ping(s, &c, t0 + 21300ms) == heartbeat_action::send_ping));
  // No snapping when the step would be 1 ms.
  const auto fast = pings(10ms, 10ms);
  s.received(t0 + 3ns);
  BOOST_TEST((tether::next_heartbeat_deadline(s, &fast, nullptr, false, t0) == t0 + 10ms + 3ns));
}

BOOST_AUTO_TEST_CASE(deadline_with_a_ping_outstanding_is_the_pong_deadline_or_the_next_interval) {
  leg_heartbeat s(t0);
  s.ping_sent(t0 + 20s);
  // pong_timeout shorter than the interval: the pong deadline first.
  const auto short_pong = pings(20s, 10s);
  BOOST_TEST((exact_deadline(s, &short_pong, nullptr, false, t0 + 20s) == t0 + 30s));
  // Longer: one interval after the ping, in case the pong came back at once.
  const auto long_pong = pings(20s, 50s);
  BOOST_TEST((exact_deadline(s, &long_pong, nullptr, false, t0 + 20s) == t0 + 40s));
  BOOST_TEST((tether::check_ping(s, &long_pong, t0 + 40s) == heartbeat_action::none));
  BOOST_TEST((tether::check_ping(s, &long_pong, t0 + 70s) == heartbeat_action::peer_dead));
  // Both snap: ping at 20.05 s, grid 100 ms.
  leg_heartbeat late(t0);
  late.ping_sent(t0 + 20050ms);
  BOOST_TEST((tether::next_heartbeat_deadline(late, &short_pong, nullptr, false, t0) == t0 + 30100ms));
  BOOST_TEST((tether::next_heartbeat_deadline(late, &long_pong, nullptr, false, t0) == t0 + 40100ms));
}

BOOST_AUTO_TEST_CASE(app_heartbeat_after_an_interval_without_data) {
  const auto app = app_every(5s);
  leg_heartbeat s(t0);
  s.data_sent(t0 + 2s);
  s.received(t0 + 4s);  // receiving is not sending
  BOOST_TEST((tether::check_app(s, &app, false, t0 + 7s - 1ns) == heartbeat_action::none));
  BOOST_TEST((tether::check_app(s, &app, false, t0 + 7s) == heartbeat_action::send_app_heartbeat));
  BOOST_TEST((exact_deadline(s, nullptr, &app, false, t0 + 3s) == t0 + 7s));
  // Not snapped, even beside a ping rule.
  s.data_sent(t0 + 2001ms);
  const auto c = pings(20s, 10s);
  BOOST_TEST((tether::next_heartbeat_deadline(s, &c, &app, false, t0 + 3s) == t0 + 7001ms));
  // Off: interval 0, or no app rule.
  const auto off = app_every(0s);
  BOOST_TEST((tether::check_app(s, &off, false, t0 + 1000h) == heartbeat_action::none));
  BOOST_TEST((tether::check_app(s, nullptr, false, t0 + 1000h) == heartbeat_action::none));
  BOOST_TEST((tether::next_heartbeat_deadline(s, nullptr, &off, false, t0) == heartbeat_never));
}

BOOST_AUTO_TEST_CASE(no_app_heartbeat_inside_a_message) {
  const auto app = app_every(5s);
  leg_heartbeat s(t0);
  BOOST_TEST((tether::check_app(s, &app, true, t0 + 1h) == heartbeat_action::none));
  // Looked at again an interval after now (the message may end at once).
  BOOST_TEST((exact_deadline(s, nullptr, &app, true, t0 + 1h) == t0 + 1h + 5s));
  // ...or after the last data, when that is later than now.
  s.data_sent(t0 + 2h);
  BOOST_TEST((exact_deadline(s, nullptr, &app, true, t0 + 1h) == t0 + 2h + 5s));
}

// The check and the deadline come from the same due times: wherever the data
// path cannot change the state behind the timer's back (no ping in flight, no
// message part-way out), a rule acts exactly from the deadline on. Elsewhere
// nothing acts before the deadline, and the deadline is never later than a
// due time. Snapping only delays a look, by less than one grid step.
BOOST_AUTO_TEST_CASE(check_and_deadline_agree) {
  std::mt19937_64 rng(17);
  auto ms = [&](std::int64_t lo, std::int64_t hi) {
    return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(lo, hi)(rng));
  };
  auto coin = [&] { return std::uniform_int_distribution<int>(0, 3)(rng) != 0; };
  int exact_cases = 0;
  int acting = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto c = pings(coin() ? ms(1, 60000) : 0ms, coin() ? ms(1, 60000) : 0ms);
    const auto a = app_every(coin() ? ms(1, 60000) : 0ms);
    const auto* ping = coin() ? &c : nullptr;
    const auto* app = coin() ? &a : nullptr;
    const bool mid = std::uniform_int_distribution<int>(0, 4)(rng) == 0;
    leg_heartbeat s(t0);
    s.data_sent(t0 + ms(0, 100000));
    s.received(t0 + ms(0, 100000));
    if (coin() && coin()) {
      s.ping_sent(s.last_rx() + ms(0, 100000));
    }
    const auto now = t0 + ms(0, 300000) + std::chrono::nanoseconds(ms(0, 999999).count());

    const auto ping_action = tether::check_ping(s, ping, now);
    const auto app_action = tether::check_app(s, app, mid, now);
    const bool acts = ping_action != heartbeat_action::none || app_action != heartbeat_action::none;
    const auto exact = exact_deadline(s, ping, app, mid, now);
    const auto snapped = tether::next_heartbeat_deadline(s, ping, app, mid, now);

    BOOST_TEST_CONTEXT("case " << i) {
      if (!s.ping_outstanding() && !mid) {
        ++exact_cases;
        BOOST_TEST(acts == (now >= exact));
      }
      if (acts) {
        ++acting;
        BOOST_TEST((now >= exact));
      }
      BOOST_TEST((exact <= std::min(tether::ping_due(s, ping), tether::app_due(s, app, mid))));
      BOOST_TEST((snapped >= exact));
      BOOST_TEST((snapped - exact < 100ms + 1ns || exact == heartbeat_never));
      // A due ping rule is found due at its snapped deadline.
      if (!s.ping_outstanding() && ping != nullptr && ping->ping_interval.count() > 0) {
        const auto look = tether::heartbeat_grid(tether::ping_due(s, ping), ping->ping_interval);
        BOOST_TEST((tether::check_ping(s, ping, look) == heartbeat_action::send_ping));
      }
    }
  }
  // The random cases reached both sides of the deadline.
  BOOST_TEST(exact_cases > 5000);
  BOOST_TEST(acting > 1000);
  BOOST_TEST(acting < 19000);
}

BOOST_AUTO_TEST_SUITE_END()
