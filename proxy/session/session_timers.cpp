// The timer half of session: the handshake deadline, the idle limit of a
// plain HTTP exchange, idle pings and dead peers on both legs, app
// heartbeats, and the close deadline. All of it runs
// from one wheel entry whose deadline is recomputed here; the data path only
// stamps times. The heartbeat rules themselves are heartbeat_policy's.
#include <spdlog/spdlog.h>

#include "session/heartbeat_policy.hpp"
#include "session/heartbeat_text.hpp"
#include "http/http_proxy.hpp"
#include "session/session.hpp"
#include "server/worker.hpp"

namespace tether {
namespace {

/// The leg's ping rule, or none once it is closing or closed.
const leg_heartbeat_config* ping_rule(const leg& l, const leg_heartbeat_config& c) {
  return l.closed() || l.close_sent() ? nullptr : &c;
}

}  // namespace

void session::http_idle(steady::time_point now) {
  const auto idle = route_->cfg->limits.http_idle_timeout;
  if (!http_->end_if_idle(now, idle, client_io_.get())) {
    worker_.wheel().schedule(*this, http_->idle_deadline(now, idle));
    return;
  }
  route_->stats->shards[worker_.index()].http_idle_timeouts.add();
  spdlog::debug("route {}: HTTP exchange with {} idle, ended", route_->cfg->name, client_ip_);
}

bool session::check_leg(leg& l, const leg_heartbeat_config& c, leg_kind kind,
                        steady::time_point now) {
  const auto action = check_ping(l.heartbeat, ping_rule(l, c), now);
  if (action == heartbeat_action::send_ping) {
    l.send_control(ws::opcode::ping, {});
    l.heartbeat.ping_sent(now);
    stats_->pings_sent[kind].add();
    ++tally_.pings_sent[static_cast<std::size_t>(kind)];
  }
  return action == heartbeat_action::peer_dead;
}

void session::on_timer(steady::time_point now) {
  if (phase_ == phase::http) {
    if (http_ != nullptr) {
      http_idle(now);
    }
    return;
  }
  if (phase_ == phase::handshake) {
    if (now >= deadline_) {
      timed_out_ = true;
      if (client_io_) {
        client_io_->close();
      }
    } else {
      worker_.wheel().schedule(*this, deadline_);
    }
    return;
  }
  if (phase_ == phase::done) {
    return;
  }
  if (phase_ == phase::closing && now >= deadline_) {
    // A peer that never answered our close frame.
    client_->abort("close handshake timed out");
    if (upstream_) {
      upstream_->abort("close handshake timed out");
    }
    retiring_.reset();
    finish_if_done();
    return;
  }
  for (auto* l : {client_.get(), upstream_.get(), retiring_.get()}) {
    if (l != nullptr && l->lingering() && now >= l->linger_deadline()) {
      l->abort("linger ended");
    }
  }
  const auto& hb = route_->cfg->heartbeat;
  if (check_leg(*client_, hb.client, leg_kind::client, now)) {
    stats_->heartbeat_timeouts[leg_kind::client].add();
    ++tally_.heartbeat_timeouts[static_cast<std::size_t>(leg_kind::client)];
    spdlog::info("route {}: client {} silent past pong_timeout, dropped", route_->cfg->name, client_ip_);
    client_->abort("heartbeat timeout");
    client_gone(ws::close_code::going_away, "client heartbeat timeout");
    return;
  }
  if (upstream_state_ == upstream_state::open &&
      check_leg(*upstream_, hb.upstream, leg_kind::upstream, now)) {
    stats_->heartbeat_timeouts[leg_kind::upstream].add();
    ++tally_.heartbeat_timeouts[static_cast<std::size_t>(leg_kind::upstream)];
    spdlog::info("route {}: upstream of client {} silent past pong_timeout, treated as lost",
                 route_->cfg->name, client_ip_);
    upstream_->abort("heartbeat timeout");
    upstream_lost(*upstream_, ws::close_code::abnormal, {}, false);
    return;
  }
  const auto* app = phase_ == phase::relay && hb.client.app ? &*hb.client.app : nullptr;
  if (check_app(client_->heartbeat, app, client_->mid_message(), now) ==
      heartbeat_action::send_app_heartbeat) {
    client_->inject(ws::opcode::text, expand_now_ms(app->message));
    stats_->app_heartbeats_sent.add();
    ++tally_.app_heartbeats_sent;
  }
  schedule_next(now);
}

void session::schedule_next(steady::time_point now) {
  if (phase_ == phase::done) {
    return;
  }
  auto next = steady::time_point::max();
  auto consider = [&](steady::time_point t) { next = std::min(next, t); };
  if (phase_ == phase::closing) {
    consider(deadline_);
  }
  for (const auto* l : {client_.get(), upstream_.get(), retiring_.get()}) {
    if (l != nullptr && l->lingering()) {
      consider(l->linger_deadline());
    }
  }
  const auto& hb = route_->cfg->heartbeat;
  const auto* app = phase_ == phase::relay && hb.client.app ? &*hb.client.app : nullptr;
  consider(next_heartbeat_deadline(client_->heartbeat, ping_rule(*client_, hb.client), app,
                                   client_->mid_message(), now));
  if (upstream_state_ == upstream_state::open) {
    consider(next_heartbeat_deadline(upstream_->heartbeat, ping_rule(*upstream_, hb.upstream), nullptr,
                                     false, now));
  }
  if (next != steady::time_point::max()) {
    worker_.wheel().schedule(*this, std::max(next, now));
  }
}

}  // namespace tether
