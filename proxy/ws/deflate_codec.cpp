#include "ws/deflate_codec.hpp"

#include <algorithm>
#include <new>

namespace tether::ws {
namespace {

constexpr std::array<std::uint8_t, 4> sync_tail{0x00, 0x00, 0xFF, 0xFF};
/// Output grows by at least this much per inflate or deflate step.
constexpr std::size_t step = 4096;

}  // namespace

deflater::deflater(int level, int window_bits) : level_(level), bits_(window_bits) {
  // memLevel 8 is zlib's default; negative window bits: raw deflate.
  if (deflateInit2(&z_, level, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::bad_alloc();
  }
}

deflater::~deflater() { deflateEnd(&z_); }

bool deflater::compress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out,
                        bool reset) {
  if (reset) {
    deflateReset(&z_);
  }
  out.resize(deflateBound(&z_, static_cast<uLong>(in.size())) + 16);
  z_.next_in = const_cast<Bytef*>(in.data());
  z_.avail_in = static_cast<uInt>(in.size());
  std::size_t used = 0;
  for (;;) {
    z_.next_out = out.data() + used;
    z_.avail_out = static_cast<uInt>(out.size() - used);
    const int rc = deflate(&z_, Z_SYNC_FLUSH);
    used = out.size() - z_.avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return false;
    }
    // Done when all input is taken and zlib had room to spare.
    if (z_.avail_in == 0 && z_.avail_out != 0) {
      break;
    }
    out.resize(out.size() + step);
  }
  out.resize(used);
  if (out.size() >= 4 && std::equal(sync_tail.begin(), sync_tail.end(), out.end() - 4)) {
    out.resize(out.size() - 4);
  }
  return true;
}

inflater::inflater(int window_bits) {
  if (inflateInit2(&z_, -window_bits) != Z_OK) {
    throw std::bad_alloc();
  }
}

inflater::~inflater() { inflateEnd(&z_); }

inflater::result inflater::inflate(std::span<const std::uint8_t> in,
                                   std::vector<std::uint8_t>& out, std::size_t limit,
                                   bool reset) {
  if (reset) {
    inflateReset(&z_);
  }
  out.clear();
  ended_stream_ = false;
  auto r = run(in, out, limit);
  if (r == result::ok) {
    r = run(sync_tail, out, limit);
  }
  if (r != result::ok) {
    inflateReset(&z_);  // a half-read message must not leak into the next
  }
  return r;
}

inflater::result inflater::run(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out,
                               std::size_t limit) {
  if (in.empty()) {
    return result::ok;
  }
  z_.next_in = const_cast<Bytef*>(in.data());
  z_.avail_in = static_cast<uInt>(in.size());
  for (;;) {
    const std::size_t used = out.size();  // at most limit here
    // Room for at most one byte past the limit: enough to see it crossed.
    const std::size_t room = std::min(std::max(step, in.size() * 2), limit + 1 - used);
    out.resize(used + room);
    z_.next_out = out.data() + used;
    z_.avail_out = static_cast<uInt>(room);
    const int rc = ::inflate(&z_, Z_SYNC_FLUSH);
    out.resize(out.size() - z_.avail_out);
    if (out.size() > limit) {
      return result::too_big;
    }
    if (rc == Z_STREAM_END) {
      // A final block (BFINAL): anything after it is not deflate data, and
      // the next message starts a new stream.
      inflateReset(&z_);
      ended_stream_ = true;
      return result::ok;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return result::bad_data;
    }
    // All input taken and zlib had output room to spare: nothing is pending.
    if (z_.avail_in == 0 && z_.avail_out != 0) {
      return result::ok;
    }
    if (rc == Z_BUF_ERROR && z_.avail_out != 0) {
      return result::bad_data;  // no progress with input and room: inconsistent data
    }
  }
}

inflater& deflate_pool::shared_inflater() {
  if (!inflater_) {
    inflater_ = std::make_unique<inflater>(15);  // inflates any smaller window too
  }
  return *inflater_;
}

deflater& deflate_pool::shared_deflater(int level, int window_bits) {
  for (auto& d : deflaters_) {
    if (d->level() == level && d->window_bits() == window_bits) {
      return *d;
    }
  }
  deflaters_.push_back(std::make_unique<deflater>(level, window_bits));
  return *deflaters_.back();
}

}  // namespace tether::ws
