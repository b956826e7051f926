// The TLS 1.3 record open path (tls_records.hpp's public API only) under
// known keys: a sender seals records from fuzz data, some reach the receiver
// intact, some mutated, and some records are made up outright.
//
// Input: [suite][start sequence, 8 bytes] then operations, each a selector
// byte and its arguments (FuzzedDataProvider).
//
// Invariants: open() succeeds exactly for a record the sender sealed under
// the receiver's key at the receiver's sequence, unmodified, and then yields
// the sealed type and plaintext; every mutated, made-up, replayed or
// other-key record is rejected without disturbing the receiver (the next
// honest record still opens); open() reads only the record it is given
// (each record is its own heap block, for ASan).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "../fuzz_check.hpp"
#include "tls/tls_records.hpp"

namespace {

namespace tls13 = tether::tls13;

std::array<std::uint8_t, 48> secret(std::uint8_t seed) {
  std::array<std::uint8_t, 48> s{};
  for (std::size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<std::uint8_t>(seed + i * 7);
  }
  return s;
}

/// Opens a copy of `rec` in a block of exactly its size; true if it opened.
bool open_copy(tls13::record_layer& layer, const std::vector<std::uint8_t>& rec, std::uint8_t& type,
               std::vector<std::uint8_t>& plain) {
  auto block = std::make_unique<std::uint8_t[]>(std::max<std::size_t>(rec.size(), 1));
  std::copy(rec.begin(), rec.end(), block.get());
  std::size_t len = 0;
  if (!layer.open(block.get(), rec.size(), type, len)) {
    return false;
  }
  FUZZ_CHECK(len + tls13::overhead <= rec.size());
  plain.assign(block.get() + tls13::header_size, block.get() + tls13::header_size + len);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto s = static_cast<tls13::suite>(in.ConsumeIntegralInRange<int>(0, 2));
  const auto n = tls13::secret_size(s);
  // Near 2^64 too: the nonce takes the sequence's low 64 bits.
  const auto start = in.ConsumeIntegral<std::uint64_t>();
  const auto key_a = secret(1);
  const auto key_b = secret(2);
  const auto key_c = secret(3);
  const std::span a(key_a.data(), n);
  const std::span b(key_b.data(), n);
  const std::span c(key_c.data(), n);
  // The sender writes under `a`, which the receiver reads; a stranger
  // writes under `c`.
  tls13::record_layer sender(s, b, 0, a, start);
  tls13::record_layer receiver(s, a, start, b, 0);
  tls13::record_layer stranger(s, b, 0, c, start);
  FUZZ_CHECK(sender.ok() && receiver.ok() && stranger.ok());

  std::vector<std::uint8_t> last_opened;
  while (in.remaining_bytes() > 0) {
    const auto op = in.ConsumeIntegralInRange<int>(0, 5);
    std::uint8_t type = 0;
    std::vector<std::uint8_t> plain;
    switch (op) {
      case 0:    // honest record, delivered intact or mutated
      case 1: {  // a record under a key or sequence the receiver does not hold
        const bool mutate = op == 0 && in.ConsumeBool();
        // Type 0 cannot be sealed meaningfully: the receiver reads the last
        // non-zero byte as the type.
        const auto sent_type = in.ConsumeIntegralInRange<std::uint8_t>(1, 255);
        const auto len = in.ConsumeIntegralInRange<std::size_t>(0, tls13::max_plaintext);
        const auto body = in.ConsumeBytes<std::uint8_t>(len);
        std::vector<std::uint8_t> rec(body.size() + tls13::overhead);
        if (op == 1) {
          // The stranger's key, or the sender's key one record ahead.
          const bool ahead = in.ConsumeBool();
          auto& by = ahead ? sender : stranger;
          if (ahead) {
            FUZZ_CHECK(by.seal(sent_type, body, rec.data()) == rec.size());
          }
          FUZZ_CHECK(by.seal(sent_type, body, rec.data()) == rec.size());
          by.unseal(ahead ? 2 : 1);
          FUZZ_CHECK(!open_copy(receiver, rec, type, plain));
          break;
        }
        FUZZ_CHECK(sender.seal(sent_type, body, rec.data()) == rec.size());
        if (mutate) {
          sender.unseal(1);  // it never reaches the receiver as sent
          const auto how = in.ConsumeIntegralInRange<int>(0, 2);
          if (how == 0) {
            const auto at = in.ConsumeIntegralInRange<std::size_t>(0, rec.size() - 1);
            rec[at] ^= static_cast<std::uint8_t>(1u << in.ConsumeIntegralInRange<int>(0, 7));
          } else if (how == 1) {
            rec.resize(in.ConsumeIntegralInRange<std::size_t>(0, rec.size() - 1));
          } else {
            const auto extra = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(1, 64));
            rec.insert(rec.end(), extra.begin(), extra.end());
            if (extra.empty()) {
              rec.push_back(0);
            }
          }
          FUZZ_CHECK(!open_copy(receiver, rec, type, plain));
          break;
        }
        FUZZ_CHECK(open_copy(receiver, rec, type, plain));
        FUZZ_CHECK(type == sent_type);
        FUZZ_CHECK(plain == body);
        last_opened = rec;
        break;
      }
      case 2: {  // made up: any length, any header
        const auto len = in.ConsumeIntegralInRange<std::size_t>(0, tls13::max_body + tls13::header_size + 8);
        const auto rec = in.ConsumeBytes<std::uint8_t>(len);
        FUZZ_CHECK(!open_copy(receiver, rec, type, plain));
        break;
      }
      case 3: {  // made up with a well-formed header that matches its length
        auto rec = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 400));
        std::vector<std::uint8_t> head{tls13::content_application_data, 0x03, 0x03,
                                       static_cast<std::uint8_t>(rec.size() >> 8),
                                       static_cast<std::uint8_t>(rec.size())};
        rec.insert(rec.begin(), head.begin(), head.end());
        FUZZ_CHECK(!open_copy(receiver, rec, type, plain));
        break;
      }
      case 4:  // replay of the last record that opened
        if (!last_opened.empty()) {
          FUZZ_CHECK(!open_copy(receiver, last_opened, type, plain));
        }
        break;
      case 5:  // KeyUpdate on both ends: old records no longer open
        FUZZ_CHECK(sender.update_write() && receiver.update_read());
        break;
    }
  }
  return 0;
}
