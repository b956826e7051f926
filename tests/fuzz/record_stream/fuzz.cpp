// A TLS 1.3 leg after the handoff (record_stream: alerts, KeyUpdate both
// ways, session tickets, records split anywhere on the wire) against a peer
// built from the record layer's public API, over a socketpair: the same
// non-blocking socket calls tether makes on TCP.
//
// Input: [suite][as_client][worn write key] then operations, each a
// selector and its arguments (FuzzedDataProvider). The peer sends honest
// records (application data, KeyUpdates with or without a request, session
// tickets split over records, user_canceled, close_notify) and dishonest
// ones (garbage, a flipped bit, a wrong outer type, an error alert, data in
// the middle of a handshake message, a KeyUpdate that does not end its
// record, a ticket to a server), hands the wire to the socket in pieces, and
// reads what tether sends; tether reads, and writes application data.
//
// Invariants:
//  - what read() yields is always a prefix of the application data the peer
//    sealed honestly, in order;
//  - while the peer is honest (and sends at most 32 records in a row without
//    application data), read() never fails and, once the wire is all on the
//    socket, yields every byte; after close_notify it reports the end;
//  - every record tether sends opens under the keys the peer tracks (its
//    KeyUpdate replies included), its application data is what write()
//    reported written, in order, and nothing follows an alert of tether's;
//  - a KeyUpdate that requests one gets a KeyUpdate back;
//  - an error alert from the peer gets no alert in return.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "../fuzz_check.hpp"
#include "tls/record_stream.hpp"
#include "tls/tls_records.hpp"

namespace {

namespace tls13 = tether::tls13;
using tether::io_status;

constexpr std::uint8_t handshake_key_update = 24;
constexpr std::uint8_t handshake_new_session_ticket = 4;
constexpr int max_records_without_data = 32;  // as record_stream.cpp bounds them

std::array<std::uint8_t, 48> secret(std::uint8_t seed) {
  std::array<std::uint8_t, 48> s{};
  for (std::size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<std::uint8_t>(seed + i * 5);
  }
  return s;
}

/// With RECORD_STREAM_TRACE set, what happens, for reading a crash input.
void trace(const char* format, ...) {
  static const bool on = std::getenv("RECORD_STREAM_TRACE") != nullptr;
  if (on) {
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
  }
}

void append(std::vector<std::uint8_t>& to, std::span<const std::uint8_t> bytes) {
  to.insert(to.end(), bytes.begin(), bytes.end());
}

/// The far end: seals what it sends under the key tether reads, opens what
/// tether sends under the key tether writes, following KeyUpdates both ways.
class peer {
 public:
  peer(tls13::suite s, std::span<const std::uint8_t> read, std::uint64_t read_seq,
       std::span<const std::uint8_t> write, int fd)
      : keys_(s, read, read_seq, write, 0), fd_(fd) {
    FUZZ_CHECK(keys_.ok());
  }

  /// One record onto the wire (not yet on the socket).
  void seal(std::uint8_t type, std::span<const std::uint8_t> body) {
    std::vector<std::uint8_t> rec(body.size() + tls13::overhead);
    FUZZ_CHECK(keys_.seal(type, body, rec.data()) == rec.size());
    append(wire_, rec);
  }
  void update_write() { FUZZ_CHECK(keys_.update_write()); }
  std::vector<std::uint8_t>& wire() { return wire_; }

  /// Moves up to `n` bytes of the wire onto the socket.
  void flush(std::size_t n) {
    n = std::min(n, wire_.size());
    std::size_t done = 0;
    while (done < n) {
      const auto r = ::send(fd_, wire_.data() + done, n - done, MSG_NOSIGNAL);
      if (r <= 0) {
        break;  // full (tether must read first) or tether closed its end
      }
      done += static_cast<std::size_t>(r);
    }
    wire_.erase(wire_.begin(), wire_.begin() + static_cast<std::ptrdiff_t>(done));
  }

