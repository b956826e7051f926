#pragma once
// A worker thread's context: its own io_context, timer wheel and read
// buffer. A session lives on one worker for its whole life, so nothing on
// the data path is shared between threads.
#include <boost/asio/io_context.hpp>
#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "net.hpp"
#include "io/poller.hpp"
#include "io/timer_wheel.hpp"
#include "ws/deflate_codec.hpp"

namespace tether {

class session;
class upstream_connector;

class worker {
 public:
  /// Sized so that one read takes a full TLS record batch or a 64 KiB message.
  static constexpr std::size_t read_buffer_size = 256 * 1024;

  /// `coalesce`: the poller's delay between busy batches (poller.hpp).
  worker(std::size_t index, std::chrono::milliseconds tick, std::chrono::microseconds coalesce)
      : index_(index),
        ioc_(1),
        wheel_(ioc_, tick),
        poller_(ioc_, coalesce),
        read_buffer_(new std::uint8_t[read_buffer_size]) {}
  /// Ends the sessions still alive (shutdown without drain).
  ~worker();

  std::size_t index() const { return index_; }
  net::io_context& ioc() { return ioc_; }
  timer_wheel& wheel() { return wheel_; }
  tether::poller& poller() { return poller_; }
  /// Shared by every session on this worker: valid only during the callback
  /// that read into it.
  std::span<std::uint8_t> read_buffer() { return {read_buffer_.get(), read_buffer_size}; }
  /// permessage-deflate streams and buffers shared by this worker's sessions.
  ws::deflate_pool& codecs() { return codecs_; }
  /// Per-thread cheap random numbers for masking keys and jitter.
  std::uint64_t random() {
    // xorshift64*: masks only need to be unpredictable to the page's script,
    // which cannot observe tether's state.
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 2685821657736338717ULL;
  }
  void seed(std::uint64_t s) { rng_ = s | 1; }

  /// The sessions living on this worker (for drain); touched on its thread only.
  void add(session& s);
  void remove(session& s);
  std::size_t session_count() const { return session_count_; }
  template <class F>
  void for_each_session(F f);

  /// How this worker's sessions open upstream legs; null: open_upstream
  /// (the network). The in-memory harness serves them from memory.
  upstream_connector* connector() const { return connector_; }
  void set_connector(upstream_connector* c) { connector_ = c; }

 private:
  std::size_t index_;
  net::io_context ioc_;
  timer_wheel wheel_;
  tether::poller poller_;
  std::unique_ptr<std::uint8_t[]> read_buffer_;
  std::uint64_t rng_ = 0x9E3779B97F4A7C15ULL;
  session* sessions_ = nullptr;
  std::size_t session_count_ = 0;
  upstream_connector* connector_ = nullptr;
  ws::deflate_pool codecs_;
};

}  // namespace tether
