#pragma once
// A relayed leg's bytes, whatever carries them: plain TCP
// (io/socket_stream.hpp), TLS done by OpenSSL (tls/openssl_stream.hpp),
// TLS 1.3 records done by tether (tls/record_stream.hpp), or memory
// (io/memory_stream.hpp, for the in-memory session harness). Every call is a
// non-blocking attempt; readiness comes from the worker's poller, or from
// whoever drives a stream that has no descriptor.
//
// A stream may hand its connection on to a cheaper one (OpenSSL to tether's
// own records once the handshake's bytes are gone): the owner asks
// successor() and swaps, and nothing else changes.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "net.hpp"

namespace tether {

class pollable;

/// Outcome of one non-blocking attempt.
enum class io_status { done, want_read, want_write, eof, error };

class byte_stream {
 public:
  virtual ~byte_stream() = default;

  /// Reads what is available; `n` bytes on done.
  virtual io_status read(std::span<std::uint8_t> buf, std::size_t& n, error_code& ec) = 0;
  /// Writes what the connection takes; `n` bytes on done (a TLS stream told
  /// want_* needs the same bytes again).
  virtual io_status write(std::span<const std::uint8_t> buf, std::size_t& n, error_code& ec) = 0;
  /// After a successful read: nothing more was there, and nothing is left
  /// buffered inside the stream, so another read would only block.
  virtual bool drained() const = 0;
  /// Input already taken off the connection (TLS records that came with the
  /// handshake), which the poller cannot report.
  virtual bool holds_input() const { return false; }
  /// Ends our side (close_notify if TLS, then FIN); reading goes on.
  virtual void shutdown_send() = 0;
  /// Ends both sides (close_notify if TLS, best effort, never waits).
  virtual void close() = 0;
  /// The descriptor for the poller, or -1 for a stream driven by hand.
  virtual int fd() const = 0;
  /// The stream that takes the connection over from now on, or null.
  virtual std::unique_ptr<byte_stream> successor() { return nullptr; }
  /// A stream without a descriptor reports its readiness to `p` itself
  /// (p.on_ready) from now on; the leg calls this at its start when fd() < 0.
  virtual void watch(pollable& p) {}

 protected:
  byte_stream() = default;
  byte_stream(const byte_stream&) = delete;
  byte_stream& operator=(const byte_stream&) = delete;
};

}  // namespace tether
