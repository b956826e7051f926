// The relay half of session: frames in, policy, frames out.
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "session/session.hpp"
#include "session/heartbeat_text.hpp"
#include "server/worker.hpp"

namespace tether {
namespace {

/// Frames up to this size are relayed whole (held until complete), so that a
/// leg that dies mid-frame never leaves half a message on the other leg.
/// Larger frames stream through piecewise.
constexpr std::uint64_t frame_hold_limit = 64 * 1024;
/// A reader stops reading while the other leg has this much unwritten.
constexpr std::size_t high_water = 512 * 1024;
/// How long tether waits for the peer's answer to a close frame it sent.
constexpr auto close_timeout = std::chrono::seconds(5);

/// A frame whose payload came whole in one read, as it was on the wire
/// (header right before payload); empty when its header came in pieces.
std::span<std::uint8_t> wire_in_place(const ws::frame_parser& p, std::span<std::uint8_t> payload) {
  if (!p.header_contiguous()) {
    return {};
  }
  const auto header = p.header_bytes().size();
  return {payload.data() - header, payload.size() + header};
}

/// Adds a piece of a frame that comes in pieces to `hold`, behind the
/// frame's header, which the first piece puts in front.
void hold_piece(std::vector<std::uint8_t>& hold, std::size_t& header, const ws::frame_parser& p,
                std::span<const std::uint8_t> piece) {
  if (hold.empty()) {
    const auto h = p.header_bytes();
    hold.assign(h.begin(), h.end());
    header = h.size();
  }
  hold.insert(hold.end(), piece.begin(), piece.end());
}

/// Who began a leg's end: its peer (`peer`), or tether and why.
std::string closed_by(const leg_end& e, std::string_view peer) {
  switch (e.by) {
    case leg_end::closer::peer:
      return std::string(peer);
    case leg_end::closer::tether:
      return fmt::format("tether({})", e.why);
    case leg_end::closer::none:
      break;
  }
  return "none";
}

}  // namespace

void session::start_relay(std::unique_ptr<byte_stream> client, upstream_attempt up,
                          std::span<const std::uint8_t> client_leftover) {
  const auto& rc = *route_->cfg;
  stats_ = &route_->stats->shards[worker_.index()];
  stats_->sessions_total.add();
  stats_->sessions_active.add(1);
  phase_ = phase::relay;
  self_ = shared_from_this();
  client_ = std::make_unique<leg>(worker_, *this, std::move(client), /*to_server=*/false,
                                  rc.limits.max_message_size);
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

void session::on_client_bytes(std::span<std::uint8_t> in) {
  auto& p = client_->parser();
  auto& st = from_client_;
  while (!client_->reading_done && phase_ != phase::done) {
    std::size_t used = 0;
    const auto k = p.next(in, used);
    in = in.subspan(used);
    const bool open = upstream_state_ == upstream_state::open;
    switch (k) {
      case ws::frame_parser::kind::need_more:
        return;
      case ws::frame_parser::kind::error:
        // The offender gets the RFC code; the backend sees the client go away.
        spdlog::info("route {}: closing client {} with {}: {}", route_->cfg->name, client_ip_,
                     p.error_code(), p.error_reason());
        client_->reading_done = true;
        client_->send_close(p.error_code(), {}, p.error_reason());
        client_->close_after_flush();
        client_gone(ws::close_code::going_away, "client protocol error");
        return;
      case ws::frame_parser::kind::control:
        on_client_control(p.header(), p.payload());
        break;
      case ws::frame_parser::kind::frame_begin: {
        const auto& h = p.header();
        st.frame = h;
        st.hold.clear();
        st.hold_header = 0;
        st.delivered = false;
        if (h.op != ws::opcode::cont) {
          // A new message: live to the upstream, or collected for the outage buffer.
          st.discard = false;
          st.live = open;
          st.whole = h.fin && h.length <= frame_hold_limit;
          st.collect = !st.whole && (!open || wants_replay_copy());
          st.message.clear();
        } else if (st.live && !open) {
          // Its start went to an upstream that is gone: it cannot be finished.
          st.discard = true;
        }
        st.streaming = !st.discard && st.live && h.length > frame_hold_limit;
        if (st.streaming) {
          upstream_->begin_frame(h.op, h.fin, h.length, &h.key);
        }
        // A binary frame that tether only passes on is never unmasked: it
        // goes to the upstream as the client masked it.
        st.masked = st.live && open && !st.discard && !st.streaming && !st.collect &&
                    !wants_replay_copy();
        if (st.masked) {
          p.leave_masked();
          st.masked = p.payload_masked();
        }
        break;
      }
      case ws::frame_parser::kind::data: {
        auto piece = p.payload();
        if (st.discard) {
          break;
        }
        if (st.collect) {
          st.message.insert(st.message.end(), piece.begin(), piece.end());
          if (!st.live && !buffer_fits(st.message.size())) {
            buffer_overflow();
            return;
          }
        }
        if (st.streaming) {
          stats_->bytes[direction::client_to_upstream].add(piece.size());
          upstream_->frame_piece(piece);
        } else if (st.live || st.whole) {
          if (p.payload_offset() == 0 && piece.size() == st.frame.length) {
            on_client_frame(st.frame, piece, wire_in_place(p, piece), st.masked);
            st.delivered = true;
          } else {
            hold_piece(st.hold, st.hold_header, p, piece);
          }
        }
        break;
      }
      case ws::frame_parser::kind::frame_end: {
        if (!st.discard && !st.streaming && !st.delivered && (st.live || st.whole)) {
          // A frame collected in pieces is in `hold` as on the wire (header,
          // then payload), unless it had no payload and collected nothing.
          on_client_frame(st.frame, std::span(st.hold).subspan(st.hold_header), st.hold, st.masked);
        }
        if (st.frame.fin) {
          if (!st.discard && !st.answered) {
            stats_->messages[direction::client_to_upstream].add();
          }
          if (!st.discard && !st.whole) {
            const auto op = p.message_opcode();
            if (st.live) {
              if (st.collect) {
                note_forwarded(op, st.message);
              } else {
                ++forwarded_count_;
              }
            } else {
              stats_->bytes[direction::client_to_upstream].add(st.message.size());
              buffer_or_send(op, st.message);
            }
          }
          st.discard = false;
          st.answered = false;
        }
        break;
      }
    }
  }
}

void session::on_client_frame(const ws::frame_header& h, std::span<std::uint8_t> payload,
                              std::span<std::uint8_t> wire, bool masked) {
  const bool single = h.fin && h.op != ws::opcode::cont;
  // A whole text message in one frame may be a client heartbeat that
  // tether answers itself, upstream or no upstream.
  if (single && h.op == ws::opcode::text && !route_->cfg->heartbeat.client.answer.empty() &&
      answer(payload)) {
    from_client_.answered = true;
    return;
  }
  stats_->bytes[direction::client_to_upstream].add(payload.size());
  const bool verbatim = !wire.empty() && upstream_state_ == upstream_state::open;
  if (masked && !verbatim) {
    ws::apply_mask(payload, h.key, 0);  // it is buffered or copied after all: in clear
  }
  if (upstream_state_ != upstream_state::open) {
    if (single) {
      buffer_or_send(h.op, payload);
    }
    return;  // a fragment's message started on an upstream that is gone
  }
  if (single) {
    // First, while the payload is in clear: it may keep a copy. (A payload
    // left masked is one it keeps no copy of.)
    note_forwarded(h.op, payload);
  }
  if (!verbatim) {
    upstream_->send_frame(h.op, h.fin, payload, &h.key);
    return;
  }
  if (!masked) {
    ws::apply_mask(payload, h.key, 0);  // back to the bytes the client sent
  }
  upstream_->send_wire_frame(h.fin, wire);
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
      return true;
    }
  }
  return false;
}

