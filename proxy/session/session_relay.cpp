// The relay half of session: frames in, policy, frames out.
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "session/relay_direction_impl.hpp"
#include "session/session.hpp"
#include "session/heartbeat_text.hpp"
#include "server/worker.hpp"

namespace tether {
namespace {

/// A reader stops reading while the other leg has this much unwritten.
constexpr std::size_t high_water = 512 * 1024;
/// How long tether waits for the peer's answer to a close frame it sent.
constexpr auto close_timeout = std::chrono::seconds(5);

}  // namespace

void session::start_relay(std::unique_ptr<byte_stream> client, upstream_attempt up,
                          std::span<const std::uint8_t> client_leftover,
                          const ws::deflate_params& client_deflate) {
  const auto& rc = *route_->cfg;
  stats_ = &route_->stats->shards[worker_.index()];
  stats_->sessions_total.add();
  stats_->sessions_active.add(1);
  phase_ = phase::relay;
  self_ = shared_from_this();
  client_ = std::make_unique<leg>(worker_, *this, std::move(client), /*to_server=*/false,
                                  rc.limits.max_message_size);
  client_->use_compression(client_deflate, rc.compression.level);
  auto upstream_early = std::move(up.leftover);
  attach_upstream(std::move(up));
  // Bytes each side sent right behind its handshake.
  if (!upstream_early.empty()) {
    on_upstream_bytes(*upstream_, upstream_early);
  }
  if (!client_leftover.empty()) {
    std::vector<std::uint8_t> copy(client_leftover.begin(), client_leftover.end());
    on_client_bytes(copy);
  }
  client_->start();
  upstream_->start();
  schedule_next(steady::now());
}

void session::attach_upstream(upstream_attempt up) {
  const auto& rc = *route_->cfg;
  if (upstream_ && !upstream_->closed()) {
    retiring_ = std::move(upstream_);
  }
  upstream_ = std::make_unique<leg>(worker_, *this, std::move(up.stream), /*to_server=*/true,
                                    rc.limits.max_message_size);
  upstream_->use_compression(ws::limited_by(up.deflate, rc.compression), rc.compression.level);
  upstream_state_ = upstream_state::open;
}

leg* session::peer_of(const leg& l) const {
  if (&l == client_.get()) {
    return upstream_state_ == upstream_state::open ? upstream_.get() : nullptr;
  }
  return &l == upstream_.get() ? client_.get() : nullptr;
}

void session::on_leg_bytes(leg& l, std::span<std::uint8_t> bytes) {
  l.heartbeat.received(worker_.poller().now());
  if (&l == client_.get()) {
    on_client_bytes(bytes);
  } else if (&l == upstream_.get()) {
    on_upstream_bytes(l, bytes);
  }
}

void session::on_leg_read_end(leg& l) {
  if (!l.close_received) {
    leg_lost(l);
  }
  finish_if_done();
}

void session::on_leg_closed(leg& l) {
  if (l.failed()) {
    leg_lost(l);
  }
  finish_if_done();
}

void session::leg_lost(leg& l) {
  if (phase_ == phase::done) {
    return;
  }
  if (&l == client_.get()) {
    client_gone(ws::close_code::going_away, "client lost");
  } else if (&l == upstream_.get()) {
    upstream_lost(l, ws::close_code::abnormal, {}, false);
  }
}

bool session::may_read(leg& l) {
  auto* peer = peer_of(l);
  if (peer == nullptr || peer->pending_bytes() < high_water) {
    return true;
  }
  peer->notify_below(high_water);
  return false;
}

void session::on_leg_drained(leg& l) {
  // `l` wrote enough: its peer may read again.
  if (&l == client_.get()) {
    if (upstream_) {
      upstream_->resume_reading();
    }
  } else if (&l == upstream_.get()) {
    client_->resume_reading();
  }
}

void session::on_leg_lingering(leg&) {
  schedule_next(steady::now());
}

/// Client to upstream: heartbeats answered here, messages recorded for the
/// replay set, and kept while the upstream is being replaced.
struct session::client_side {
  session& s;
  bool active() const { return s.phase_ != phase::done; }
  leg* sink() const { return s.upstream_state_ == upstream_state::open ? s.upstream_.get() : nullptr; }
  leg* streaming_sink() const { return s.upstream_.get(); }
  void control(const ws::frame_header& h, std::span<const std::uint8_t> payload) {
    s.on_client_control(h, payload);
  }
  void protocol_error(std::uint16_t code, const char* reason) { s.client_protocol_error(code, reason); }
  bool answer(std::span<const std::uint8_t> payload) {
    return !s.route_->cfg->heartbeat.client.answer.empty() && s.answer(payload);
  }
  bool records() const { return s.wants_replay_copy(); }
  void forwarded(ws::opcode op, const std::span<const std::uint8_t>* payload) {
    if (payload != nullptr) {
      s.note_forwarded(op, *payload);
    } else {
      ++s.forwarded_count_;
    }
  }
  void keep(ws::opcode op, std::span<const std::uint8_t> payload) { s.buffer_or_send(op, payload); }
  bool may_collect(std::size_t size) {
    if (s.buffer_fits(size)) {
      return true;
    }
    s.buffer_overflow();
    return false;
  }
};

/// Upstream to client: the client leg is always there, and nothing is kept.
struct session::upstream_side {
  session& s;
  leg& up;
  bool active() const { return &up == s.upstream_.get() && s.phase_ != phase::done; }
  leg* sink() const { return s.client_.get(); }
  leg* streaming_sink() const { return s.client_.get(); }
  void control(const ws::frame_header& h, std::span<const std::uint8_t> payload) {
    s.on_upstream_control(up, h, payload);
  }
  void protocol_error(std::uint16_t code, const char* reason) { s.upstream_protocol_error(up, code, reason); }
  static bool answer(std::span<const std::uint8_t>) { return false; }
  static bool records() { return false; }
  static void forwarded(ws::opcode, const std::span<const std::uint8_t>*) {}
  static void keep(ws::opcode, std::span<const std::uint8_t>) {}
  static bool may_collect(std::size_t) { return true; }
};

void session::on_client_bytes(std::span<std::uint8_t> in) {
  client_side policy{*this};
  from_client_.feed(*client_, in, policy,
                    {{stats_->bytes[direction::client_to_upstream], tally_.bytes_to_upstream},
                     {stats_->messages[direction::client_to_upstream], tally_.messages_to_upstream}});
}

void session::on_upstream_bytes(leg& up, std::span<std::uint8_t> in) {
  upstream_side policy{*this, up};
  from_upstream_.feed(up, in, policy,
                      {{stats_->bytes[direction::upstream_to_client], tally_.bytes_to_client},
                       {stats_->messages[direction::upstream_to_client], tally_.messages_to_client}});
}

void session::client_protocol_error(std::uint16_t code, const char* reason) {
  // The offender gets the RFC code; the backend sees the client go away.
  spdlog::info("route {}: closing client {} with {}: {}", route_->cfg->name, client_ip_, code, reason);
  client_->reading_done = true;
  client_->send_close(code, {}, reason);
  client_->close_after_flush();
  client_gone(ws::close_code::going_away, "client protocol error");
}

void session::upstream_protocol_error(leg& up, std::uint16_t code, const char* reason) {
  spdlog::info("route {}: closing upstream of client {} with {}: {}", route_->cfg->name, client_ip_,
               code, reason);
  up.reading_done = true;
  up.send_close(code, {}, reason);
  up.close_after_flush();
  upstream_state_ = upstream_state::gone;
  // Too big goes to the client as too big; anything else is a bad gateway.
  const auto to_client = code == ws::close_code::too_big ? code : ws::close_code::bad_gateway;
  client_->send_close(to_client, {}, "upstream protocol error");
  enter_closing();
}

bool session::answer(std::span<const std::uint8_t> payload) {
  const auto& rules = route_->cfg->heartbeat.client.answer;
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& re = route_->answer_regex[i];
    const bool hit = re ? re->matches(text) : text == rules[i].match;
    if (hit) {
      client_->inject(ws::opcode::text, expand_now_ms(rules[i].reply));
      stats_->app_heartbeats_answered.add();
      ++tally_.app_heartbeats_answered;
      return true;
    }
  }
  return false;
}

