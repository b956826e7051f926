#pragma once
// One relayed connection (client or upstream) after the handshake: its
// byte stream in the worker's poller, the reading side (read while readable
// and the owner allows, deliver to the owner), and the sending side: an
// output buffer that frames are appended to and that is written once per
// poller batch ("corking"; a large relayed frame with nothing queued ahead
// is written at once from where it was read), plus the rules for where
// tether may insert its own frames (controls between frames, injected
// messages between messages).
//
// Everything is callbacks on the worker's thread: an idle leg holds no
// coroutine, no timer and no buffer, only this object and its TLS state.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "session/heartbeat_policy.hpp"
#include "net.hpp"
#include "io/poller.hpp"
#include "io/timer_wheel.hpp"
#include "io/byte_stream.hpp"
#include "ws/deflate_codec.hpp"
#include "ws/deflate_negotiation.hpp"
#include "ws/ws_frame.hpp"

namespace tether {

class worker;
class leg;

/// What a leg tells its session. Calls come from the poller's batch or its
/// flush, never from inside a call the session made on the leg.
class leg_owner {
 public:
  /// Bytes read (valid during the call only).
  virtual void on_leg_bytes(leg& l, std::span<std::uint8_t> bytes) = 0;
  /// The peer ended its side (EOF) or reading failed.
  virtual void on_leg_read_end(leg& l) = 0;
  /// The transport is closed: written out (and lingered), failed or aborted.
  virtual void on_leg_closed(leg& l) = 0;
  /// False holds reading back (backpressure from the other leg).
  virtual bool may_read(leg& l) = 0;
  /// Pending output fell below the level a held-back reader waits for.
  virtual void on_leg_drained(leg& l) = 0;
  /// The leg started lingering; linger_deadline() wants a timer.
  virtual void on_leg_lingering(leg& l) = 0;

 protected:
  ~leg_owner() = default;
};

/// How a leg's end began, for the access log: the first close frame on it
/// (received from the peer or sent by tether), or its loss without one.
struct leg_end {
  enum class closer : std::uint8_t { none, peer, tether };
  std::uint16_t code = 0;  // 1006 when the connection ended without a close frame
  closer by = closer::none;
  const char* why = "";  // tether's reason, when tether began it
  /// The first close frame's reason text; for an end without one, what
  /// happened to the connection ("connection failed"). Set once per leg.
  std::string reason;
};

class leg final : public pollable {
 public:
  /// `to_server`: this leg faces a server (the upstream), so frames sent on
  /// it are masked and frames read from it must not be.
  leg(worker& w, leg_owner& owner, std::unique_ptr<byte_stream> s, bool to_server,
      std::uint64_t max_message_size);
  ~leg();
  leg(const leg&) = delete;
  leg& operator=(const leg&) = delete;

  /// Joins the poller and starts reading (and writing what is queued).
  void start();

  ws::frame_parser& parser() { return parser_; }
  bool to_server() const { return to_server_; }

  /// A whole data or control frame. `key` (when sending to a server) lets a
  /// relayed client frame keep its mask; otherwise a fresh one is drawn.
  /// `compressed`: RSV1, the payload is already deflated.
  void send_frame(ws::opcode op, bool fin, std::span<const std::uint8_t> payload,
                  const std::array<std::uint8_t, 4>* key = nullptr, bool compressed = false);

  /// permessage-deflate as this leg negotiated it (`level` for tether's deflater).
  void use_compression(const ws::deflate_params& p, int level);
  const ws::deflate_params& compression() const { return deflate_; }
  /// A whole message tether holds in clear (inflated, buffered, replayed):
  /// deflated when the leg negotiated it and it is at least compress_min
  /// bytes, else sent as it is.
  void send_message(ws::opcode op, std::span<const std::uint8_t> payload);
  static constexpr std::size_t compress_min = 32;
  /// Inflates one compressed message read from this leg into `out`, within
  /// the leg's max_message_size.
  ws::inflater::result inflate_message(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out);
  /// The worker's buffer for an inflated message (valid until the next).
  std::vector<std::uint8_t>& inflate_buffer();
  /// The message inflate_message last inflated stands alone: its sender
  /// keeps no context, and it does not end the deflate stream.
  bool inflated_alone() const { return inflated_alone_; }
  /// A compressed message that stands alone, from a sender whose window
  /// this leg's peer accepts, may be sent on as it came (no deflate).
  bool takes_compressed_from(const ws::deflate_params& source) const {
    return deflate_.on && deflate_.send_reset && source.receive_reset &&
           source.receive_window_bits <= deflate_.send_window_bits;
  }
  /// A whole data frame already in wire form: header and payload, masked
  /// when this leg faces a server. From direct_write_min bytes, when nothing
  /// is queued ahead of it, it is written straight from `frame` and only what
  /// the socket does not take is copied; smaller frames are queued (corking
  /// them into one write wins over saving their copy).
  void send_wire_frame(bool fin, std::span<const std::uint8_t> frame);
  static constexpr std::size_t direct_write_min = 32 * 1024;
  /// A frame relayed piecewise: header now, payload pieces as they arrive.
  void begin_frame(ws::opcode op, bool fin, std::uint64_t length,
                   const std::array<std::uint8_t, 4>* key = nullptr);
  void frame_piece(std::span<const std::uint8_t> piece);
  /// Tether's own messages (heartbeats, answers, notices): sent now when the
  /// leg is between messages, else after the message in progress ends.
  void inject(ws::opcode op, std::string payload);
  /// Ping, pong: sent now unless a frame is being streamed. A pong also
  /// waits while pong_backlog bytes are unwritten, and replaces a pong
  /// still waiting (only the latest ping needs one, RFC 6455 5.5.3).
  void send_control(ws::opcode op, std::span<const std::uint8_t> payload);
  static constexpr std::size_t pong_backlog = 64 * 1024;
  /// Sends a close frame (once); nothing else is sent on this leg after it.
  /// 1005 sends an empty close body. `why` says, for the access log, why
  /// tether closes when it is the first to.
  void send_close(std::uint16_t code, std::string_view reason, const char* why = "");
  /// The peer's close frame arrived.
  void note_close_received(std::uint16_t code, std::string_view reason = {});
  const leg_end& end() const { return end_; }

