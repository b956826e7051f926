#pragma once
// Heartbeats as one unit: the state a leg's data path stamps (when the peer
// was last heard, when data last went out, the ping awaiting its pong) and
// the rules the session's timer applies to it: ping a silent peer, give it
// up when the pong is late, send the client an app heartbeat when no data
// went its way. No I/O here: state, config and a time in, a decision or a
// deadline out. The session sends, closes and counts.
//
// Each rule has one "due" time: its check acts from then on, and the timer's
// next deadline is built from the same due times, so the two cannot disagree.
// A new heartbeat rule changes this unit (and its config key), nothing else.
#include <chrono>
#include <cstdint>

#include "config/config.hpp"

namespace tether {

using steady = std::chrono::steady_clock;  // as in timer_wheel.hpp

/// One leg's heartbeat state: 24 bytes, no more than the four fields it
/// replaces on leg (no ping outstanding is a sentinel time, not a flag).
class leg_heartbeat {
 public:
  leg_heartbeat() = default;
  /// A leg that starts at `start` counts as just heard from and written to.
  explicit leg_heartbeat(steady::time_point start) : last_rx_(start), last_data_tx_(start) {}

  /// Bytes arrived from the peer: it is alive, and a ping in flight is answered.
  void received(steady::time_point now) {
    last_rx_ = now;
    ping_sent_at_ = no_ping;
  }
  /// Data went out (a message or part of one); controls do not count.
  void data_sent(steady::time_point now) { last_data_tx_ = now; }
  /// tether pinged the peer.
  void ping_sent(steady::time_point now) { ping_sent_at_ = now; }

  steady::time_point last_rx() const { return last_rx_; }
  steady::time_point last_data_tx() const { return last_data_tx_; }
  bool ping_outstanding() const { return ping_sent_at_ != no_ping; }
  /// Only meaningful while ping_outstanding().
  steady::time_point ping_sent_at() const { return ping_sent_at_; }

 private:
  static constexpr steady::time_point no_ping = steady::time_point::max();
  steady::time_point last_rx_{};
  steady::time_point last_data_tx_{};
  steady::time_point ping_sent_at_ = no_ping;
};

enum class heartbeat_action : std::uint8_t { none, send_ping, peer_dead, send_app_heartbeat };

/// A rule that is not due from the state it was given.
inline constexpr steady::time_point heartbeat_never = steady::time_point::max();

// In all of these a null rule is one that does not apply now: `ping` once the
// leg is closing or closed, `app` on a leg or in a phase without one.

/// The ping rule: with a ping outstanding, due pong_timeout after it (0:
/// never); otherwise ping_interval after the peer was last heard from. An
/// interval of 0 turns the rule off.
steady::time_point ping_due(const leg_heartbeat& s, const leg_heartbeat_config* ping);
/// peer_dead or send_ping once ping_due, none before.
heartbeat_action check_ping(const leg_heartbeat& s, const leg_heartbeat_config* ping,
                            steady::time_point now);

/// The app heartbeat rule: due `interval` after data last went out (0: off),
/// never while a message is part-way out (one could not go inside it, and the
/// message is data flowing anyway).
steady::time_point app_due(const leg_heartbeat& s, const app_heartbeat_config* app, bool mid_message);
/// send_app_heartbeat once app_due, none before.
heartbeat_action check_app(const leg_heartbeat& s, const app_heartbeat_config* app,
                           bool mid_message, steady::time_point now);

enum class heartbeat_snap : bool { exact, to_grid };

/// When the timer must look at this leg next: the earliest that a rule falls
/// due, from this state or from one the data path makes without telling the
/// timer (a pong coming back at once, the message in progress ending now).
/// With `to_grid` the ping rule's deadline snaps to heartbeat_grid (the app
/// rule's does not); heartbeat_never when nothing is due.
steady::time_point next_heartbeat_deadline(const leg_heartbeat& s, const leg_heartbeat_config* ping,
                                           const app_heartbeat_config* app, bool mid_message,
                                           steady::time_point now,
                                           heartbeat_snap snap = heartbeat_snap::to_grid);

/// Ping deadlines snap up to a grid shared by every session: a tenth of the
/// interval, at most 100 ms (none when that is 1 ms or less). The pings of
/// thousands of idle sessions then leave in a few bursts a second instead of
/// one wake-up each, which is cheaper for tether and for every peer it wakes.
/// No ping is more than a tenth of its interval late.
steady::time_point heartbeat_grid(steady::time_point t, steady::duration interval);

}  // namespace tether
