#pragma once
// zlib for permessage-deflate (RFC 7692 section 7.2): raw deflate, each
// message ended by a sync flush whose 00 00 FF FF tail is left off the wire.
// A worker shares one inflater and a deflater per (level, window) among all
// of its sessions, reset for every message, so that a session that keeps
// no context holds no zlib state; a leg with context takeover owns its own.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <zlib.h>

namespace tether::ws {

class deflater {
 public:
  deflater(int level, int window_bits);
  ~deflater();
  deflater(const deflater&) = delete;
  deflater& operator=(const deflater&) = delete;

  /// Replaces `out` with the compressed form of `in`. `reset`: from an
  /// empty window (no context takeover). False only if zlib failed.
  bool compress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out, bool reset);
  int level() const { return level_; }
  int window_bits() const { return bits_; }

 private:
  z_stream z_{};
  int level_;
  int bits_;
};

class inflater {
 public:
  enum class result { ok, too_big, bad_data };

  explicit inflater(int window_bits);
  ~inflater();
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;

  /// Replaces `out` with one message's payload inflated. Stops as soon as
  /// the output passes `limit` (a decompression bomb costs at most that).
  result inflate(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out,
                 std::size_t limit, bool reset);
  /// The last message ended its deflate stream (a block with BFINAL set).
  bool ended_stream() const { return ended_stream_; }

 private:
  result run(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out, std::size_t limit);
  z_stream z_{};
  bool ended_stream_ = false;
};

/// A worker's shared streams and scratch buffers (one thread, no locks).
class deflate_pool {
 public:
  inflater& shared_inflater();
  deflater& shared_deflater(int level, int window_bits);
  /// Where an inflated and a deflated message are put, reused.
  std::vector<std::uint8_t> inflated;
  std::vector<std::uint8_t> deflated;

 private:
  std::unique_ptr<inflater> inflater_;
  std::vector<std::unique_ptr<deflater>> deflaters_;  // made on first use, a few at most
};

}  // namespace tether::ws
