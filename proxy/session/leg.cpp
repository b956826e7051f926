#include "session/leg.hpp"

#include <cstring>

#include "server/worker.hpp"

namespace tether {
namespace {
/// How long a closed leg may take to finish sending before its socket goes.
constexpr auto linger_time = std::chrono::seconds(2);
}  // namespace

leg::leg(worker& w, leg_owner& owner, std::unique_ptr<byte_stream> s, bool to_server,
         std::uint64_t max_message_size)
    : worker_(w),
      owner_(owner),
      io_(std::move(s)),
      parser_(/*expect_masked=*/!to_server, max_message_size),
      to_server_(to_server) {
  heartbeat = leg_heartbeat(worker_.poller().now());
}

leg::~leg() {
  worker_.poller().forget(*this);
}

void leg::start() {
  if (started_ || closed_) {
    return;
  }
  started_ = true;
  // A stream without a descriptor is driven by hand (the in-memory harness);
  // one that lost its descriptor fails at its first read.
  if (io_->fd() >= 0 && worker_.poller().add(io_->fd(), *this)) {
    finish_close(/*failed=*/true);
    return;
  }
  if (io_->fd() < 0) {
    io_->watch(*this);
  }
  // An idle session then holds no SSL object from its start.
  adopt_successor();
  // Joining the set reports what the socket already holds; bytes TLS has
  // already taken in (with the handshake's last records) it cannot see.
  read_kick_ = io_->holds_input() || io_->fd() < 0;
  readable_ = read_kick_;
  wake();
}

std::array<std::uint8_t, 4> leg::fresh_key() {
  const auto r = worker_.random();
  std::array<std::uint8_t, 4> k;
  std::memcpy(k.data(), &r, 4);
  return k;
}

void leg::reserve_header(const ws::frame_header& h) {
  const auto at = out_.size();
  out_.resize(at + ws::max_header_size);
  out_.resize(at + ws::write_header(out_.data() + at, h));
}

ws::frame_header leg::header_for(ws::opcode op, bool fin, std::uint64_t length,
                                 const std::array<std::uint8_t, 4>* key) {
  ws::frame_header h;
  h.fin = fin;
  h.op = op;
  h.length = length;
  h.masked = to_server_;
  if (to_server_) {
    h.key = key != nullptr ? *key : fresh_key();
  }
  return h;
}

void leg::send_frame(ws::opcode op, bool fin, std::span<const std::uint8_t> payload,
                     const std::array<std::uint8_t, 4>* key, bool compressed) {
  if (close_sent_ || closed_) {
    return;
  }
  auto h = header_for(op, fin, payload.size(), key);
  h.compressed = compressed;
  reserve_header(h);
  const auto at = out_.size();
  out_.insert(out_.end(), payload.begin(), payload.end());
  if (to_server_) {
    ws::apply_mask({out_.data() + at, payload.size()}, h.key, 0);
  }
  if (!ws::is_control(op)) {
    sent_data(fin);
  }
  wake();
}

void leg::use_compression(const ws::deflate_params& p, int level) {
  deflate_ = p;
  deflate_level_ = static_cast<std::uint8_t>(level);
  parser_.allow_compressed(p.on);
}

void leg::send_message(ws::opcode op, std::span<const std::uint8_t> payload) {
  if (!deflate_.on || payload.size() < compress_min || close_sent_ || closed_) {
    send_frame(op, true, payload);
    return;
  }
  ws::deflater* d = nullptr;
  if (deflate_.send_reset) {
    d = &worker_.codecs().shared_deflater(deflate_level_, deflate_.send_window_bits);
  } else {
    if (!own_deflater_) {
      own_deflater_ = std::make_unique<ws::deflater>(deflate_level_, deflate_.send_window_bits);
    }
    d = own_deflater_.get();
  }
  auto& out = worker_.codecs().deflated;
  if (!d->compress(payload, out, deflate_.send_reset)) {
    send_frame(op, true, payload);  // zlib failed (no memory): RSV1 lets it go uncompressed
    return;
  }
  send_frame(op, true, out, nullptr, /*compressed=*/true);
}

ws::inflater::result leg::inflate_message(std::span<const std::uint8_t> in,
                                          std::vector<std::uint8_t>& out) {
  ws::inflater* i = nullptr;
  if (deflate_.receive_reset) {
    i = &worker_.codecs().shared_inflater();
  } else {
    if (!own_inflater_) {
      own_inflater_ = std::make_unique<ws::inflater>(deflate_.receive_window_bits);
    }
    i = own_inflater_.get();
  }
  const auto r = i->inflate(in, out, parser_.max_message_size(), deflate_.receive_reset);
  inflated_alone_ = deflate_.receive_reset && !i->ended_stream();
  return r;
}

std::vector<std::uint8_t>& leg::inflate_buffer() { return worker_.codecs().inflated; }

void leg::sent_data(bool fin) {
  heartbeat.data_sent(worker_.poller().now());
  mid_message_ = !fin;
  if (fin) {
    flush_pending();
  }
}

void leg::send_wire_frame(bool fin, std::span<const std::uint8_t> frame) {
  if (close_sent_ || closed_) {
    return;
  }
  if (frame.size() >= direct_write_min && pending_bytes() == 0 && started_ && !lingering_ &&
      writable_) {
    const auto n = write_now(frame);
    if (n == std::string::npos) {
      return;
    }
    inflight_.assign(frame.begin() + static_cast<std::ptrdiff_t>(n), frame.end());
    inflight_done_ = 0;
  } else {
    out_.insert(out_.end(), frame.begin(), frame.end());
  }
  sent_data(fin);
  wake();
}

void leg::begin_frame(ws::opcode op, bool fin, std::uint64_t length,
                      const std::array<std::uint8_t, 4>* key) {
  if (close_sent_ || closed_) {
    return;
  }
  const auto h = header_for(op, fin, length, key);
  reserve_header(h);
  heartbeat.data_sent(worker_.poller().now());
  stream_left_ = length;
  stream_offset_ = 0;
  stream_key_ = h.key;
  mid_message_ = true;
  if (length == 0) {
    mid_message_ = !fin;
  }
  // A fin frame that ends here leaves the message boundary for frame_piece.
  pending_fin_ = fin;
  wake();
}

void leg::frame_piece(std::span<const std::uint8_t> piece) {
  if (closed_ || stream_left_ == 0) {
    return;
  }
  const auto at = out_.size();
  out_.insert(out_.end(), piece.begin(), piece.end());
  if (to_server_) {
    ws::apply_mask({out_.data() + at, piece.size()}, stream_key_, stream_offset_);
  }
  stream_offset_ += piece.size();
  stream_left_ -= std::min<std::uint64_t>(stream_left_, piece.size());
  if (stream_left_ == 0) {
    mid_message_ = !pending_fin_;
    flush_pending();
  }
  wake();
}

void leg::inject(ws::opcode op, std::string payload) {
  if (close_sent_ || closed_) {
    return;
  }
  if (mid_message_ || mid_frame()) {
    pending_messages_.push_back({op, std::move(payload)});
    return;
  }
  send_frame(op, true,
             {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
  heartbeat.data_sent(worker_.poller().now());
}

void leg::send_control(ws::opcode op, std::span<const std::uint8_t> payload) {
  if (close_sent_ || closed_) {
    return;
  }
  const bool pong = op == ws::opcode::pong;
  if (mid_frame() || (pong && pending_bytes() >= pong_backlog)) {
    if (pong) {
      // A peer that pings faster than it reads would pile pongs up here.
      // Only the latest ping needs its pong (RFC 6455 5.5.3): it replaces
      // one still waiting.
      for (auto& p : pending_controls_) {
        if (p.op == op) {
          p.payload.assign(payload.begin(), payload.end());
          return;
        }
      }
    }
    pending_controls_.push_back({op, std::string(payload.begin(), payload.end())});
    return;
  }
  send_frame(op, true, payload);
}

void leg::note_end(std::uint16_t code, leg_end::closer by, const char* why, std::string_view reason) {
  if (end_.by == leg_end::closer::none) {
    end_.code = code;
    end_.by = by;
    end_.why = why;
    end_.reason = reason;
  }
}

void leg::note_close_received(std::uint16_t code, std::string_view reason) {
  close_received = true;
  note_end(code, leg_end::closer::peer, "", reason);
}

void leg::send_close(std::uint16_t code, std::string_view reason, const char* why) {
  if (close_sent_ || closed_) {
    return;
  }
  if (mid_frame()) {
    // A close cannot go inside a frame and the rest of it will not come:
    // the only honest end is to drop the connection.
    abort(why);
    return;
  }
  note_end(code, leg_end::closer::tether, why, code == ws::close_code::no_status ? std::string_view{} : reason.substr(0, 123));
  std::uint8_t body[125];
  std::size_t n = 0;
  if (code != ws::close_code::no_status) {
    body[0] = static_cast<std::uint8_t>(code >> 8);
    body[1] = static_cast<std::uint8_t>(code & 0xFF);
    n = 2 + std::min<std::size_t>(reason.size(), 123);
    if (n > 2) {
      std::memcpy(body + 2, reason.data(), n - 2);
    }
  }
  send_frame(ws::opcode::close, true, {body, n});
  close_sent_ = true;
  pending_messages_.clear();
  pending_controls_.clear();
}

void leg::flush_pending() {
  while (!pending_controls_.empty() && !mid_frame() &&
         (pending_controls_.front().op != ws::opcode::pong || pending_bytes() < pong_backlog)) {
    auto p = std::move(pending_controls_.front());
    pending_controls_.erase(pending_controls_.begin());
    send_frame(p.op, true, {reinterpret_cast<const std::uint8_t*>(p.payload.data()), p.payload.size()});
  }
  while (!pending_messages_.empty() && !mid_message_ && !mid_frame()) {
    auto p = std::move(pending_messages_.front());
    pending_messages_.erase(pending_messages_.begin());
    send_frame(p.op, true, {reinterpret_cast<const std::uint8_t*>(p.payload.data()), p.payload.size()});
    heartbeat.data_sent(worker_.poller().now());
  }
}

void leg::wake() {
  worker_.poller().want_flush(*this);
}

void leg::adopt_successor() {
  if (auto next = io_->successor()) {
    io_ = std::move(next);
  }
}

void leg::resume_reading() {
  read_kick_ = true;
  wake();
}

void leg::on_ready(readiness r) {
  if (closed_) {
    return;
  }
  writable_ = writable_ || r.writable;
  readable_ = readable_ || r.readable;
  if (r.peer_ended) {
    // The end of the stream may have come with the last bytes, in the same
    // event: from now on only EOF or EAGAIN says the socket is empty.
    peer_ended_ = true;
  }
  if (lingering_) {
    drain_linger();
    return;
  }
  if (pending_bytes() > 0 || write_wants_read_) {
    wake();
  }
  pump_read();
}

void leg::pump_read() {
  if (reading_ || !started_ || closed_ || reading_done || lingering_) {
    return;
  }
  reading_ = true;
  const auto buf = worker_.read_buffer();
  while (!closed_ && !reading_done && (readable_ || (read_wants_write_ && writable_)) &&
         owner_.may_read(*this)) {
    // Fill the buffer with whatever is there (TLS hands out a record per
    // call), then let the owner parse it all at once.
    std::size_t filled = 0;
    error_code ec;
    auto st = io_status::done;
    for (;;) {
      std::size_t n = 0;
      adopt_successor();
      st = io_->read(buf.subspan(filled), n, ec);
      if (st != io_status::done) {
        break;
      }
      filled += n;
      if (!peer_ended_ && io_->drained()) {
        readable_ = false;
        break;
      }
      if (filled == buf.size()) {
        break;
      }
    }
    read_wants_write_ = false;
    if (st == io_status::want_read) {
      readable_ = false;
    } else if (st == io_status::want_write) {
      // TLS output (OpenSSL's, or a KeyUpdate reply) must leave first:
      // reading stops until EPOLLOUT, instead of asking again at once.
      read_wants_write_ = true;
      writable_ = false;
    }
    if (filled > 0) {
      owner_.on_leg_bytes(*this, buf.first(filled));
    }
    if (st == io_status::eof || st == io_status::error) {
      eof_seen_ = st == io_status::eof;
      const char* what = eof_seen_ ? "connection closed" : "connection failed";
      note_end(ws::close_code::abnormal, leg_end::closer::peer, what, what);
      if (!closed_ && !reading_done) {
        reading_done = true;
        owner_.on_leg_read_end(*this);
      }
      break;
    }
    if (st == io_status::want_write) {
      break;
    }
  }
  reading_ = false;
}

void leg::flush() {
  if (closed_) {
    if (!close_reported_) {
      close_reported_ = true;
      owner_.on_leg_closed(*this);
    }
    return;
  }
  if (read_kick_) {
    read_kick_ = false;
    pump_read();
  }
  write_out();
}

void leg::write_out() {
  if (!started_ || closed_ || lingering_) {
    return;
  }
  for (;;) {
    if (inflight_done_ == inflight_.size()) {
      inflight_.clear();
      inflight_done_ = 0;
      if (out_.empty()) {
        break;
      }
      std::swap(out_, inflight_);
    }
    if (!writable_ && !(write_wants_read_ && readable_)) {
      break;  // the next EPOLLOUT edge brings us back
    }
    const auto n = write_now({inflight_.data() + inflight_done_, inflight_.size() - inflight_done_});
    if (n == std::string::npos) {
      return;
    }
    inflight_done_ += n;
    if (inflight_done_ < inflight_.size()) {
      break;
    }
  }
  if (!pending_controls_.empty() && !mid_frame() && pending_bytes() < pong_backlog) {
    flush_pending();  // a pong held back while the output was backed up
  }
  if (drain_level_ > 0 && pending_bytes() < drain_level_) {
    drain_level_ = 0;
    owner_.on_leg_drained(*this);
  }
  if (close_after_flush_ && pending_bytes() == 0 && !closed_ && !lingering_) {
    if (!reading_done || eof_seen_) {
      // A reader still owns the input side; or everything up to the peer's
      // FIN was read, so closing cannot reset and there is nothing to drain.
      finish_close(false);
      return;
    }
    // Closing a socket with unread input (the peer's last close frame or TLS
    // close_notify) makes the kernel send a reset, which the peer may see
    // instead of our close frame. Send FIN, drain briefly, then close.
    io_->shutdown_send();
    lingering_ = true;
    linger_until_ = steady::now() + linger_time;
    owner_.on_leg_lingering(*this);
    drain_linger();
  }
}

std::size_t leg::write_now(std::span<const std::uint8_t> data) {
  std::size_t done = 0;
  while (done < data.size()) {
    std::size_t n = 0;
    error_code ec;
    adopt_successor();
    const auto st = io_->write(data.subspan(done), n, ec);
    write_wants_read_ = false;
    if (st == io_status::done) {
      done += n;
      continue;
    }
    if (st == io_status::want_write) {
      writable_ = false;
    } else if (st == io_status::want_read) {
      write_wants_read_ = true;
      readable_ = false;
    } else {
      finish_close(/*failed=*/true);
      return std::string::npos;
    }
    break;
  }
  return done;
}

void leg::drain_linger() {
  const auto buf = worker_.read_buffer();
  for (;;) {
    std::size_t n = 0;
    error_code ec;
    const auto st = io_->read(buf, n, ec);
    if (st == io_status::done) {
      continue;
    }
    if (st == io_status::want_read || st == io_status::want_write) {
      return;
    }
    finish_close(false);
    return;
  }
}

void leg::finish_close(bool failed) {
  if (closed_) {
    return;
  }
  closed_ = true;
  failed_ = failed_ || failed;
  const char* what = failed ? "connection failed" : "";
  note_end(ws::close_code::abnormal, leg_end::closer::peer, what, what);
  lingering_ = false;
  io_->close();
  wake();
}

void leg::close_after_flush() {
  close_after_flush_ = true;
  wake();
}

void leg::abort(const char* why) {
  note_end(ws::close_code::abnormal, leg_end::closer::tether, why, {});
  finish_close(false);
}

}  // namespace tether
