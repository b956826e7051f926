#pragma once
// TLS done by OpenSSL on a TCP descriptor, through tether's own BIO (which
// notes whether the last read emptied the socket, so the relay never reads
// just to hear EAGAIN). Every leg's handshake runs here. A TLS 1.3 session
// then leaves OpenSSL as soon as the relay has it and OpenSSL holds no
// bytes: successor() hands it to tether's own records (tls/record_stream.hpp)
// and the SSL object is freed, unless the listener keeps records in OpenSSL.
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "io/socket_stream.hpp"
#include "tls/handoff_watch.hpp"

namespace tether {

class openssl_stream final : public fd_stream {
 public:
  /// Server side (`as_client` false) or client side of a TLS session on
  /// `fd`, which the caller keeps owning until io().owns_fd says otherwise.
  /// ok() is false if OpenSSL could not make the session.
  openssl_stream(int fd, SSL_CTX* ctx, bool as_client);
  ~openssl_stream() override;
  bool ok() const { return ssl_ != nullptr; }

  /// Client side: SNI and a host-name (or IP) check against `server_name`
  /// when the context verifies.
  void expect_server(const std::string& server_name);
  /// One non-blocking step of the handshake: done, want_*, or error.
  io_status handshake(error_code& ec);
  /// Why the peer's certificate was refused, or empty.
  std::string verify_error() const;
  /// OpenSSL keeps this session's records for its whole life.
  void keep_records();

  io_status read(std::span<std::uint8_t> buf, std::size_t& n, error_code& ec) override;
  io_status write(std::span<const std::uint8_t> buf, std::size_t& n, error_code& ec) override;
  bool drained() const override;
  bool holds_input() const override;
  void shutdown_send() override;
  void close() override;
  std::unique_ptr<byte_stream> successor() override;

 private:
  /// close_notify, one non-blocking attempt, once the handshake is done.
  void send_close_notify();
  void stop_watching();

  SSL* ssl_ = nullptr;
  // What the handshake revealed for the handoff, until it (or for good
  // when records stay in OpenSSL: then null).
  std::unique_ptr<handoff_watch> watch_;
  bool write_blocked_ = false;  // OpenSSL holds a record the socket has not taken
};

}  // namespace tether
