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
  void attach_upstream(upstream_attempt up);
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

  // The handshake, kept for reconnects.
  upgrade_request upstream_request_;
  request_header client_request_;
  std::string upstream_key_;
  std::string chosen_protocol_;

  std::shared_ptr<leg> client_;
  std::shared_ptr<leg> upstream_;
  upstream_state upstream_state_ = upstream_state::open;

  // Client -> upstream message state.
  struct inbound {
    ws::frame_header frame;                  // current data frame
    std::vector<std::uint8_t> hold;          // a small frame that came in pieces
    bool streaming = false;                  // current frame is relayed piecewise
    bool discard = false;                    // rest of this message cannot be delivered
    bool delivered = false;                  // current frame already sent whole
  };
  inbound from_client_;
  inbound from_upstream_;
  ws::opcode client_msg_op_ = ws::opcode::cont;
};

}  // namespace tether
