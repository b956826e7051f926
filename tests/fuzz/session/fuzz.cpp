// A whole session's relay, in memory (tests/support/session_harness.hpp),
// driven by a script decoded from the input: client and backend bytes in
// arbitrary pieces, well-formed messages both ways (compressed or not, when
// flags bit 2 negotiates permessage-deflate on both legs), backend losses
// (EOF or reset), refused and accepted reconnects, closes, backpressure, time.
//
// Invariants, besides no crash and no sanitizer report:
// - tether sends only well-formed frames (masked toward the backend only,
//   no reserved bits but RSV1 starting a message on a compressed leg, valid
//   deflate data, continuations inside messages, nothing after close);
// - in a direction that got only well-formed messages (no raw bytes), what
//   arrives is those messages, intact and in order (some may be missing,
//   after a loss or a close, none altered, reordered or invented), and all
//   of them when nothing was lost or closed;
// - a close frame tether sends carries a valid close code.
//
// Input: [flags][seed] then operations, each [op][args...] (see below).
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../fuzz_check.hpp"
#include "session_harness.hpp"

using namespace tether;
using namespace tether::testing;

namespace {

struct reader {
  std::span<const std::uint8_t> in;
  std::size_t at = 0;
  bool empty() const { return at >= in.size(); }
  std::uint8_t byte() { return empty() ? 0 : in[at++]; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(byte() << 8 | byte()); }
  std::span<const std::uint8_t> take(std::size_t n) {
    n = std::min(n, in.size() - std::min(at, in.size()));
    auto s = in.subspan(at, n);
    at += n;
    return s;
  }
};

bool valid_sent_code(std::uint16_t c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

/// `got` is `sent` with some messages left out, none changed or reordered.
bool in_order_subsequence(const std::vector<ws_message>& got, const std::vector<ws_message>& sent) {
  std::size_t j = 0;
  for (const auto& m : got) {
    while (j < sent.size() && !(sent[j] == m)) {
      ++j;
    }
    if (j == sent.size()) {
      return false;
    }
    ++j;
  }
  return true;
}

const std::string small_limit_route = R"(    limits:
      max_message_size: 1KiB
    reconnect:
      backoff:
        initial: 1ms
        max: 1ms
        jitter: 0
)";
const std::string no_reconnect_route = R"(    reconnect:
      enabled: false
)";