  /// Reads whatever tether sent and opens every whole record of it.
  void receive() {
    std::uint8_t buf[8192];
    for (;;) {
      const auto r = ::recv(fd_, buf, sizeof buf, 0);
      if (r <= 0) {
        break;
      }
      append(in_, {buf, static_cast<std::size_t>(r)});
    }
    while (in_.size() >= tls13::header_size) {
      const std::size_t body = static_cast<std::size_t>(in_[3]) << 8 | in_[4];
      if (in_.size() < tls13::header_size + body) {
        break;
      }
      FUZZ_CHECK(in_[0] == tls13::content_application_data);
      FUZZ_CHECK(!alert_from_tether);  // nothing after an alert
      std::uint8_t type = 0;
      std::size_t len = 0;
      FUZZ_CHECK(keys_.open(in_.data(), tls13::header_size + body, type, len));
      const std::uint8_t* p = in_.data() + tls13::header_size;
      if (type == tls13::content_application_data) {
        append(app_from_tether, {p, len});
      } else if (type == tls13::content_handshake) {
        // tether's only handshake message: KeyUpdate, update_not_requested.
        FUZZ_CHECK(len == 5 && p[0] == handshake_key_update && p[3] == 1 && p[4] == 0);
        FUZZ_CHECK(keys_.update_read());
        ++key_updates_from_tether;
      } else {
        FUZZ_CHECK(type == tls13::content_alert && len == 2);
        alert_from_tether = true;
        alert = p[1];
      }
      in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(tls13::header_size + body));
    }
  }

  std::vector<std::uint8_t> app_from_tether;
  int key_updates_from_tether = 0;
  bool alert_from_tether = false;
  std::uint8_t alert = 0;

 private:
  tls13::record_layer keys_;
  int fd_;
  std::vector<std::uint8_t> wire_;
  std::vector<std::uint8_t> in_;
};

/// What the peer has sent, and so what tether's reads must show.
struct model {
  bool as_client = false;
  bool dishonest = false;      // some input may now end the session
  bool alert_first = false;    // an error alert was the first dishonest record
  bool close_notify_sent = false;
  bool key_update_requested = false;
  int records_without_data = 0;
  std::vector<std::uint8_t> app_sent;

  /// One more record that carries no application data.
  void no_data() {
    if (++records_without_data > max_records_without_data) {
      dishonest = true;
    }
  }
};

struct reader {
  tether::record_stream& stream;
  peer& far;
  std::vector<std::uint8_t> got;
  bool failed = false;
  bool eof = false;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(tls13::max_plaintext + tls13::header_size + tls13::max_body);