void session::on_client_control(const ws::frame_header& h, std::span<const std::uint8_t> payload) {
  auto& p = client_->parser();
  switch (h.op) {
    case ws::opcode::ping:
      client_->send_control(ws::opcode::pong, payload);
      return;
    case ws::opcode::pong:
      return;
    case ws::opcode::close: {
      client_->reading_done = true;
      const auto code = p.close_code();
      const auto reason = p.close_reason();
      const std::string_view why(reinterpret_cast<const char*>(reason.data()), reason.size());
      client_->note_close_received(code, why);
      if (upstream_state_ == upstream_state::open && !upstream_->close_sent()) {
        // The client starts the closing handshake: pass it on, and answer
        // the client with whatever the backend answers.
        upstream_->send_close(code, why, "client closed");
        enter_closing();
        return;
      }
      stop_reconnecting();
      if (upstream_state_ == upstream_state::open && upstream_->close_received) {
        // The client answers a close the backend started.
        upstream_->send_close(code, why, "client closed");
        upstream_->close_after_flush();
      }
      if (!client_->close_sent()) {
        client_->send_close(code, why);
      }
      client_->close_after_flush();
      return;
    }
    default:
      return;
  }
}

void session::on_upstream_control(leg& up, const ws::frame_header& h, std::span<const std::uint8_t> payload) {
  auto& p = up.parser();
  switch (h.op) {
    case ws::opcode::ping:
      up.send_control(ws::opcode::pong, payload);
      return;
    case ws::opcode::pong:
      return;
    case ws::opcode::close: {
      up.reading_done = true;
      const auto code = p.close_code();
      const auto reason = p.close_reason();
      const std::string_view why(reinterpret_cast<const char*>(reason.data()), reason.size());
      up.note_close_received(code, why);
      if (up.close_sent()) {
        // The backend answers a close that came from the client (or from tether).
        up.close_after_flush();
        upstream_state_ = upstream_state::gone;
        if (!client_->close_sent()) {
          client_->send_close(code, why, "upstream closed");
        }
        if (client_->close_received) {
          client_->close_after_flush();
        }
        return;
      }
      upstream_lost(up, code, why, true);
      return;
    }
    default:
      return;
  }
}

