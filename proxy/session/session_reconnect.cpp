// Upstream re-establishment (SPEC section 6): the client leg stays up while
// the upstream leg is replaced. Client messages that arrive meanwhile wait in
// a bounded buffer; the new upstream gets the same handshake, then the replay
// set, then the buffer, then live traffic, in that order.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "http/forwarding.hpp"
#include "session/session.hpp"
#include "server/worker.hpp"
#include "ws/ws_handshake.hpp"

namespace tether {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

}  // namespace

void session::upstream_lost(leg& up, std::uint16_t code, std::string_view reason, bool had_close_frame) {
  if (phase_ == phase::done || &up != upstream_.get() || upstream_state_ != upstream_state::open) {
    return;
  }
  const auto& rc = route_->cfg->reconnect;
  const bool come_back = rc.enabled && std::find(rc.on_close.begin(), rc.on_close.end(), code) != rc.on_close.end();
  // A message the old upstream was half-way through sending cannot be
  // completed toward the client: that ends the session either way.
  // The backend started a closing handshake: it gets its reply either way.
  let_upstream_go(up, had_close_frame, code, reason);
  if (come_back && !client_->mid_message()) {
    start_outage(code);
    return;
  }
  upstream_state_ = upstream_state::gone;
  if (had_close_frame && !come_back) {
    client_->send_close(code, reason, "upstream closed");
  } else {
    client_->send_close(ws::close_code::bad_gateway, "upstream lost",
                        had_close_frame ? "upstream closed mid-message" : "upstream lost");
  }
  if (client_->close_received) {
    client_->close_after_flush();
  }
  enter_closing();
}

void session::let_upstream_go(leg& up, bool had_close_frame, std::uint16_t code,
                              std::string_view reason) {
  if (had_close_frame) {
    up.send_close(code, reason, "upstream closed");
    up.close_after_flush();
  } else {
    up.abort("upstream lost");
  }
}

void session::start_outage(std::uint16_t code) {
  upstream_state_ = upstream_state::lost;
  outage_start_ = steady::now();
  from_upstream_ = {};
  spdlog::info("route {}: upstream lost ({}), reconnecting", route_->cfg->name, code);
  if (const auto& note = route_->cfg->reconnect.notify_reconnecting; !note.empty()) {
    client_->inject(ws::opcode::text, note);
  }
  net::co_spawn(worker_.ioc(), reconnect(), net::detached);
}

awaitable<void> session::reconnect() {
  auto self = shared_from_this();
  const auto& rc = *route_->cfg;
  const auto& policy = rc.reconnect;
  const auto give_up_at = outage_start_ + policy.give_up_after;
  auto delay = std::chrono::duration<double, std::milli>(policy.backoff.initial);
  backoff_timer_ = std::make_unique<net::steady_timer>(worker_.ioc());
  const auto original = ws::parse_request(upstream_request_);
  if (!original) {
    give_up(ws::close_code::internal_error, "cannot replay the handshake");
    co_return;
  }
  for (;;) {
    // Jitter spreads the reconnects of many sessions that lost one backend.
    const double u = static_cast<double>(worker_.random() % 10001) / 10000.0 * 2.0 - 1.0;
    const auto wait = std::chrono::duration_cast<steady::duration>(delay * (1.0 + policy.backoff.jitter * u));
    const auto now = steady::now();
    if (now >= give_up_at) {
      break;
    }
    backoff_timer_->expires_at(std::min(now + wait, give_up_at));
    co_await backoff_timer_->async_wait(use_tuple);
    if (phase_ != phase::relay || upstream_state_ != upstream_state::lost) {
      co_return;  // the client left meanwhile
    }
    if (steady::now() >= give_up_at) {
      break;
    }
    url_index_ = (url_index_ + 1) % rc.upstream.urls.size();
    const auto& url = rc.upstream.urls[url_index_];
    auto request = *original;
    const auto key = ws::make_key();
    request.set(http::field::sec_websocket_key, key);
    if (rc.upstream.urls.size() > 1) {
      request.target(upstream_target(client_target_, rc.path, rc.upstream.strip_prefix, url.path));
    }
    const auto left = std::chrono::duration_cast<duration>(give_up_at - steady::now());
    auto attempt = co_await open_upstream_leg(
        {url, route_->upstream_tls.get(), rc.upstream.tls.server_name,
         // Its Sec-WebSocket-Protocol is the client's offer.
         request, key, original->base(),
         std::max(duration(1), std::min(rc.upstream.connect_timeout, left)), openssl_records_});
    if (phase_ != phase::relay || upstream_state_ != upstream_state::lost) {
      if (attempt.stream) {
        attempt.stream->close();
      }
      co_return;
    }
    if (attempt.result == upstream_attempt::status::ok) {
      if (std::string_view(attempt.response[http::field::sec_websocket_protocol]) != chosen_protocol_) {
        attempt.stream->close();
        give_up(ws::close_code::bad_gateway, "upstream changed subprotocol");
        co_return;
      }
      restore(std::move(attempt));
      co_return;
    }
    const auto status = attempt.response.result_int();
    if (attempt.result == upstream_attempt::status::rejected && status >= 400 && status < 500) {
      give_up(ws::close_code::bad_gateway, "upstream refused the session");
      co_return;
    }
    spdlog::debug("route {}: reconnect attempt failed: {}", rc.name, attempt.error);
    delay = std::min(delay * policy.backoff.multiplier,
                     std::chrono::duration<double, std::milli>(policy.backoff.max));
  }
  stats_->upstream_reconnects[reconnect_result::gave_up].add();
  give_up(ws::close_code::try_again_later, "upstream unavailable");
}

