#pragma once
// One client connection, from TLS to the last close frame. The handshake is
// a coroutine on the worker's thread; the relay is callbacks from its two
// legs (no coroutine, no per-session timer while idle). The upstream leg can
// be replaced underneath a running client leg (reconnect), and one wheel
// entry carries every timer.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "http/http_types.hpp"
#include "session/leg.hpp"
#include "session/relay_direction.hpp"
#include "server/listener_context.hpp"
#include "server/runtime.hpp"
#include "io/timer_wheel.hpp"
#include "http/upstream.hpp"

namespace tether {

class worker;
class http_passthrough;

class session final : public std::enable_shared_from_this<session>,
                      public wheel_entry,
                      public leg_owner {
 public:
  /// `peer`: the client's address, as accept returned it.
  session(worker& w, std::shared_ptr<const runtime> rt, std::shared_ptr<listener_context> lc,
          tcp::socket socket, const tcp::endpoint& peer, bool over_capacity);
  ~session() override;

  /// Starts the session's coroutine on its worker.
  void start();
  /// Graceful drain: close the client with 1001 (after `delay`).
  void drain();

  void on_timer(steady::time_point now) override;
  /// While relaying, a session owns itself; this hands that over (shutdown).
  std::shared_ptr<session> release_self() { return std::move(self_); }

  // Intrusive list of a worker's sessions (for drain).
  session* prev_in_worker = nullptr;
  session* next_in_worker = nullptr;

 private:
  // The session's state:
  //   handshake -> http -> handshake ...   plain HTTP, one request at a time
  //   handshake -> relay -> closing -> done
  // and, while relaying, the upstream's: open -> lost (the outage: client
  // messages are buffered while it reconnects) -> open again, or gone.
  enum class phase : std::uint8_t { handshake, http, relay, closing, done };
  enum class upstream_state : std::uint8_t { open, lost, gone };

  awaitable<void> run();
  awaitable<bool> serve_http(beast::flat_buffer& buffer);
  awaitable<void> serve_websocket(http::request_parser<http::buffer_body>& parser,
                                  beast::flat_buffer& buffer);
  awaitable<void> reply(string_response res);
  /// Counts and logs a failed handshake; `detail` says more than `why`.
  void fail_handshake(handshake_failure why, std::string_view detail = {});

  // Relay.
  void start_relay(std::unique_ptr<byte_stream> client, upstream_attempt up,
                   std::span<const std::uint8_t> client_leftover,
                   const ws::deflate_params& client_deflate = {});
  void attach_upstream(upstream_attempt up);
  leg* peer_of(const leg& l) const;
  // leg_owner
  void on_leg_bytes(leg& l, std::span<std::uint8_t> bytes) override;
  void on_leg_read_end(leg& l) override;
  void on_leg_closed(leg& l) override;
  bool may_read(leg& l) override;
  void on_leg_drained(leg& l) override;
  void on_leg_lingering(leg& l) override;
  // The two relay directions' policies (session_relay.cpp).
  struct client_side;
  struct upstream_side;
  void on_client_bytes(std::span<std::uint8_t> in);
  void on_upstream_bytes(leg& up, std::span<std::uint8_t> in);
  void on_client_control(const ws::frame_header& h, std::span<const std::uint8_t> payload);
  void on_upstream_control(leg& up, const ws::frame_header& h, std::span<const std::uint8_t> payload);
  void client_protocol_error(std::uint16_t code, const char* reason);
  void upstream_protocol_error(leg& up, std::uint16_t code, const char* reason);
  bool answer(std::span<const std::uint8_t> payload);
  /// Pings an idle leg; true when the leg's peer is found dead.
  bool check_leg(leg& l, const leg_heartbeat_config& c, leg_kind kind, steady::time_point now);

  // Endings.
  /// `l` ended without a closing handshake (EOF, reset, I/O error).
  void leg_lost(leg& l);
  /// The client leg ended (`why`, for the access log): the upstream gets `upstream_code`.
  void client_gone(std::uint16_t upstream_code, const char* why);
  void upstream_lost(leg& up, std::uint16_t code, std::string_view reason, bool had_close_frame);
  /// Waits (bounded) for the closing handshakes under way.
  void enter_closing();
  void finish_if_done();
  void schedule_next(steady::time_point now);
  /// The wheel's call while a plain HTTP exchange runs.
  void http_idle(steady::time_point now);

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
  bool openssl_records_ = false;          // tls.record_offload: false, for both legs
  // While a plain HTTP exchange runs and has an idle limit.
  http_passthrough* http_ = nullptr;
  std::string client_ip_;
  steady::time_point started_ = steady::now();
  std::size_t reconnects_ = 0;

  // The session's own tallies for its access-log line (session_access.cpp):
  // plain integers, counted where the route's metrics are.
  struct tallies {
    std::uint64_t messages_to_upstream = 0;
    std::uint64_t bytes_to_upstream = 0;
    std::uint64_t messages_to_client = 0;
    std::uint64_t bytes_to_client = 0;
    std::uint32_t pings_sent[2] = {0, 0};          // by leg_kind
    std::uint32_t heartbeat_timeouts[2] = {0, 0};  // by leg_kind
    std::uint32_t app_heartbeats_sent = 0;
    std::uint32_t app_heartbeats_answered = 0;
    steady::duration outage{};  // outages ended so far
  } tally_;
  /// The access-log line of a finished session (log.access).
  void log_access() const;
  /// The access-log line of a plain HTTP exchange.
  void log_http_access(std::string_view method, std::string_view target, const http_passthrough& http,
                       steady::time_point began) const;
  /// The outage under way is over (restored, given up or abandoned): count it.
  void end_outage();

  // The handshake, kept for reconnects as text (the client's own header is
  // not kept: the upstream request carries everything a reconnect needs).
  std::string upstream_request_;
  std::string client_target_;
  std::string chosen_protocol_;

  std::shared_ptr<session> self_;  // while relaying
  std::unique_ptr<leg> client_;
  std::unique_ptr<leg> upstream_;
  std::unique_ptr<leg> retiring_;  // a lost upstream leg finishing its close
  upstream_state upstream_state_ = upstream_state::open;

  relay_direction from_client_;
  relay_direction from_upstream_;

  // Upstream re-establishment (SPEC section 6).
  struct stored_message {
    ws::opcode op;
    std::vector<std::uint8_t> data;
  };
  /// Ends the upstream leg `up`: answers its close frame, or drops it.
  void let_upstream_go(leg& up, bool had_close_frame, std::uint16_t code, std::string_view reason);
  /// The upstream (closed with `code`) is to come back: buffer, reconnect.
  void start_outage(std::uint16_t code);
  awaitable<void> reconnect();
  void restore(upstream_attempt up);
  void give_up(std::uint16_t code, const char* reason);
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
  std::vector<stored_message> buffer_;
  std::size_t buffer_bytes_ = 0;
  steady::time_point outage_start_{};
  std::unique_ptr<net::steady_timer> backoff_timer_;

  // ---- Relay without a handshake (in-memory harness, fuzzing) ------------
 public:
  /// A session on `w` that relays at once between `client` and `upstream`,
  /// both already past their handshakes (e.g. io/memory_stream.hpp), for
  /// `route` of `rt`, each leg with the permessage-deflate it is taken to
  /// have negotiated. `upstream_request`: the upstream handshake as text,
  /// which reconnects send again (through the worker's connector); empty
  /// when the route does not reconnect. The session owns itself until it
  /// ends; the pointer returned is for looking at it.
  static std::shared_ptr<session> relay_without_handshake(
      worker& w, std::shared_ptr<const runtime> rt, std::shared_ptr<listener_context> lc,
      const route_runtime& route, std::unique_ptr<byte_stream> client,
      std::unique_ptr<byte_stream> upstream, std::string upstream_request,
      std::string client_target, const ws::deflate_params& client_deflate = {},
      const ws::deflate_params& upstream_deflate = {});
  /// The relay has ended (both legs closed).
  bool finished() const { return phase_ == phase::done; }

 private:
  /// Opens an upstream leg through the worker's connector, or open_upstream.
  awaitable<upstream_attempt> open_upstream_leg(const upstream_dial& d);
  // -------------------------------------------------------------------------
};

}  // namespace tether
