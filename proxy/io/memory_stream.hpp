#pragma once
// A byte stream over memory, for running a session without sockets (the
// in-memory session harness, tests/support/session_harness.hpp, and the
// session fuzzer). It has no descriptor (fd() == -1): its readiness comes
// from whoever holds its memory_pipe, which pushes input, ends or fails it,
// takes what was written and, with a write capacity, lets writes block
// (io_status::want_write) until it frees room.
//
// The pipe is shared: it outlives the stream, so the harness can still read
// what a leg wrote after the session let go of it.
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "io/byte_stream.hpp"
#include "io/poller.hpp"

namespace tether {

class memory_pipe {
 public:
  /// `p`: the poller whose batch readiness is reported in, so that what the
  /// owner writes in response is flushed as after an epoll batch.
  explicit memory_pipe(tether::poller& p) : poller_(p) {}
  memory_pipe(const memory_pipe&) = delete;
  memory_pipe& operator=(const memory_pipe&) = delete;

  // The harness's side.
  /// Bytes for the stream's reader; reported readable at once.
  void push(std::span<const std::uint8_t> bytes);
  /// The peer ends its side (FIN): reads return EOF once the input is read.
  void end_input();
  /// The connection fails (reset): reads and writes fail from now on.
  void fail();
  /// Everything written since the last call.
  std::vector<std::uint8_t> take_output();
  const std::vector<std::uint8_t>& output() const { return output_; }
  /// Limits what writes take until more is allowed (backpressure);
  /// unlimited by default.
  void limit_writes(std::size_t capacity) { write_capacity_ = capacity; }
  /// Lets writes take `n` more bytes (unlimited: npos) and reports writable.
  void allow_writes(std::size_t n);
  std::size_t unread_input() const { return input_.size() - input_at_; }
  bool input_ended() const { return input_ended_; }
  bool failed() const { return failed_; }
  /// The stream's owner ended its sending side (shutdown_send) or closed it.
  bool send_ended() const { return send_ended_ || closed_; }
  bool closed() const { return closed_; }
  /// A stream is attached and watching (its leg started and is not closed).
  bool watched() const { return watcher_ != nullptr; }

 private:
  friend class memory_stream;
  void report(readiness r);

  tether::poller& poller_;
  pollable* watcher_ = nullptr;
  std::vector<std::uint8_t> input_;
  std::size_t input_at_ = 0;
  std::vector<std::uint8_t> output_;
  std::size_t write_capacity_ = std::numeric_limits<std::size_t>::max();
  bool input_ended_ = false;
  bool failed_ = false;
  bool send_ended_ = false;
  bool closed_ = false;
};

class memory_stream final : public byte_stream {
 public:
  explicit memory_stream(std::shared_ptr<memory_pipe> pipe) : pipe_(std::move(pipe)) {}
  ~memory_stream() override;

  io_status read(std::span<std::uint8_t> buf, std::size_t& n, error_code& ec) override;
  io_status write(std::span<const std::uint8_t> buf, std::size_t& n, error_code& ec) override;
  bool drained() const override { return pipe_->unread_input() == 0; }
  bool holds_input() const override { return pipe_->unread_input() > 0 || pipe_->input_ended_; }
  void shutdown_send() override { pipe_->send_ended_ = true; }
  void close() override;
  int fd() const override { return -1; }
  void watch(pollable& p) override;

 private:
  std::shared_ptr<memory_pipe> pipe_;
};

}  // namespace tether
