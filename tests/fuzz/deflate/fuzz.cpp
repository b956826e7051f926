// permessage-deflate's codec (ws/deflate_codec.*): tether's framing of zlib
// (the sync-flush tail, the size limit, recovery after bad data), on data
// from a peer and on round trips.
//
// Input: [mode][limit][level and window] then the bytes.
//   mode bit 0: the bytes are a peer's compressed message: inflate them
//               under the limit, with or without a reset (mode bit 1)
//   otherwise:  the bytes are a message: deflate and inflate it back, twice,
//               with context takeover when mode bit 1 is set
//   limit:      index into a table of max_message_size edge values
//
// Invariants: inflation never returns more than the limit (and stops one
// byte past it when it crosses); after any failure the same inflater still
// inflates RFC 7692's "Hello"; a round trip gives the message back, and the
// deflated form never ends with the 00 00 FF FF tail.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "../fuzz_check.hpp"
#include "ws/deflate_codec.hpp"

namespace {

using namespace tether::ws;

constexpr std::array<std::size_t, 8> limits{0, 1, 5, 125, 4096, 65536, 1 << 20, 16 << 20};
// RFC 7692 section 7.2.3.1.
constexpr std::array<std::uint8_t, 7> hello{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) {
    return 0;
  }
  const std::uint8_t mode = data[0];
  const std::size_t limit = limits[data[1] % limits.size()];
  const int level = data[2] % 10;
  const int bits = 9 + (data[2] / 10) % 7;
  const std::vector<std::uint8_t> in(data + 3, data + size);  // its own block: ASan sees overruns
  const bool reset = (mode & 2) == 0;

  if ((mode & 1) != 0) {
    inflater i(bits);
    std::vector<std::uint8_t> out;
    const auto r = i.inflate(in, out, limit, reset);
    if (r == inflater::result::ok) {
      FUZZ_CHECK(out.size() <= limit);
    } else if (r == inflater::result::too_big) {
      FUZZ_CHECK(out.size() == limit + 1);
    }
    // "Hello" has no back references: any window inflates it.
    FUZZ_CHECK(i.inflate(hello, out, 1024, true) == inflater::result::ok);
    FUZZ_CHECK(out.size() == 5 && out[0] == 'H' && out[4] == 'o');
    return 0;
  }

  deflater d(level, bits);
  inflater i(bits);
  std::vector<std::uint8_t> wire, back;
  for (int round = 0; round < 2; ++round) {
    FUZZ_CHECK(d.compress(in, wire, reset));
    FUZZ_CHECK(!(wire.size() >= 4 && wire[wire.size() - 4] == 0 && wire[wire.size() - 3] == 0 &&
                 wire[wire.size() - 2] == 0xff && wire[wire.size() - 1] == 0xff));
    FUZZ_CHECK(i.inflate(wire, back, in.size(), reset) == inflater::result::ok);
    FUZZ_CHECK(back == in);
  }
  return 0;
}
