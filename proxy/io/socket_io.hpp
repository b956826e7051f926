#pragma once
// The non-blocking socket calls under every TCP stream (plain, OpenSSL's
// BIO, tether's records), with the two facts the relay lives on: whether the
// last read came back short (the socket is empty, so the next read would
// only hear EAGAIN) and whether the peer's FIN was read.
#include <cstddef>
#include <cstdint>

#include "io/byte_stream.hpp"

namespace tether {

struct socket_io {
  int fd = -1;
  /// False while asio owns the socket (the handshake): then a short read
  /// makes the next one wait for readiness first (poll_first).
  bool owns_fd = false;
  bool poll_first = false;
  bool last_read_short = false;
  bool peer_eof = false;

  io_status recv(std::uint8_t* at, std::size_t room, std::size_t& got, error_code& ec);
  io_status send(const std::uint8_t* data, std::size_t size, std::size_t& sent, error_code& ec);
  void shutdown_send();
  /// Closes the descriptor if owned; it is gone either way.
  void close();
};

}  // namespace tether
