#pragma once
// The sending half of one leg and its state: an output buffer that every
// frame of one event is appended to (one write, one TLS record batch, one
// syscall: "corking"), a single writer coroutine, and the rules for where
// tether may insert its own frames (controls between frames, injected
// messages between messages).
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "net.hpp"
#include "timer_wheel.hpp"
#include "transport.hpp"
#include "ws_frame.hpp"

namespace tether {

class worker;

class leg {
 public:
  /// `to_server`: this leg faces a server (the upstream), so frames sent on
  /// it are masked and frames read from it must not be.
  leg(worker& w, std::unique_ptr<transport> t, bool to_server, std::uint64_t max_message_size);

  transport& io() { return *io_; }
  ws::frame_parser& parser() { return parser_; }
  bool to_server() const { return to_server_; }

  /// A whole data or control frame. `key` (when sending to a server) lets a
  /// relayed client frame keep its mask; otherwise a fresh one is drawn.
  void send_frame(ws::opcode op, bool fin, std::span<const std::uint8_t> payload,
                  const std::array<std::uint8_t, 4>* key = nullptr);
  /// A frame relayed piecewise: header now, payload pieces as they arrive.
  void begin_frame(ws::opcode op, bool fin, std::uint64_t length,
                   const std::array<std::uint8_t, 4>* key = nullptr);
  void frame_piece(std::span<const std::uint8_t> piece);
  /// Tether's own messages (heartbeats, answers, notices): sent now when the
  /// leg is between messages, else after the message in progress ends.
  void inject(ws::opcode op, std::string payload);
  /// Ping, pong: sent now unless a frame is being streamed.
  void send_control(ws::opcode op, std::span<const std::uint8_t> payload);
  /// Sends a close frame (once); nothing else is sent on this leg after it.
  /// 1005 sends an empty close body.
  void send_close(std::uint16_t code, std::string_view reason);

  bool close_sent() const { return close_sent_; }
  bool mid_message() const { return mid_message_; }
  bool mid_frame() const { return stream_left_ > 0; }
  std::size_t pending_bytes() const { return out_.size() + inflight_.size(); }

  /// Writes whatever is queued, until close_transport_after_flush() and empty,
  /// or an error. Returns the error (or {}).
  awaitable<error_code> run_writer();
  /// Suspends until pending_bytes() < `limit` or the leg fails.
  awaitable<void> wait_below(std::size_t limit);
  /// Closes the transport once queued bytes are written.
  void close_after_flush();
  /// Closes now; pending waits wake with errors.
  void abort();
  bool closed() const { return closed_; }
  bool failed() const { return failed_; }

  // Heartbeat bookkeeping, stamped on the data path and read by the timer.
  steady::time_point last_rx;
  steady::time_point last_data_tx;  // data messages only (for app heartbeats)
  steady::time_point ping_sent_at;
  bool ping_outstanding = false;
  bool close_received = false;
  /// Nothing more is read from this leg (close received or protocol error).
  bool reading_done = false;

 private:
  ws::frame_header header_for(ws::opcode op, bool fin, std::uint64_t length,
                              const std::array<std::uint8_t, 4>* key);
  void reserve_header(const ws::frame_header& h);
  std::array<std::uint8_t, 4> fresh_key();
  void flush_pending();
  void wake();
  awaitable<void> linger();

  worker& worker_;
  std::unique_ptr<transport> io_;
  ws::frame_parser parser_;
  bool to_server_;
  std::vector<std::uint8_t> out_;       // appended to
  std::vector<std::uint8_t> inflight_;  // being written
  net::steady_timer wake_writer_;
  net::steady_timer wake_reader_;
  bool writer_waiting_ = false;
  bool reader_waiting_ = false;
  bool close_after_flush_ = false;
  bool closed_ = false;
  bool failed_ = false;
  bool close_sent_ = false;
  bool mid_message_ = false;
  std::uint64_t stream_left_ = 0;  // payload bytes of a streamed frame still to come
  bool pending_fin_ = false;      // the streamed frame ends its message
  std::uint64_t stream_offset_ = 0;
  std::array<std::uint8_t, 4> stream_key_{};
  struct pending {
    ws::opcode op;
    std::string payload;
  };
  std::deque<pending> pending_controls_;  // wait for the end of a streamed frame
  std::deque<pending> pending_messages_;  // wait for the end of a message
};

}  // namespace tether