void session::restore(upstream_attempt up) {
  const auto outage = std::chrono::duration<double>(steady::now() - outage_start_).count();
  end_outage();
  stats_->upstream_reconnects[reconnect_result::success].add();
  ++reconnects_;
  stats_->upstream_outage.observe(outage);
  spdlog::info("route {}: upstream back after {:.3f}s", route_->cfg->name, outage);
  // Replay, then the buffer, then live traffic: all queued on the new leg
  // before any further client input is read (one thread, no interleaving).
  auto leftover = std::move(up.leftover);
  up.leftover.clear();
  attach_upstream(std::move(up));
  for (const auto& m : replay_) {
    upstream_->send_message(m.op, m.data);
  }
  stats_->buffered_messages.add(-static_cast<std::int64_t>(buffer_.size()));
  auto pending = std::move(buffer_);
  buffer_ = {};
  buffer_bytes_ = 0;
  for (const auto& m : pending) {
    upstream_->send_message(m.op, m.data);
    note_forwarded(m.op, m.data);
  }
  if (const auto& note = route_->cfg->reconnect.notify_reconnected; !note.empty()) {
    client_->inject(ws::opcode::text, note);
  }
  if (!leftover.empty()) {
    on_upstream_bytes(*upstream_, leftover);
  }
  upstream_->start();
  schedule_next(steady::now());
}

void session::give_up(std::uint16_t code, const char* reason) {
  spdlog::info("route {}: closing client {} with {}: {}", route_->cfg->name, client_ip_, code, reason);
  if (upstream_state_ == upstream_state::lost) {
    end_outage();
  }
  upstream_state_ = upstream_state::gone;
  clear_buffer();
  client_->send_close(code, reason, reason);
  enter_closing();
  finish_if_done();
}

void session::stop_reconnecting() {
  if (upstream_state_ != upstream_state::lost) {
    return;
  }
  // Nobody left to reconnect for.
  end_outage();
  upstream_state_ = upstream_state::gone;
  clear_buffer();
  if (backoff_timer_) {
    backoff_timer_->cancel();
  }
}

void session::end_outage() { tally_.outage += steady::now() - outage_start_; }

bool session::wants_replay_copy() const {
  const auto& rc = route_->cfg->reconnect;
  return rc.enabled && (forwarded_count_ < rc.replay_first || route_->replay_regex != nullptr);
}

void session::note_forwarded(ws::opcode op, std::span<const std::uint8_t> payload) {
  const auto& rc = route_->cfg->reconnect;
  const bool first = forwarded_count_ < rc.replay_first;
  ++forwarded_count_;
  if (!rc.enabled) {
    return;
  }
  bool keep = first;
  if (!keep && route_->replay_regex && op == ws::opcode::text) {
    const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    keep = route_->replay_regex->matches(text);
  }
  if (!keep) {
    return;
  }
  // The replay set shares the buffer's bounds: beyond them a message is not
  // recorded (and a warning says so) rather than growing without limit.
  if (replay_.size() + 1 > rc.buffer_messages || replay_bytes_ + payload.size() > rc.buffer_bytes) {
    spdlog::warn("route {}: replay set full, message not recorded", route_->cfg->name);
    return;
  }
  replay_.push_back({op, {payload.begin(), payload.end()}});
  replay_bytes_ += payload.size();
}

bool session::buffer_fits(std::size_t extra_bytes) const {
  const auto& rc = route_->cfg->reconnect;
  return buffer_bytes_ + extra_bytes <= rc.buffer_bytes;
}

void session::buffer_or_send(ws::opcode op, std::span<const std::uint8_t> payload) {
  if (upstream_state_ == upstream_state::open) {
    // Collected during the outage, finished after it ended.
    upstream_->send_message(op, payload);
    note_forwarded(op, payload);
    return;
  }
  if (upstream_state_ != upstream_state::lost) {
    return;
  }
  const auto& rc = route_->cfg->reconnect;
  if (buffer_.size() + 1 > rc.buffer_messages || !buffer_fits(payload.size())) {
    buffer_overflow();
    return;
  }
  buffer_.push_back({op, {payload.begin(), payload.end()}});
  buffer_bytes_ += payload.size();
  stats_->buffered_messages.add(1);
}

void session::buffer_overflow() {
  spdlog::info("route {}: outage buffer full, closing client", route_->cfg->name);
  if (backoff_timer_) {
    backoff_timer_->cancel();
  }
  give_up(ws::close_code::try_again_later, "buffer full");
}

void session::clear_buffer() {
  stats_->buffered_messages.add(-static_cast<std::int64_t>(buffer_.size()));
  buffer_.clear();
  buffer_bytes_ = 0;
}

}  // namespace tether
