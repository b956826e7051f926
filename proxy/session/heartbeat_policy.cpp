#include "session/heartbeat_policy.hpp"

#include <algorithm>

namespace tether {

steady::time_point ping_due(const leg_heartbeat& s, const leg_heartbeat_config* ping) {
  if (ping == nullptr || ping->ping_interval.count() == 0) {
    return heartbeat_never;
  }
  if (s.ping_outstanding()) {
    return ping->pong_timeout.count() > 0 ? s.ping_sent_at() + ping->pong_timeout : heartbeat_never;
  }
  return s.last_rx() + ping->ping_interval;
}

heartbeat_action check_ping(const leg_heartbeat& s, const leg_heartbeat_config* ping,
                            steady::time_point now) {
  if (now < ping_due(s, ping)) {
    return heartbeat_action::none;
  }
  return s.ping_outstanding() ? heartbeat_action::peer_dead : heartbeat_action::send_ping;
}

steady::time_point app_due(const leg_heartbeat& s, const app_heartbeat_config* app, bool mid_message) {
  if (app == nullptr || app->interval.count() <= 0 || mid_message) {
    return heartbeat_never;
  }
  return s.last_data_tx() + app->interval;
}

heartbeat_action check_app(const leg_heartbeat& s, const app_heartbeat_config* app,
                           bool mid_message, steady::time_point now) {
  return now < app_due(s, app, mid_message) ? heartbeat_action::none
                                            : heartbeat_action::send_app_heartbeat;
}

steady::time_point next_heartbeat_deadline(const leg_heartbeat& s, const leg_heartbeat_config* ping,
                                           const app_heartbeat_config* app, bool mid_message,
                                           steady::time_point now, heartbeat_snap snap) {
  auto next = heartbeat_never;
  auto ping_look = ping_due(s, ping);
  if (s.ping_outstanding()) {
    // The pong usually comes back at once (the data path then clears the
    // ping without touching the wheel); look again when the next ping would
    // be due after that, so it is not held back until the pong deadline.
    auto answered = s;
    answered.received(s.ping_sent_at());
    ping_look = std::min(ping_look, ping_due(answered, ping));
  }
  if (ping_look != heartbeat_never) {
    next = snap == heartbeat_snap::to_grid ? heartbeat_grid(ping_look, ping->ping_interval) : ping_look;
  }
  if (mid_message) {
    // Nothing is due inside the message; once it ends (now at the earliest)
    // it counts as data sent.
    auto ended = s;
    ended.data_sent(std::max(s.last_data_tx(), now));
    next = std::min(next, app_due(ended, app, false));
  } else {
    next = std::min(next, app_due(s, app, false));
  }
  return next;
}

steady::time_point heartbeat_grid(steady::time_point t, steady::duration interval) {
  const auto step = std::min<steady::duration>(interval / 10, std::chrono::milliseconds(100));
  if (step <= std::chrono::milliseconds(1)) {
    return t;
  }
  const auto since = t.time_since_epoch();
  const auto rest = since % step;
  return rest == steady::duration::zero() ? t : t + (step - rest);
}

}  // namespace tether