void session::client_gone(std::uint16_t upstream_code, const char* why) {
  if (phase_ == phase::done) {
    return;
  }
  stop_reconnecting();
  if (!client_->close_sent()) {
    client_->abort(why);
  }
  if (upstream_state_ == upstream_state::open) {
    if (!upstream_->close_sent()) {
      upstream_->send_close(upstream_code, {}, why);
    }
    if (upstream_->close_received) {
      upstream_->close_after_flush();
    }
  }
  enter_closing();
  finish_if_done();
}

void session::drain() {
  if (phase_ == phase::handshake || phase_ == phase::http) {
    if (client_io_) {
      client_io_->close();
    }
    return;
  }
  if (phase_ != phase::relay) {
    return;
  }
  client_->send_close(ws::close_code::going_away, "tether is shutting down", "drain");
  if (upstream_state_ == upstream_state::open) {
    upstream_->send_close(ws::close_code::going_away, {}, "drain");
  }
  enter_closing();
}

void session::enter_closing() {
  phase_ = phase::closing;
  deadline_ = steady::now() + close_timeout;
  schedule_next(steady::now());
}

void session::finish_if_done() {
  if (phase_ == phase::done || !client_) {
    return;
  }
  const bool up_done = !upstream_ || upstream_->closed();
  if (!client_->closed() || !up_done) {
    return;
  }
  phase_ = phase::done;
  worker_.wheel().cancel(*this);
  stats_->sessions_active.add(-1);
  stats_->closes(leg_kind::client, close_kind_of(client_->end().code)).add();
  if (upstream_) {
    stats_->closes(leg_kind::upstream, close_kind_of(upstream_->end().code)).add();
  }
  // Let go after the current batch of events: a leg may still be on the stack.
  net::post(worker_.ioc(), [self = std::move(self_)] {});
  if (rt_->cfg().log.access) {
    log_access();
  }
}

}  // namespace tether
