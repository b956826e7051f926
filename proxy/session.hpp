#pragma once
// One client connection, from TLS to the last close frame. Its life is a
// straight line (handshake(), then relay) written as coroutines on the
// worker's thread; the upstream leg can be replaced underneath a running
// client leg (reconnect), and one wheel entry carries every timer.
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "http_types.hpp"
#include "leg.hpp"
#include "listener_context.hpp"
#include "runtime.hpp"
#include "timer_wheel.hpp"
#include "upstream.hpp"

namespace tether {

class worker;

class session : public std::enable_shared_from_this<session>, public wheel_entry {
 public:
  session(worker& w, std::shared_ptr<const runtime> rt, std::shared_ptr<listener_context> lc,
          tcp::socket socket, bool over_capacity);
  ~session() override;

  /// Starts the session's coroutine on its worker.
  void start();
  /// Graceful drain: close the client with 1001 (after `delay`).
  void drain();

  void on_timer(steady::time_point now) override;

  // Intrusive list of a worker's sessions (for drain).
  session* prev_in_worker = nullptr;
  session* next_in_worker = nullptr;

 private:
  enum class phase { handshake, relay, closing, done };
  enum class upstream_state { open, lost, gone };

  awaitable<void> run();
  awaitable<bool> serve_http(beast::flat_buffer& buffer);
  awaitable<void> serve_websocket(http::request_parser<http::buffer_body>& parser,
                                  beast::flat_buffer& buffer);
  awaitable<void> reply(string_response res);
  void fail_handshake(handshake_failure why);

  // Relay.
  void start_relay(std::unique_ptr<transport> client, upstream_attempt up,
                   std::span<const std::uint8_t> client_leftover);
  void attach_upstream(upstream_attempt up, bool read_leftover = true);
  awaitable<void> client_reader(std::shared_ptr<leg> l);
  awaitable<void> upstream_reader(std::shared_ptr<leg> l);
  awaitable<void> writer(std::shared_ptr<leg> l, bool is_client);
  void on_client_bytes(std::span<std::uint8_t> in);
  void on_upstream_bytes(leg& up, std::span<std::uint8_t> in);
  void on_client_control(const ws::frame_header& h, std::span<const std::uint8_t> payload);
  void on_upstream_control(leg& up, const ws::frame_header& h, std::span<const std::uint8_t> payload);
  void on_client_frame(const ws::frame_header& h, std::span<const std::uint8_t> payload);
  bool answer(std::span<const std::uint8_t> payload);
  /// Pings an idle leg; true when the leg's peer is found dead.
  bool check_leg(leg& l, const leg_heartbeat_config& c, leg_kind kind, steady::time_point now);

  // Endings.
  void client_gone(std::uint16_t upstream_code);
  void upstream_lost(leg& up, std::uint16_t code, std::string_view reason, bool had_close_frame);
  /// Waits (bounded) for the closing handshakes under way.
  void enter_closing();
  void finish_if_done();
  void schedule_next(steady::time_point now);

  worker& worker_;
  std::shared_ptr<const runtime> rt_;
  std::shared_ptr<listener_context> listener_;
  const route_runtime* route_ = nullptr;
  route_shard* stats_ = nullptr;
  bool over_capacity_;
  phase phase_ = phase::handshake;

  std::unique_ptr<transport> client_io_;  // until the relay starts
  steady::time_point deadline_{};         // handshake or close deadline
  bool timed_out_ = false;                // the handshake deadline passed
  std::string client_ip_;
  steady::time_point started_ = steady::now();
  std::size_t reconnects_ = 0;

  // The handshake, kept for reconnects.
  upgrade_request upstream_request_;
  request_header client_request_;
  std::string upstream_key_;
  std::string chosen_protocol_;

  std::shared_ptr<leg> client_;
  std::shared_ptr<leg> upstream_;
  upstream_state upstream_state_ = upstream_state::open;

  // Per-direction message state.
  struct inbound {
    ws::frame_header frame;               // current data frame
    std::vector<std::uint8_t> hold;       // a small frame that came in pieces
    std::vector<std::uint8_t> message;    // a whole message being collected
    bool streaming = false;               // current frame is relayed piecewise
    bool discard = false;                 // rest of this message cannot be delivered
    bool delivered = false;               // current frame already sent whole
    bool live = false;                    // message goes to the upstream as it comes
    bool whole = false;                   // message is one frame of at most frame_hold_limit
    bool collect = false;                 // message is collected in `message`
    bool answered = false;                // tether answered it (not relayed)
  };
  inbound from_client_;
  inbound from_upstream_;

  // Upstream re-establishment (SPEC section 6).
  struct stored_message {
    ws::opcode op;
    std::vector<std::uint8_t> data;
  };
  void start_outage(leg& up, bool had_close_frame, std::uint16_t code, std::string_view reason);
  awaitable<void> reconnect();
  void restore(upstream_attempt up);
  void give_up(std::uint16_t code, std::string_view reason);
  void stop_reconnecting();
  bool wants_replay_copy() const;
  void note_forwarded(ws::opcode op, std::span<const std::uint8_t> payload);
  void buffer_or_send(ws::opcode op, std::span<const std::uint8_t> payload);
  bool buffer_fits(std::size_t extra_bytes) const;
  void buffer_overflow();
  void clear_buffer();

  std::size_t url_index_ = 0;         // upstream.urls entry in use
  std::size_t forwarded_count_ = 0;   // client messages forwarded (replay.first)
  std::vector<stored_message> replay_;
  std::size_t replay_bytes_ = 0;
  std::deque<stored_message> buffer_;
  std::size_t buffer_bytes_ = 0;
  steady::time_point outage_start_{};
  std::unique_ptr<net::steady_timer> backoff_timer_;
};

}  // namespace tether