void session::on_upstream_bytes(leg& up, std::span<std::uint8_t> in) {
  auto& p = up.parser();
  auto& st = from_upstream_;
  while (!up.reading_done && &up == upstream_.get() && phase_ != phase::done) {
    std::size_t used = 0;
    const auto k = p.next(in, used);
    in = in.subspan(used);
    leg& down = *client_;
    switch (k) {
      case ws::frame_parser::kind::need_more:
        return;
      case ws::frame_parser::kind::error: {
        const auto code = p.error_code();
        spdlog::info("route {}: closing upstream of client {} with {}: {}", route_->cfg->name, client_ip_,
                     code, p.error_reason());
        up.reading_done = true;
        up.send_close(code, {}, p.error_reason());
        up.close_after_flush();
        upstream_state_ = upstream_state::gone;
        // Too big goes to the client as too big; anything else is a bad gateway.
        const auto to_client = code == ws::close_code::too_big ? code : ws::close_code::bad_gateway;
        down.send_close(to_client, {}, "upstream protocol error");
        enter_closing();
        return;
      }
      case ws::frame_parser::kind::control:
        on_upstream_control(up, p.header(), p.payload());
        break;
      case ws::frame_parser::kind::frame_begin: {
        const auto& h = p.header();
        st.frame = h;
        st.hold.clear();
        st.hold_header = 0;
        st.delivered = false;
        st.streaming = h.length > frame_hold_limit;
        if (st.streaming) {
          down.begin_frame(h.op, h.fin, h.length);
        }
        break;
      }
      case ws::frame_parser::kind::data: {
        auto piece = p.payload();
        stats_->bytes[direction::upstream_to_client].add(piece.size());
        if (st.streaming) {
          down.frame_piece(piece);
        } else if (p.payload_offset() == 0 && piece.size() == st.frame.length) {
          if (const auto wire = wire_in_place(p, piece); !wire.empty()) {
            down.send_wire_frame(st.frame.fin, wire);
          } else {
            down.send_frame(st.frame.op, st.frame.fin, piece);
          }
          st.delivered = true;
        } else {
          hold_piece(st.hold, st.hold_header, p, piece);
        }
        break;
      }
      case ws::frame_parser::kind::frame_end:
        if (!st.streaming && !st.delivered) {
          if (!st.hold.empty()) {
            down.send_wire_frame(st.frame.fin, st.hold);
          } else {
            down.send_frame(st.frame.op, st.frame.fin, {});
          }
        }
        if (st.frame.fin) {
          stats_->messages[direction::upstream_to_client].add();
        }
        break;
    }
  }
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
      client_->note_close_received(p.close_code());
      client_->reading_done = true;
      const auto code = p.close_code();
      const auto reason = p.close_reason();
      const std::string_view why(reinterpret_cast<const char*>(reason.data()), reason.size());
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
      up.note_close_received(p.close_code());
      up.reading_done = true;
      const auto code = p.close_code();
      const auto reason = p.close_reason();
      const std::string_view why(reinterpret_cast<const char*>(reason.data()), reason.size());
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
  if (phase_ == phase::handshake) {
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
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started_).count();
    const auto& ce = client_->end();
    const auto& ue = upstream_ ? upstream_->end() : leg_end{};
    spdlog::info("access listener={} route={} client={} target={} duration_ms={} reconnects={} "
                 "client_close={} client_closed_by={} upstream_close={} upstream_closed_by={}",
                 listener_->name(), route_->cfg->name, client_ip_, client_target_, ms, reconnects_,
                 ce.code, closed_by(ce, "client"), ue.code, closed_by(ue, "upstream"));
  }
}

}  // namespace tether