bytes make_payload(reader& r, std::size_t n, bool text) {
  bytes b(n);
  const auto seed = r.byte();
  for (std::size_t i = 0; i < n; ++i) {
    const auto v = static_cast<std::uint8_t>(seed + i * 31);
    b[i] = text ? static_cast<std::uint8_t>(' ' + v % 95) : v;
  }
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r{{data, size}};
  const auto flags = r.byte();
  session_harness::options o;
  o.seed = r.u16() + 1u;
  if (flags & 1) {
    o.route_yaml = small_limit_route;
  } else if (flags & 2) {
    o.route_yaml = no_reconnect_route;
  }
  o.compression = (flags & 4) != 0;
  session_harness h(o);

  std::vector<ws_message> up_sent, down_sent;
  bool up_raw = false, down_raw = false;  // raw bytes went that way
  bool lossy = false;                     // something may legitimately be missing

  for (int ops = 0; !r.empty() && ops < 64; ++ops) {
    const auto op = r.byte();
    switch (op & 0x0F) {
      case 0: {  // client raw bytes, in pieces of up to (op >> 4) + 1
        const auto n = r.byte();
        h.client_bytes(r.take(n), (op >> 4) + 1u);
        up_raw = true;
        break;
      }
      case 1: {  // backend raw bytes
        const auto n = r.byte();
        h.backend_bytes(r.take(n), (op >> 4) + 1u);
        down_raw = true;
        break;
      }
      case 2:
      case 3: {  // a well-formed message: length, fragments from op
        const bool from_client = (op & 0x0F) == 2;
        const bool text = (op & 0x10) != 0;
        std::size_t n = r.byte();
        if (op & 0x20) {
          n = n * 300;  // up to ~76 KiB: past the 64 KiB streaming threshold
        }
        auto payload = make_payload(r, n, text);
        const auto kind = text ? ws::opcode::text : ws::opcode::binary;
        const int fragments = 1 + ((op >> 6) & 3);
        const bool compress = o.compression && (r.byte() & 1) != 0;
        if (from_client) {
          if (!h.client().input_ended() && !h.client().failed()) {
            h.client_message(kind, payload, fragments, compress);
            up_sent.push_back({kind, std::move(payload)});
          }
        } else if (!h.backend().input_ended() && !h.backend().failed()) {
          h.backend_message(kind, payload, fragments, compress);
          down_sent.push_back({kind, std::move(payload)});
        }
        break;
      }
      case 4:
        h.backend_drop(false);
        lossy = true;
        break;
      case 5:
        h.backend_drop(true);
        lossy = true;
        break;
      case 6:
        h.set_accept_reconnects((op & 0x10) != 0);
        break;
      case 7: {  // time passes: backoff timers, reconnects
        const auto ms = 1 + (op >> 4) % 4;
        h.run_until([] { return false; }, std::chrono::milliseconds(ms));
        break;
      }
      case 8:
        h.client_close(r.u16(), "c");
        lossy = true;
        break;
      case 9:
        h.backend_close(r.u16(), "b");
        lossy = true;
        break;
      case 10:
        if (op & 0x10) {
          h.client().fail();
        } else {
          h.client().end_input();
        }
        h.poll();
        lossy = true;
        break;
      case 11: {  // backpressure on one side
        auto& p = (op & 0x10) ? h.client() : h.backend();
        if (op & 0x20) {
          p.limit_writes(0);
        } else {
          p.allow_writes(std::size_t{r.byte()} * 512);
        }
        h.poll();
        break;
      }
      case 12: {  // a ping from the client or the backend
        const auto f = encode_frame(ws::opcode::ping, true, to_bytes("p"), (op & 0x10) == 0);
        if (op & 0x10) {
          h.backend_bytes(f);
        } else {
          h.client_bytes(f);
        }
        break;
      }
      default:
        h.poll();
        break;
    }
  }
  // Let everything out.
  h.client().allow_writes(static_cast<std::size_t>(-1));
  for (std::size_t i = 0; i < h.backend_count(); ++i) {
    h.to_backend(i);
  }
  h.backend().allow_writes(static_cast<std::size_t>(-1));
  h.poll();

  auto& to_client = h.to_client();
  FUZZ_CHECK(to_client.violation.empty());
  FUZZ_CHECK(!to_client.after_close);
  FUZZ_CHECK(!to_client.close_code || valid_sent_code(*to_client.close_code) ||
             *to_client.close_code == ws::close_code::no_status);
  for (std::size_t i = 0; i < h.backend_count(); ++i) {
    auto& d = h.to_backend(i);
    FUZZ_CHECK(d.violation.empty());
    FUZZ_CHECK(!d.after_close);
    FUZZ_CHECK(!d.close_code || valid_sent_code(*d.close_code) || *d.close_code == ws::close_code::no_status);
  }
  const bool closed = to_client.close_code.has_value() || h.session_finished();
  if (!up_raw) {
    const auto got = h.all_backend_messages();
    FUZZ_CHECK(in_order_subsequence(got, up_sent));
    if (!lossy && !closed && !down_raw && h.backend_count() == 1) {
      FUZZ_CHECK(got.size() == up_sent.size());
    }
  }
  if (!down_raw) {
    FUZZ_CHECK(in_order_subsequence(to_client.messages, down_sent));
    if (!lossy && !closed && !up_raw && h.backend_count() == 1) {
      FUZZ_CHECK(to_client.messages.size() == down_sent.size());
    }
  }
  return 0;
}
