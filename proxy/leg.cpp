#include "leg.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "worker.hpp"

namespace tether {
namespace {
using namespace boost::asio::experimental::awaitable_operators;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
/// How long a closed leg may take to finish sending before its socket goes.
constexpr auto linger_time = std::chrono::seconds(2);
}

leg::leg(worker& w, std::unique_ptr<transport> t, bool to_server, std::uint64_t max_message_size)
    : worker_(w),
      io_(std::move(t)),
      parser_(/*expect_masked=*/!to_server, max_message_size),
      to_server_(to_server),
      wake_writer_(io_->get_executor(), steady::time_point::max()),
      wake_reader_(io_->get_executor(), steady::time_point::max()) {
  const auto now = steady::now();
  last_rx = now;
  last_data_tx = now;
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
                     const std::array<std::uint8_t, 4>* key) {
  if (close_sent_ || closed_) {
    return;
  }
  const auto h = header_for(op, fin, payload.size(), key);
  reserve_header(h);
  const auto at = out_.size();
  out_.insert(out_.end(), payload.begin(), payload.end());
  if (to_server_) {
    ws::apply_mask({out_.data() + at, payload.size()}, h.key, 0);
  }
  if (!ws::is_control(op)) {
    last_data_tx = steady::now();
    mid_message_ = !fin;
    if (fin) {
      flush_pending();
    }
  }
  wake();
}

void leg::begin_frame(ws::opcode op, bool fin, std::uint64_t length,
                      const std::array<std::uint8_t, 4>* key) {
  if (close_sent_ || closed_) {
    return;
  }
  const auto h = header_for(op, fin, length, key);
  reserve_header(h);
  last_data_tx = steady::now();
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
  last_data_tx = steady::now();
}

void leg::send_control(ws::opcode op, std::span<const std::uint8_t> payload) {
  if (close_sent_ || closed_) {
    return;
  }
  if (mid_frame()) {
    pending_controls_.push_back({op, std::string(payload.begin(), payload.end())});
    return;
  }
  send_frame(op, true, payload);
}

void leg::send_close(std::uint16_t code, std::string_view reason) {
  if (close_sent_ || closed_) {
    return;
  }
  if (mid_frame()) {
    // A close cannot go inside a frame and the rest of it will not come:
    // the only honest end is to drop the connection.
    abort();
    return;
  }
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
  while (!pending_controls_.empty() && !mid_frame()) {
    auto p = std::move(pending_controls_.front());
    pending_controls_.pop_front();
    send_frame(p.op, true, {reinterpret_cast<const std::uint8_t*>(p.payload.data()), p.payload.size()});
  }
  while (!pending_messages_.empty() && !mid_message_ && !mid_frame()) {
    auto p = std::move(pending_messages_.front());
    pending_messages_.pop_front();
    send_frame(p.op, true, {reinterpret_cast<const std::uint8_t*>(p.payload.data()), p.payload.size()});
    last_data_tx = steady::now();
  }
}

void leg::wake() {
  if (writer_waiting_) {
    wake_writer_.cancel();
  }
}

awaitable<error_code> leg::run_writer() {
  for (;;) {
    while (out_.empty() && !closed_ && !close_after_flush_) {
      writer_waiting_ = true;
      co_await wake_writer_.async_wait(use_tuple);
      writer_waiting_ = false;
    }
    if (closed_) {
      co_return error_code{};
    }
    if (out_.empty()) {
      // close_after_flush with nothing left: done.
      co_await linger();
      closed_ = true;
      io_->close();
      if (reader_waiting_) {
        wake_reader_.cancel();
      }
      co_return error_code{};
    }
    std::swap(out_, inflight_);
    auto ec = co_await io_->write_all(net::buffer(inflight_));
    inflight_.clear();
    if (reader_waiting_) {
      wake_reader_.cancel();
    }
    if (ec) {
      failed_ = true;
      closed_ = true;
      io_->close();
      co_return ec;
    }
  }
}

awaitable<void> leg::wait_below(std::size_t limit) {
  while (pending_bytes() >= limit && !closed_) {
    reader_waiting_ = true;
    co_await wake_reader_.async_wait(use_tuple);
    reader_waiting_ = false;
  }
}

awaitable<void> leg::linger() {
  // Closing a socket with unread input (the peer's last close frame or TLS
  // close_notify) makes the kernel send a reset, which the peer may see
  // instead of our close frame. Send FIN, drain briefly, then close.
  if (!reading_done) {
    co_return;  // a reader still owns the input side
  }
  io_->shutdown_send();
  net::steady_timer timer(io_->get_executor(), linger_time);
  auto drain = [this]() -> awaitable<void> {
    std::uint8_t sink[512];
    for (;;) {
      auto [ec, n] = co_await io_->read_some(net::buffer(sink));
      if (ec) {
        co_return;
      }
    }
  };
  co_await (drain() || timer.async_wait(use_tuple));
}

void leg::close_after_flush() {
  close_after_flush_ = true;
  if (writer_waiting_) {
    wake_writer_.cancel();
  }
}

void leg::abort() {
  if (closed_) {
    return;
  }
  closed_ = true;
  io_->close();
  wake_writer_.cancel();
  wake_reader_.cancel();
}

}  // namespace tether
