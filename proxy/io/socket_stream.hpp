#pragma once
// Plain TCP: the stream the relay uses for ws:// legs.
#include "io/byte_stream.hpp"
#include "io/socket_io.hpp"

namespace tether {

/// A stream on a TCP descriptor; the TLS streams are these too, so that the
/// handshake (transport.hpp) can reach the socket under any of them.
class fd_stream : public byte_stream {
 public:
  socket_io& io() { return io_; }
  int fd() const final { return io_.fd; }

 protected:
  explicit fd_stream(int fd) { io_.fd = fd; }
  explicit fd_stream(const socket_io& io) : io_(io) {}
  socket_io io_;
};

class socket_stream final : public fd_stream {
 public:
  explicit socket_stream(int fd) : fd_stream(fd) {}
  ~socket_stream() override { io_.close(); }

  io_status read(std::span<std::uint8_t> buf, std::size_t& n, error_code& ec) override {
    return io_.recv(buf.data(), buf.size(), n, ec);
  }
  io_status write(std::span<const std::uint8_t> buf, std::size_t& n, error_code& ec) override {
    return io_.send(buf.data(), buf.size(), n, ec);
  }
  bool drained() const override { return io_.last_read_short; }
  void shutdown_send() override { io_.shutdown_send(); }
  void close() override { io_.close(); }
};

}  // namespace tether
