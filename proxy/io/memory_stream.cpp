#include "io/memory_stream.hpp"

#include <algorithm>
#include <cstring>

namespace tether {

void memory_pipe::report(readiness r) {
  if (watcher_ == nullptr || closed_) {
    return;
  }
  // As the poller dispatches an epoll batch: what the owner queues in
  // response is flushed when the batch ends.
  poller::batch b(poller_);
  watcher_->on_ready(r);
}

void memory_pipe::push(std::span<const std::uint8_t> bytes) {
  if (input_ended_ || failed_ || bytes.empty()) {
    return;
  }
  if (input_at_ == input_.size()) {
    input_.clear();
    input_at_ = 0;
  }
  input_.insert(input_.end(), bytes.begin(), bytes.end());
  report({.readable = true});
}

void memory_pipe::end_input() {
  if (input_ended_ || failed_) {
    return;
  }
  input_ended_ = true;
  report({.readable = true, .peer_ended = true});
}

void memory_pipe::fail() {
  if (failed_) {
    return;
  }
  failed_ = true;
  report({.readable = true, .writable = true, .peer_ended = true});
}

std::vector<std::uint8_t> memory_pipe::take_output() {
  std::vector<std::uint8_t> out;
  out.swap(output_);
  return out;
}

void memory_pipe::allow_writes(std::size_t n) {
  const auto max = std::numeric_limits<std::size_t>::max();
  write_capacity_ = n > max - write_capacity_ ? max : write_capacity_ + n;
  report({.writable = true});
}

memory_stream::~memory_stream() {
  pipe_->watcher_ = nullptr;
}

io_status memory_stream::read(std::span<std::uint8_t> buf, std::size_t& n, error_code& ec) {
  auto& p = *pipe_;
  n = 0;
  if (p.closed_) {
    ec = net::error::bad_descriptor;
    return io_status::error;
  }
  if (p.failed_) {
    ec = net::error::connection_reset;
    return io_status::error;
  }
  const auto avail = p.input_.size() - p.input_at_;
  if (avail == 0) {
    return p.input_ended_ ? io_status::eof : io_status::want_read;
  }
  n = std::min(avail, buf.size());
  std::memcpy(buf.data(), p.input_.data() + p.input_at_, n);
  p.input_at_ += n;
  return io_status::done;
}

io_status memory_stream::write(std::span<const std::uint8_t> buf, std::size_t& n, error_code& ec) {
  auto& p = *pipe_;
  n = 0;
  if (p.closed_ || p.send_ended_) {
    ec = net::error::bad_descriptor;
    return io_status::error;
  }
  if (p.failed_) {
    ec = net::error::broken_pipe;
    return io_status::error;
  }
  if (p.write_capacity_ == 0) {
    return io_status::want_write;
  }
  n = std::min(buf.size(), p.write_capacity_);
  p.output_.insert(p.output_.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  if (p.write_capacity_ != std::numeric_limits<std::size_t>::max()) {
    p.write_capacity_ -= n;
  }
  return io_status::done;
}

void memory_stream::close() {
  pipe_->closed_ = true;
  pipe_->watcher_ = nullptr;
}

void memory_stream::watch(pollable& p) {
  if (!pipe_->closed_) {
    pipe_->watcher_ = &p;
  }
}

}  // namespace tether