  /// Reads until tether has nothing more to give.
  void drain() {
    for (int rounds = 0; rounds < 256 && !failed && !eof; ++rounds) {
      std::size_t n = 0;
      tether::error_code ec;
      const auto st = stream.read(buf, n, ec);
      trace("  read: %d, %zu bytes%s%s\n", static_cast<int>(st), n, ec ? ", " : "", ec ? ec.message().c_str() : "");
      if (st == io_status::done) {
        FUZZ_CHECK(n > 0 && n <= buf.size());
        append(got, {buf.data(), n});
      } else if (st == io_status::want_write) {
        far.receive();  // a KeyUpdate reply waits for room
      } else if (st == io_status::want_read) {
        return;
      } else if (st == io_status::eof) {
        eof = true;
      } else {
        FUZZ_CHECK(ec);
        failed = true;
      }
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto s = static_cast<tls13::suite>(in.ConsumeIntegralInRange<int>(0, 2));
  model m;
  m.as_client = in.ConsumeBool();
  // A write key near its limit makes tether's first writes update it.
  const std::uint64_t write_seq =
      in.ConsumeBool() ? tls13::max_records_per_key - in.ConsumeIntegralInRange<std::uint64_t>(0, 3) : 0;
  const auto n = tls13::secret_size(s);
  const auto key_a = secret(1);
  const auto key_b = secret(2);
  const std::span a(key_a.data(), n);
  const std::span b(key_b.data(), n);

  int fds[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  tether::socket_io io;
  io.fd = fds[0];
  io.owns_fd = true;  // the stream closes it
  // tether reads under a and writes under b; the peer the other way round.
  tether::record_stream stream(io, std::make_unique<tls13::record_layer>(s, a, 0, b, write_seq), m.as_client);
  peer far(s, b, write_seq, a, fds[1]);
  reader r{stream, far};
  std::vector<std::uint8_t> written;  // what tether's write() reported as taken
  std::vector<std::uint8_t> unsent;   // the rest of the caller's buffer

  while (in.remaining_bytes() > 0 && !r.failed && !r.eof) {
    const int op = in.ConsumeIntegralInRange<int>(0, 9);
    trace("op %d: dishonest %d, sent %zu, read %zu, wire %zu, without data %d\n", op, m.dishonest,
          m.app_sent.size(), r.got.size(), far.wire().size(), m.records_without_data);
    switch (op) {
      case 0: {  // application data
        const auto len = in.ConsumeBool() ? in.ConsumeIntegralInRange<std::size_t>(0, 64)
                                          : in.ConsumeIntegralInRange<std::size_t>(0, tls13::max_plaintext);
        std::vector<std::uint8_t> body(len, static_cast<std::uint8_t>(m.app_sent.size()));
        for (std::size_t i = 0; i < body.size(); i += 97) {
          body[i] = static_cast<std::uint8_t>(i);
        }
        far.seal(tls13::content_application_data, body);
        trace("  %zu bytes\n", body.size());
        if (!m.close_notify_sent && !m.dishonest) {
          append(m.app_sent, body);
        }
        if (body.empty()) {
          m.no_data();
        } else {
          m.records_without_data = 0;
        }
        break;
      }
      case 1: {  // KeyUpdate, its message split over records at `split`
        const std::uint8_t request = in.ConsumeBool() ? 1 : 0;
        const std::uint8_t msg[] = {handshake_key_update, 0, 0, 1, request};
        const auto split = in.ConsumeIntegralInRange<std::size_t>(0, 4);
        const bool trailing = in.ConsumeIntegralInRange<int>(0, 7) == 0;  // not at its record's end
        if (split > 0) {
          far.seal(tls13::content_handshake, {msg, split});
          m.no_data();
        }
        std::vector<std::uint8_t> last(msg + split, msg + 5);
        if (trailing) {
          last.push_back(0);
          m.dishonest = true;
        }
        far.seal(tls13::content_handshake, last);
        trace("  KeyUpdate: request %d, split at %zu, trailing byte %d\n", request, split, trailing);
        far.update_write();
        m.no_data();
        m.key_update_requested |= request == 1 && !m.dishonest && !m.close_notify_sent;
        break;
      }
      case 2: {  // NewSessionTicket: passed over on an upstream leg, fatal on a client leg
        const auto len = in.ConsumeIntegralInRange<std::uint32_t>(0, 600);
        std::vector<std::uint8_t> msg{handshake_new_session_ticket, static_cast<std::uint8_t>(len >> 16),
                                      static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)};
        msg.resize(4 + len, 0x5a);
        trace("  ticket of %u bytes\n", len);
        if (!m.as_client) {
          m.dishonest = true;
        }
        // In up to three records; between them the message is unfinished.
        std::size_t at = 0;
        for (int k = 0; k < 2 && at < msg.size(); ++k) {
          const auto piece = in.ConsumeIntegralInRange<std::size_t>(1, msg.size() - at);
          if (at + piece == msg.size()) {
            break;
          }
          far.seal(tls13::content_handshake, {msg.data() + at, piece});
          at += piece;
          m.no_data();
        }
        if (at > 0 && in.ConsumeIntegralInRange<int>(0, 15) == 0) {
          // Left unfinished, and application data in the middle of it
          // (RFC 8446 5.1 forbids the interleaving).
          const std::uint8_t early[] = {'x'};
          far.seal(tls13::content_application_data, early);
          m.dishonest = true;
          break;
        }
        far.seal(tls13::content_handshake, {msg.data() + at, msg.size() - at});
        m.no_data();
        break;
      }
      case 3: {  // an alert: user_canceled and close_notify are honest
        const auto which = in.ConsumeIntegralInRange<int>(0, 2);
        const std::uint8_t desc = which == 0 ? 90 : which == 1 ? 0 : in.ConsumeIntegral<std::uint8_t>();
        const std::uint8_t alert[] = {static_cast<std::uint8_t>(desc == 90 || desc == 0 ? 1 : 2), desc};
        far.seal(tls13::content_alert, alert);
        trace("  alert %d\n", desc);
        if (desc == 0) {
          m.close_notify_sent = true;
        } else if (desc != 90) {
          m.alert_first = !m.dishonest && !m.close_notify_sent;
          m.dishonest = true;
        } else {
          m.no_data();
        }
        break;
      }
      case 4: {  // garbage on the wire
        append(far.wire(), in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(1, 64)));
        m.dishonest = true;
        break;
      }
      case 5: {  // a sealed record, then one bit of it flipped, or its outer type changed
        const auto before = far.wire().size();
        const auto body = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 256));
        far.seal(tls13::content_application_data, body);
        auto& w = far.wire();
        if (in.ConsumeBool()) {
          const auto at = in.ConsumeIntegralInRange<std::size_t>(before, w.size() - 1);
          w[at] ^= static_cast<std::uint8_t>(1u << in.ConsumeIntegralInRange<int>(0, 7));
        } else {
          w[before] ^= in.ConsumeIntegralInRange<std::uint8_t>(1, 255);
        }
        m.dishonest = true;
        break;
      }
      case 6:  // part of the wire onto the socket, then tether reads
        far.flush(in.ConsumeIntegralInRange<std::size_t>(1, 20000));
        r.drain();
        break;
      case 7: {  // tether writes application data; after want_write, the same again, as the relay does
        if (unsent.empty()) {
          unsent.resize(in.ConsumeIntegralInRange<std::size_t>(0, 40000));
          for (std::size_t i = 0; i < unsent.size(); ++i) {
            unsent[i] = static_cast<std::uint8_t>(written.size() + i);
          }
        }
        std::size_t taken = 0;
        tether::error_code ec;
        const auto st = stream.write(unsent, taken, ec);
        FUZZ_CHECK(taken <= unsent.size());
        if (st == io_status::done) {
          append(written, {unsent.data(), taken});
          unsent.erase(unsent.begin(), unsent.begin() + static_cast<std::ptrdiff_t>(taken));
        } else if (st == io_status::error) {
          unsent.clear();
        }
        break;
      }
      case 8:
        far.receive();
        break;
      default: {  // a record of a content type tether never accepts
        const std::uint8_t body[] = {1, 2, 3};
        auto type = in.ConsumeIntegral<std::uint8_t>();
        if (type == 0 || (type >= tls13::content_alert && type <= tls13::content_application_data)) {
          type = 20;  // change_cipher_spec, which TLS 1.3 only allows during the handshake
        }
        far.seal(type, body);
        m.dishonest = true;
        break;
      }
    }
    FUZZ_CHECK(r.got.size() <= m.app_sent.size());
    if (!m.dishonest) {
      FUZZ_CHECK(!r.failed);
    }
    FUZZ_CHECK(std::equal(r.got.begin(), r.got.end(), m.app_sent.begin()));
  }

  // Everything onto the socket, tether reads it all, the peer reads the rest.
  for (int k = 0; k < 64 && !far.wire().empty() && !r.failed && !r.eof; ++k) {
    far.flush(far.wire().size());
    r.drain();
    far.receive();
  }
  r.drain();
  far.receive();
  // The relay retries a write that waited for room until it is done.
  for (int k = 0; k < 64 && !unsent.empty(); ++k) {
    std::size_t taken = 0;
    tether::error_code ec;
    const auto st = stream.write(unsent, taken, ec);
    if (st == io_status::error) {
      break;
    }
    append(written, {unsent.data(), taken});
    unsent.erase(unsent.begin(), unsent.begin() + static_cast<std::ptrdiff_t>(taken));
    far.receive();
  }

  FUZZ_CHECK(r.got.size() <= m.app_sent.size());
  FUZZ_CHECK(std::equal(r.got.begin(), r.got.end(), m.app_sent.begin()));
  if (!m.dishonest) {
    FUZZ_CHECK(!r.failed);
    FUZZ_CHECK(r.got == m.app_sent);
    FUZZ_CHECK(r.eof == m.close_notify_sent);
    // After close_notify a reply still waiting for room is moot: the
    // session ends at that read.
    if (m.key_update_requested && !m.close_notify_sent) {
      FUZZ_CHECK(far.key_updates_from_tether > 0);
    }
  }
  // tether's application data reached the peer as written.
  FUZZ_CHECK(far.app_from_tether.size() <= written.size() + tls13::max_plaintext);
  if (!r.failed && unsent.empty()) {
    FUZZ_CHECK(far.app_from_tether.size() == written.size());
  }
  FUZZ_CHECK(std::equal(far.app_from_tether.begin(),
                        far.app_from_tether.begin() + static_cast<std::ptrdiff_t>(std::min(far.app_from_tether.size(), written.size())),
                        written.begin()));
  if (m.alert_first) {
    FUZZ_CHECK(r.failed && !far.alert_from_tether);
  }
  ::close(fds[1]);
  return 0;
}