  bool close_sent() const { return close_sent_; }
  bool mid_message() const { return mid_message_; }
  bool mid_frame() const { return stream_left_ > 0; }
  std::size_t pending_bytes() const { return out_.size() + inflight_.size() - inflight_done_; }

  /// on_leg_drained once pending_bytes() falls below `level`.
  void notify_below(std::size_t level) { drain_level_ = level; }
  /// Reads again if it was held back and may now.
  void resume_reading();
  /// Closes the transport once queued bytes are written (after a short
  /// linger when reading is done, so our last bytes are not lost to a reset).
  void close_after_flush();
  /// Closes now; queued bytes are dropped.
  void abort(const char* why = "aborted");
  bool closed() const { return closed_; }
  bool failed() const { return failed_; }
  bool lingering() const { return lingering_; }
  steady::time_point linger_deadline() const { return linger_until_; }

  /// Heartbeat state, stamped on the data path and read by the timer.
  leg_heartbeat heartbeat;
  bool close_received = false;  // set through note_close_received
  /// Nothing more is read from this leg (close received or protocol error).
  bool reading_done = false;

  void on_ready(readiness r) override;
  void flush() override;

 private:
  ws::frame_header header_for(ws::opcode op, bool fin, std::uint64_t length,
                              const std::array<std::uint8_t, 4>* key);
  void reserve_header(const ws::frame_header& h);
  std::array<std::uint8_t, 4> fresh_key();
  void flush_pending();
  void sent_data(bool fin);
  /// One write attempt chain from `data`; the bytes written, or npos when the
  /// transport failed (the leg is then closed).
  std::size_t write_now(std::span<const std::uint8_t> data);
  void wake();
  /// The stream takes its successor (TLS records leaving OpenSSL) when it has one.
  void adopt_successor();
  void pump_read();
  void drain_linger();
  void write_out();
  void finish_close(bool failed);
  void note_end(std::uint16_t code, leg_end::closer by, const char* why, std::string_view reason);

  worker& worker_;
  leg_owner& owner_;
  std::unique_ptr<byte_stream> io_;
  ws::frame_parser parser_;
  bool to_server_;
  std::vector<std::uint8_t> out_;       // appended to
  std::vector<std::uint8_t> inflight_;  // being written (TLS retries need the same bytes)
  std::size_t inflight_done_ = 0;
  std::size_t drain_level_ = 0;
  steady::time_point linger_until_{};
  bool started_ = false;
  bool readable_ = false;  // edge-triggered: ready until a read says otherwise
  bool eof_seen_ = false;  // read up to the peer's FIN
  bool writable_ = true;
  bool peer_ended_ = false;  // FIN, reset or error seen: read until EOF
  bool read_wants_write_ = false;  // TLS: a read must send first
  bool write_wants_read_ = false;  // TLS: a write must receive first
  bool reading_ = false;           // inside pump_read
  bool read_kick_ = false;         // read at the next flush (start, resume)
  bool close_after_flush_ = false;
  bool lingering_ = false;
  bool closed_ = false;
  bool close_reported_ = false;
  bool failed_ = false;
  bool close_sent_ = false;
  bool mid_message_ = false;
  leg_end end_;
  ws::deflate_params deflate_;
  std::uint8_t deflate_level_ = 6;
  bool inflated_alone_ = false;
  // Only with context takeover, made on first use: a leg that resets per
  // message uses the worker's shared streams.
  std::unique_ptr<ws::deflater> own_deflater_;
  std::unique_ptr<ws::inflater> own_inflater_;
  std::uint64_t stream_left_ = 0;  // payload bytes of a streamed frame still to come
  bool pending_fin_ = false;      // the streamed frame ends its message
  std::uint64_t stream_offset_ = 0;
  std::array<std::uint8_t, 4> stream_key_{};
  struct pending {
    ws::opcode op;
    std::string payload;
  };
  // Rare, and empty vectors cost nothing (a deque allocates when made).
  std::vector<pending> pending_controls_;  // wait for the end of a streamed frame
  std::vector<pending> pending_messages_;  // wait for the end of a message
};

}  // namespace tether
