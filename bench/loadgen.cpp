// tether_loadgen: a WebSocket load generator for benchmarking tether against
// other proxies. It is an independent client: it does not link tether_core and
// shares no code with the proxy it measures.
//
//   tether_loadgen run  --url wss://127.0.0.1:18443/ --sessions 100 --size 64 --inflight 1
//   tether_loadgen run  --url wss://127.0.0.1:18443/ --sessions 100 --size 64 --rate 20000
//   tether_loadgen rate --url wss://127.0.0.1:18443/ --concurrency 16
//   tether_loadgen idle --url wss://127.0.0.1:18443/ --sessions 1000 --connect-rate 2000
//
// run   N sessions each keep P binary messages of S bytes in flight against an
//       echoing backend for --duration seconds after --warmup seconds, and the
//       round trip of every message goes into a log-linear histogram.
//       With --rate R the sessions are paced to R round trips per second in
//       all: each session sends its next message one period (sessions / R
//       seconds) after the previous one was due, still with at most P in
//       flight. The first sends are spread at random over one period. When an
//       echo comes back after the next send was due, that send leaves at once
//       and the schedule restarts from then: no burst to catch up, so the
//       offered rate falls short rather than the latency being inflated by a
//       backlog (the JSON line's "late_sends" says how often). Latency is
//       measured from the actual send, as without --rate.
// rate  C connectors open sessions (TCP + TLS + upgrade), close them with a
//       close handshake, and start again, for --duration seconds.
// idle  opens N sessions (paced by --connect-rate), answers pings, and holds
//       them until SIGINT/SIGTERM or --hold seconds, or with --until-closed
//       until the server has ended every one. The JSON line counts the
//       server's close codes (1006: no close frame), and with --until-closed
//       lists when each session ended, in seconds on CLOCK_MONOTONIC, so that
//       whoever signalled the server can place them in its own timeline.
// zcost no network: deflates and inflates the --deflate message of --size
//       bytes over and over for --duration seconds and prints the CPU of one
//       of each: what compressing once costs, to read the proxies' CPU against.
// Each mode prints one JSON line on stdout at the end; idle mode also prints
// {"event":"open",...} once every session is open (or has failed).
//
// Why not Beast's websocket::stream over asio::ssl::stream: on the benchmark
// machine the load generator shares one core with the backend, so its cost per
// message bounds what any proxy can show. This client drives OpenSSL directly
// on the socket's descriptor (C++20 coroutines on asio; once a session is open
// its readiness comes from the worker's own edge-triggered epoll set, and a
// short read is taken to mean the socket is empty, so a round trip costs one
// recv and one send) and writes frames itself: pongs are answered, every
// message is masked as RFC 6455 requires (a fixed key per session, the payload
// masked once up front), several frames leave in one TLS record, and nothing
// is allocated per message. Server frames are parsed as a stream (fragmented messages, control
// frames between fragments), so the payload is never buffered.
//
// Checks: each echo must have the size sent and carry, in its first 8 bytes,
// the sequence number of the oldest message in flight on that session; any
// difference counts as an error. Text messages (the demo backend's optional
// time pushes) are counted and otherwise ignored: the load is binary.
//
// --deflate (run and idle): every session offers permessage-deflate (RFC 7692)
// with client_no_context_takeover and server_no_context_takeover. In run mode
// the messages are then JSON-like text of --size bytes whose "seq" field (16
// hex digits at offset 8) carries the sequence number; each is deflated on its
// own (zlib level 6, raw, 15-bit window, as a browser would) and sent with
// RSV1 when the server accepted the extension, in clear otherwise. Echoes are
// collected whole and inflated when RSV1 is set, then checked like binary
// ones. The JSON line adds the bytes on the client leg per round trip over the
// measured window: TCP payload (TLS records included) each way, and the
// WebSocket payload of the echoes as received (compressed or not).
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <map>
#include <mutex>
#include <vector>
#include <zlib.h>

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;
template <class T>
using awaitable = net::awaitable<T>;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
/// The most a session reads before the other sessions of its thread get a turn.
constexpr std::size_t fair_turn = 256 * 1024;

namespace {

// ------------------------------------------------------------- options ----

enum class mode_type { run, rate, idle, zcost };

struct options {
  mode_type mode = mode_type::run;
  std::string url = "wss://127.0.0.1:8443/";
  std::string ca;
  bool insecure = false;
  std::string ciphersuites = "TLS_AES_128_GCM_SHA256";
  int sessions = 100;
  std::size_t size = 64;
  int inflight = 1;
  double rate = 0.0;  // run: round trips per second over all sessions; 0: unpaced
  double duration = 5.0;
  double warmup = 1.0;
  int threads = 1;
  int concurrency = 0;        // 0: mode default
  double connect_rate = 0.0;  // sessions per second, 0: unlimited
  double connect_timeout = 10.0;
  double hold = 600.0;
  double open_timeout = 0.0;  // 0: derived from sessions, rate and connect timeout
  int proxy_pid = 0;
  int backend_pid = 0;
  bool deflate = false;  // offer permessage-deflate; run: JSON-like text, deflated
  bool until_closed = false;  // idle: exit once the server has ended every session
};

void usage(FILE* out) {
  std::fputs(
      "usage: tether_loadgen MODE [options]\n"
      "modes:\n"
      "  run    round trips of binary messages against an echo backend (default)\n"
      "  rate   new sessions per second (TCP + TLS + upgrade + close handshake)\n"
      "  idle   open sessions and hold them, answering pings\n"
      "  zcost  no network: CPU of deflating and inflating one --deflate message of --size\n"
      "         bytes (level 6, raw, reset per message), for --duration seconds\n"
      "options:\n"
      "  --url URL             ws:// or wss://host:port/path (default wss://127.0.0.1:8443/)\n"
      "  --ca FILE             CA bundle that verifies the server (default: system store)\n"
      "  --insecure            do not verify the server certificate\n"
      "  --ciphersuites LIST   TLS 1.3 suites offered (default TLS_AES_128_GCM_SHA256)\n"
      "  --sessions N          sessions for run and idle (default 100)\n"
      "  --size BYTES          message size for run (default 64)\n"
      "  --inflight P          messages in flight per session for run (default 1)\n"
      "  --rate R              run: pace the sessions to R round trips per second in all;\n"
      "                        each sends one message per sessions/R seconds, with at most\n"
      "                        P in flight, and never bursts to catch up (default 0: unpaced,\n"
      "                        each echo is answered at once)\n"
      "  --duration S          measured seconds for run and rate (default 5)\n"
      "  --warmup S            unmeasured seconds before that (default 1)\n"
      "  --threads N           event-loop threads (default 1)\n"
      "  --concurrency C       sessions being opened at once (run/idle: 64, rate: 16)\n"
      "  --connect-rate R      at most R new sessions per second (default unlimited)\n"
      "  --connect-timeout S   TCP + TLS + upgrade must finish within S (default 10)\n"
      "  --hold S              idle: exit after S seconds if no signal came (default 600)\n"
      "  --until-closed        idle: exit once the server has ended every session\n"
      "  --open-timeout S      run/idle: stop waiting for sessions to open after S\n"
      "                        (default: connect timeout + 5 + sessions/connect-rate + sessions/20)\n"
      "  --proxy-pid PID       report this process's CPU time over the measured window\n"
      "  --backend-pid PID     same for the backend\n"
      "  --deflate             offer permessage-deflate (no context takeover either way);\n"
      "                        run: JSON-like text messages, deflated when accepted\n",
      out);
}

bool parse_args(int argc, char** argv, options& opts) {
  int i = 1;
  if (i < argc && argv[i][0] != '-') {
    const std::string_view m = argv[i++];
    if (m == "run") {
      opts.mode = mode_type::run;
    } else if (m == "rate") {
      opts.mode = mode_type::rate;
    } else if (m == "idle") {
      opts.mode = mode_type::idle;
    } else if (m == "zcost") {
      opts.mode = mode_type::zcost;
    } else {
      std::fprintf(stderr, "tether_loadgen: unknown mode '%s'\n", argv[i - 1]);
      return false;
    }
  }
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) {
        return *inline_value;
      }
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tether_loadgen: %s wants a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&]() -> double {
      const std::string text = value();
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !(v >= 0)) {
        std::fprintf(stderr, "tether_loadgen: %s: not a number: '%s'\n", arg.c_str(), text.c_str());
        std::exit(2);
      }
      return v;
    };
    if (arg == "-h" || arg == "--help") {
      usage(stdout);
      std::exit(0);
    } else if (arg == "--url") {
      opts.url = value();
    } else if (arg == "--ca") {
      opts.ca = value();
    } else if (arg == "--insecure") {
      opts.insecure = true;
    } else if (arg == "--ciphersuites") {
      opts.ciphersuites = value();
    } else if (arg == "--sessions") {
      opts.sessions = static_cast<int>(number());
    } else if (arg == "--size") {
      opts.size = static_cast<std::size_t>(number());
    } else if (arg == "--inflight") {
      opts.inflight = std::max(1, static_cast<int>(number()));
    } else if (arg == "--rate") {
      opts.rate = number();
    } else if (arg == "--duration") {
      opts.duration = number();
    } else if (arg == "--warmup") {
      opts.warmup = number();
    } else if (arg == "--threads") {
      opts.threads = std::max(1, static_cast<int>(number()));
    } else if (arg == "--concurrency") {
      opts.concurrency = std::max(1, static_cast<int>(number()));
    } else if (arg == "--connect-rate") {
      opts.connect_rate = number();
    } else if (arg == "--connect-timeout") {
      opts.connect_timeout = number();
    } else if (arg == "--hold") {
      opts.hold = number();
    } else if (arg == "--until-closed") {
      opts.until_closed = true;
    } else if (arg == "--open-timeout") {
      opts.open_timeout = number();
    } else if (arg == "--proxy-pid") {
      opts.proxy_pid = static_cast<int>(number());
    } else if (arg == "--backend-pid") {
      opts.backend_pid = static_cast<int>(number());
    } else if (arg == "--deflate") {
      opts.deflate = true;
    } else {
      std::fprintf(stderr, "tether_loadgen: unknown option '%s'\n", arg.c_str());
      usage(stderr);
      return false;
    }
  }
  if (opts.rate > 0 && opts.mode != mode_type::run) {
    std::fprintf(stderr, "tether_loadgen: --rate is for run mode only\n");
    return false;
  }
  if (opts.concurrency == 0) {
    opts.concurrency = opts.mode == mode_type::rate ? 16 : 64;
  }
  if (opts.mode == mode_type::zcost) {
    opts.deflate = true;
  }
  if (opts.deflate && (opts.mode == mode_type::run || opts.mode == mode_type::zcost) && opts.size < 40) {
    std::fprintf(stderr, "tether_loadgen: --deflate wants --size 40 or more (the JSON message's frame)\n");
    return false;
  }
  return true;
}

/// A JSON-like message of exactly `size` bytes (size >= 40): a market-data
/// style update whose "seq" value (16 hex digits) starts at offset 8, then
/// records with pseudo-random numbers, like what dashboards and tickers send.
std::string json_message(std::size_t size) {
  std::string s = "{\"seq\":\"0000000000000000\",\"items\":[";
  std::uint32_t r = 12345;
  auto next = [&r] {
    r = r * 1103515245u + 12345u;
    return (r >> 8) & 0xffff;
  };
  static const char* const syms[] = {"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "NFLX"};
  static const char* const sides[] = {"buy", "sell"};
  for (bool first = true;; first = false) {
    char item[160];
    const unsigned a = next(), b = next(), c = next();
    std::snprintf(item, sizeof item, "%s{\"id\":%u,\"sym\":\"%s\",\"px\":%u.%02u,\"qty\":%u,\"side\":\"%s\"}",
                  first ? "" : ",", 100000 + a, syms[b % 8], 50 + b % 400, c % 100, 1 + c % 500, sides[a % 2]);
    if (s.size() + std::strlen(item) + 2 > size) {
      break;
    }
    s += item;
  }
  s += "]";
  s.append(size - 1 - std::min(size - 1, s.size()), ' ');  // JSON whitespace up to the size
  s += "}";
  s.resize(size);
  return s;
}

// -------------------------------------------------------------- target ----

struct target {
  bool tls = false;
  std::string host;       // without brackets
  std::string host_port;  // for the Host header
  std::uint16_t port = 0;
  std::string path = "/";
  bool host_is_ip = false;
  tcp::endpoint endpoint;
};

std::optional<target> parse_url(const std::string& url) {
  target t;
  std::string_view rest = url;
  if (rest.starts_with("wss://")) {
    t.tls = true;
    rest.remove_prefix(6);
  } else if (rest.starts_with("ws://")) {
    rest.remove_prefix(5);
  } else {
    return std::nullopt;
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  t.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  t.host_port = std::string(authority);
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    t.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port_text = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.rfind(':');
    t.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
    }
  }
  t.port = t.tls ? 443 : 80;
  if (!port_text.empty()) {
    const long p = std::strtol(std::string(port_text).c_str(), nullptr, 10);
    if (p <= 0 || p > 65535) {
      return std::nullopt;
    }
    t.port = static_cast<std::uint16_t>(p);
  }
  error_code ec;
  const auto address = net::ip::make_address(t.host, ec);
  t.host_is_ip = !ec;
  if (t.host_is_ip) {
    t.endpoint = tcp::endpoint(address, t.port);
  } else {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    const auto results = resolver.resolve(t.host, std::to_string(t.port), ec);
    if (ec || results.empty()) {
      std::fprintf(stderr, "tether_loadgen: cannot resolve %s: %s\n", t.host.c_str(), ec.message().c_str());
      return std::nullopt;
    }
    t.endpoint = results.begin()->endpoint();
  }
  return t;
}

// ----------------------------------------------------------- histogram ----

/// Log-linear histogram of nanosecond values, in the manner of HdrHistogram:
/// values below 256 are exact, above that each power of two is split into 128
/// buckets (at most 0.4% relative error). Fixed size, so recording never
/// allocates.
class histogram {
 public:
  static constexpr int sub_bits = 7;
  static constexpr std::uint64_t linear = std::uint64_t{2} << sub_bits;  // 256
  static constexpr std::size_t buckets = (64 - sub_bits) * (std::size_t{1} << sub_bits) + linear;

  histogram() : counts_(buckets, 0) {}

  void record(std::uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    max_ = std::max(max_, v);
    sum_ += v;
  }
  void reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = 0;
    max_ = 0;
    sum_ = 0;
  }
  void merge(const histogram& other) {
    for (std::size_t i = 0; i < buckets; ++i) {
      counts_[i] += other.counts_[i];
    }
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
  }
  std::uint64_t total() const { return total_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return total_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(total_); }

  /// Value at quantile q (0..1): the middle of the bucket holding it.
  double quantile(double q) const {
    if (total_ == 0) {
      return 0.0;
    }
    const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const auto [lo, hi] = bounds(i);
        return std::min(static_cast<double>(max_), (static_cast<double>(lo) + static_cast<double>(hi)) / 2.0);
      }
    }
    return static_cast<double>(max_);
  }

 private:
  static std::size_t index(std::uint64_t v) {
    if (v < linear) {
      return static_cast<std::size_t>(v);
    }
    const int shift = std::bit_width(v) - 1 - sub_bits;  // >= 1
    return static_cast<std::size_t>(shift) * (std::size_t{1} << sub_bits) + static_cast<std::size_t>(v >> shift);
  }
  static std::pair<std::uint64_t, std::uint64_t> bounds(std::size_t i) {
    if (i < linear) {
      return {i, i};
    }
    const std::size_t shift = i / (std::size_t{1} << sub_bits) - 1;
    const std::uint64_t mantissa = i - shift * (std::size_t{1} << sub_bits);
    return {mantissa << shift, ((mantissa + 1) << shift) - 1};
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;
};

// ------------------------------------------------------------- helpers ----

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// utime + stime of a process in seconds, from /proc/PID/stat; -1 if unreadable.
double process_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) {
    return -1.0;
  }
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  double utime = 0;
  double stime = 0;
  // After the command come state (field 3) ... utime (14) and stime (15).
  for (int n = 3; n <= 15 && (fields >> field); ++n) {
    if (n == 14) {
      utime = std::strtod(field.c_str(), nullptr);
    } else if (n == 15) {
      stime = std::strtod(field.c_str(), nullptr);
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

std::string websocket_accept(const std::string& key) {
  const std::string text = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return base64(digest, sizeof digest);
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

/// Appends a masked client frame header for `len` payload bytes.
void append_frame_header(std::vector<char>& out, std::uint8_t opcode, std::uint64_t len, const std::uint8_t key[4]) {
  std::uint8_t h[14];
  std::size_t n = 0;
  h[n++] = static_cast<std::uint8_t>(0x80 | opcode);
  if (len < 126) {
    h[n++] = static_cast<std::uint8_t>(0x80 | len);
  } else if (len < 65536) {
    h[n++] = 0x80 | 126;
    h[n++] = static_cast<std::uint8_t>(len >> 8);
    h[n++] = static_cast<std::uint8_t>(len);
  } else {
    h[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; --i) {
      h[n++] = static_cast<std::uint8_t>(len >> (8 * i));
    }
  }
  std::memcpy(h + n, key, 4);
  n += 4;
  out.insert(out.end(), reinterpret_cast<const char*>(h), reinterpret_cast<const char*>(h) + n);
}

// --------------------------------------------------------------- state ----

/// Shared by every thread; written before the threads start, or atomic.
struct shared_state {
  options opts;
  target tgt;
  SSL_CTX* ssl_ctx = nullptr;
  clock_type::time_point start;
  clock_type::duration period{};  // run with --rate: between one session's sends
  std::atomic<int> next_session{0};  // idle/run: index of the next session to open
  std::atomic<int> opened{0};
  std::atomic<int> failed{0};
  std::atomic<long> dropped{0};  // open sessions that the server closed or lost
  std::atomic<long> pings{0};
  std::atomic<long> messages_in{0};  // idle mode: data messages received
  std::atomic<int> deflate_sessions{0};  // --deflate: sessions whose server accepted it
  std::string json;  // --deflate run: the message text, its seq field at offset 8
  std::atomic<bool> stop{false};
  // idle: how and when the server ended sessions (once per session).
  std::mutex ends_mutex;
  std::map<int, long> end_codes;
  std::vector<double> end_times;
  std::atomic<int> ended{0};

  void server_ended(int code) {
    const double at = std::chrono::duration<double>(clock_type::now().time_since_epoch()).count();
    {
      std::lock_guard lock(ends_mutex);
      ++end_codes[code];
      end_times.push_back(at);
    }
    ended.fetch_add(1, std::memory_order_relaxed);
  }
};

shared_state* g = nullptr;

struct worker;

enum class io_status { ok, want_read, want_write, eof, error };

/// One client WebSocket session: a socket, optionally OpenSSL on its
/// descriptor, a streaming frame parser and an output buffer.
struct conn {
  explicit conn(worker& w);
  ~conn() { reset(); }
  conn(const conn&) = delete;
  conn& operator=(const conn&) = delete;

  worker& w;
  tcp::socket sock;
  SSL* ssl = nullptr;
  bool setup_done = false;
  std::uint64_t generation = 0;  // tells a stale set-up timeout from the current one
  bool closed = false;        // socket closed by us; the pump ends
  bool close_sent = false;
  bool close_received = false;
  bool failed = false;        // protocol or I/O error
  std::string pending_in;     // bytes that came with the upgrade response
  std::uint8_t key[4]{};

  // Output: frames waiting for the socket; drained by a helper coroutine when
  // the socket does not take everything at once.
  std::vector<char> out;
  std::size_t out_pos = 0;
  bool draining = false;

  // Frame parser.
  std::uint8_t hdr[14]{};
  std::size_t hdr_len = 0;
  std::size_t hdr_need = 2;
  std::uint64_t payload_left = 0;
  std::uint8_t opcode = 0;
  bool fin = false;
  bool in_frame = false;  // header complete, payload pending
  std::uint8_t ctl[125]{};
  std::size_t ctl_len = 0;
  bool in_message = false;
  std::uint8_t msg_opcode = 0;
  std::uint64_t msg_len = 0;
  std::uint8_t seq_buf[8]{};
  std::size_t seq_len = 0;
  bool deflate = false;     // --deflate and the server accepted it
  bool msg_rsv1 = false;    // the message being received is compressed
  std::string msg_buf;      // --deflate run: the echo being received, whole

  // run mode
  std::vector<char> payload;  // masked with `key`, except the sequence number
  std::vector<clock_type::time_point> sent_at;
  std::size_t sent_head = 0;
  std::size_t sent_count = 0;
  std::uint64_t send_seq = 0;
  std::uint64_t recv_seq = 0;
  // run mode with --rate: the next message is due at next_send; send_timer
  // waits for that when no echo will come first.
  net::steady_timer send_timer;
  clock_type::time_point next_send;
  bool timer_armed = false;

  // Once open (run and idle modes): readiness comes from the worker's own
  // edge-triggered epoll set (worker::watch), so a wait costs no syscall. asio's async_wait
  // re-arms its epoll entry with epoll_ctl on every wait: one more syscall per
  // round trip on the load generator's core, which is the one that limits the
  // unpipelined cells.
  bool watched = false;
  bool readable = true;   // no EAGAIN seen since the last EPOLLIN edge
  bool writable = true;
  bool rx_empty = false;  // the last recv was short; cleared by the next edge
  net::any_completion_handler<void(error_code)> read_waiter;
  net::any_completion_handler<void(error_code)> write_waiter;

  io_status read_some(char* p, std::size_t n, std::size_t& got);
  io_status write_some(const char* p, std::size_t n, std::size_t& put);
  io_status read_some_raw(char* p, std::size_t n, std::size_t& got);
  io_status recv_raw(char* p, std::size_t n, std::size_t& got);
  io_status write_some_raw(const char* p, std::size_t n, std::size_t& put);
  void note_blocked(io_status st);
  awaitable<bool> wait(io_status st);
  awaitable<bool> write_all(const char* p, std::size_t n);
  awaitable<bool> open_session();
  awaitable<void> pump();
  awaitable<void> drain(io_status st);
  void flush();
  bool feed(const char* p, std::size_t n);
  bool frame_header_done();
  void frame_done();
  void on_message();
  void queue_control(std::uint8_t op, const std::uint8_t* data, std::size_t len);
  void queue_message(clock_type::time_point now);
  void paced_send(clock_type::time_point now, bool from_timer);
  void arm_send_timer();
  void start_close();
  void fail();
  void finish();
  void reset();
};

/// One event-loop thread and its statistics.
struct worker {
  net::io_context ioc{1};
  std::vector<std::unique_ptr<conn>> conns;
  std::vector<char> rbuf = std::vector<char>(256 * 1024);
  histogram hist;
  bool measuring = false;
  bool sending = true;
  std::uint64_t msgs = 0;         // measured round trips (run) or sessions (rate)
  std::uint64_t errors = 0;       // mismatches, protocol errors, failed sessions (rate)
  std::uint64_t text_msgs = 0;    // ignored pushes
  std::uint64_t late_sends = 0;   // --rate: measured sends that slipped the schedule
  std::uint64_t wire_in = 0;      // measured TCP payload bytes received (TLS records included)
  std::uint64_t wire_out = 0;     // and sent
  std::uint64_t ws_in = 0;        // measured echoes' WebSocket payload bytes as received
  // --deflate: one deflate and one inflate stream per thread, reset per message
  // (no context takeover), and their buffers.
  z_stream zdef{};
  z_stream zinf{};
  bool zready = false;
  std::string plain;
  std::string zbuf;
  void zinit();
  std::size_t deflate_into(const std::string& text);  // into zbuf, without the 00 00 ff ff tail
  bool inflate_into(const std::string& data);          // into plain
  std::atomic<long> outstanding{0};
  std::thread thread;

  // The readiness set behind conn::watched, itself waited on through asio.
  int ep = -1;
  net::posix::stream_descriptor ep_desc{ioc};
  std::vector<epoll_event> events = std::vector<epoll_event>(256);
  void watch(conn& c);
  void arm();
  void on_ready();
};

void worker::watch(conn& c) {
  if (ep < 0) {
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
      return;  // asio's waits still work
    }
    ep_desc.assign(ep);
    arm();
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c.sock.native_handle(), &ev) == 0) {
    c.watched = true;
    c.readable = c.writable = true;
  }
}

void worker::arm() {
  ep_desc.async_wait(net::posix::stream_descriptor::wait_read, [this](error_code ec) {
    if (!ec) {
      on_ready();
    }
  });
}

/// Marks each ready session and resumes the coroutine waiting on it, inline.
void worker::on_ready() {
  for (;;) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 0);
    for (int i = 0; i < n; ++i) {
      auto& c = *static_cast<conn*>(events[i].data.ptr);
      const auto e = events[i].events;
      if ((e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
        c.readable = true;
        c.rx_empty = false;
        if (c.read_waiter) {
          std::move(c.read_waiter)(error_code{});
        }
      }
      if ((e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
        c.writable = true;
        if (c.write_waiter) {
          std::move(c.write_waiter)(error_code{});
        }
      }
    }
    if (n < static_cast<int>(events.size())) {
      break;
    }
  }
  arm();
}

void worker::zinit() {
  if (zready) {
    return;
  }
  // Raw deflate (negative window bits), as RFC 7692 frames it.
  deflateInit2(&zdef, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  inflateInit2(&zinf, -15);
  zready = true;
}

std::size_t worker::deflate_into(const std::string& text) {
  zinit();
  deflateReset(&zdef);
  zbuf.resize(deflateBound(&zdef, text.size()) + 16);
  zdef.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zdef.avail_in = static_cast<uInt>(text.size());
  zdef.next_out = reinterpret_cast<Bytef*>(zbuf.data());
  zdef.avail_out = static_cast<uInt>(zbuf.size());
  deflate(&zdef, Z_SYNC_FLUSH);
  std::size_t n = zbuf.size() - zdef.avail_out;
  if (n >= 4 && std::memcmp(zbuf.data() + n - 4, "\x00\x00\xff\xff", 4) == 0) {
    n -= 4;  // RFC 7692 7.2.1: the sync flush's empty stored block is not sent
  }
  zbuf.resize(n);
  return n;
}

bool worker::inflate_into(const std::string& data) {
  zinit();
  inflateReset(&zinf);
  zbuf.assign(data);
  zbuf.append("\x00\x00\xff\xff", 4);
  plain.resize(g->json.size() + 64);  // an echo larger than what was sent is an error anyway
  zinf.next_in = reinterpret_cast<Bytef*>(zbuf.data());
  zinf.avail_in = static_cast<uInt>(zbuf.size());
  zinf.next_out = reinterpret_cast<Bytef*>(plain.data());
  zinf.avail_out = static_cast<uInt>(plain.size());
  const int rc = inflate(&zinf, Z_SYNC_FLUSH);
  plain.resize(plain.size() - zinf.avail_out);
  return (rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR) && zinf.avail_in == 0;
}

conn::conn(worker& w_) : w(w_), sock(w_.ioc), send_timer(w_.ioc) {}

io_status conn::read_some(char* p, std::size_t n, std::size_t& got) {
  const auto st = read_some_raw(p, n, got);
  note_blocked(st);
  return st;
}

io_status conn::write_some(const char* p, std::size_t n, std::size_t& put) {
  const auto st = write_some_raw(p, n, put);
  note_blocked(st);
  return st;
}

/// Either direction's want_read or want_write comes from an EAGAIN on the
/// socket: until the next edge, that direction is not ready.
void conn::note_blocked(io_status st) {
  if (st == io_status::want_read) {
    readable = false;
  } else if (st == io_status::want_write) {
    writable = false;
  }
}

io_status conn::read_some_raw(char* p, std::size_t n, std::size_t& got) {
  got = 0;
  if (watched && rx_empty && (ssl == nullptr || SSL_has_pending(ssl) == 0)) {
    // The last recv emptied the socket and no edge came since: the read
    // that would say EAGAIN is a syscall saved per round trip.
    rx_empty = false;
    return io_status::want_read;
  }
  if (ssl != nullptr) {
    ERR_clear_error();
    if (SSL_read_ex(ssl, p, n, &got) == 1) {
      return io_status::ok;
    }
    switch (SSL_get_error(ssl, 0)) {
      case SSL_ERROR_WANT_READ: return io_status::want_read;
      case SSL_ERROR_WANT_WRITE: return io_status::want_write;
      case SSL_ERROR_ZERO_RETURN: return io_status::eof;
      default: return io_status::error;
    }
  }
  return recv_raw(p, n, got);
}

/// The socket's recv, for the plain path and under TLS (socket_bio_read).
io_status conn::recv_raw(char* p, std::size_t n, std::size_t& got) {
  for (;;) {
    const ssize_t r = ::recv(sock.native_handle(), p, n, 0);
    if (r > 0) {
      got = static_cast<std::size_t>(r);
      if (w.measuring) {
        w.wire_in += got;
      }
      rx_empty = got < n;  // a short read took all there was
      return io_status::ok;
    }
    if (r == 0) {
      return io_status::eof;
    }
    if (errno == EINTR) {
      continue;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK ? io_status::want_read : io_status::error;
  }
}

// OpenSSL's socket BIO, but reading through conn::recv_raw so that a short
// read is seen (rx_empty).
int socket_bio_read(BIO* b, char* p, std::size_t n, std::size_t* got) {
  BIO_clear_retry_flags(b);
  const auto st = static_cast<conn*>(BIO_get_data(b))->recv_raw(p, n, *got);
  if (st == io_status::want_read) {
    BIO_set_retry_read(b);
  }
  return st == io_status::ok ? 1 : 0;
}

int socket_bio_write(BIO* b, const char* p, std::size_t n, std::size_t* put) {
  BIO_clear_retry_flags(b);
  conn* c = static_cast<conn*>(BIO_get_data(b));
  const int fd = c->sock.native_handle();
  for (;;) {
    const ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r >= 0) {
      *put = static_cast<std::size_t>(r);
      if (c->w.measuring) {
        c->w.wire_out += *put;
      }
      return 1;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_write(b);
    }
    return 0;
  }
}

long socket_bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "loadgen socket");
    BIO_meth_set_read_ex(m, socket_bio_read);
    BIO_meth_set_write_ex(m, socket_bio_write);
    BIO_meth_set_ctrl(m, socket_bio_ctrl);
    return m;
  }();
  return method;
}

io_status conn::write_some_raw(const char* p, std::size_t n, std::size_t& put) {
  put = 0;
  if (ssl != nullptr) {
    ERR_clear_error();
    if (SSL_write_ex(ssl, p, n, &put) == 1) {
      return io_status::ok;
    }
    switch (SSL_get_error(ssl, 0)) {
      case SSL_ERROR_WANT_READ: return io_status::want_read;
      case SSL_ERROR_WANT_WRITE: return io_status::want_write;
      default: return io_status::error;
    }
  }
  for (;;) {
    const ssize_t r = ::send(sock.native_handle(), p, n, MSG_NOSIGNAL);
    if (r >= 0) {
      put = static_cast<std::size_t>(r);
      if (w.measuring) {
        w.wire_out += put;
      }
      return io_status::ok;
    }
    if (errno == EINTR) {
      continue;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK ? io_status::want_write : io_status::error;
  }
}

awaitable<bool> conn::wait(io_status st) {
  const bool for_write = st == io_status::want_write;
  auto& waiter = for_write ? write_waiter : read_waiter;
  if (watched && !waiter) {  // a second waiter for the same edge takes asio's path
    if (closed) {
      co_return false;
    }
    if (!(for_write ? writable : readable)) {
      auto [ec] = co_await net::async_initiate<decltype(use_tuple), void(error_code)>(
          // Boost 1.81's move assignment recurses forever; swap instead.
          [&waiter](auto handler) { decltype(read_waiter)(std::move(handler)).swap(waiter); },
          use_tuple);
      if (ec) {
        co_return false;
      }
    }
    co_return !closed;
  }
  auto [ec] = co_await sock.async_wait(st == io_status::want_write ? tcp::socket::wait_write : tcp::socket::wait_read,
                                       use_tuple);
  co_return !ec;
}

awaitable<bool> conn::write_all(const char* p, std::size_t n) {
  while (n > 0) {
    std::size_t put = 0;
    const auto st = write_some(p, n, put);
    if (st == io_status::ok) {
      p += put;
      n -= put;
    } else if (st == io_status::want_read || st == io_status::want_write) {
      if (!co_await wait(st)) {
        co_return false;
      }
    } else {
      co_return false;
    }
  }
  co_return true;
}

void conn::reset() {
  if (ssl != nullptr) {
    SSL_free(ssl);
    ssl = nullptr;
  }
  error_code ignored;
  sock.close(ignored);
  send_timer.cancel();
  timer_armed = false;
  watched = false;
  setup_done = closed = close_sent = close_received = failed = false;
  pending_in.clear();
  out.clear();
  out_pos = 0;
  hdr_len = 0;
  hdr_need = 2;
  payload_left = 0;
  in_frame = in_message = false;
  ctl_len = msg_len = seq_len = 0;
  deflate = msg_rsv1 = false;
  msg_buf.clear();
  sent_head = sent_count = 0;
  send_seq = recv_seq = 0;
}

/// TCP connect, TLS handshake, HTTP upgrade. False on any failure or timeout.
awaitable<bool> conn::open_session() {
  const auto& opts = g->opts;
  reset();
  RAND_bytes(key, sizeof key);

  // Closing the socket is how the timeout interrupts whichever step is waiting.
  net::steady_timer timer(sock.get_executor());
  timer.expires_after(std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(opts.connect_timeout)));
  const std::uint64_t my_generation = ++generation;
  timer.async_wait([this, my_generation](error_code ec) {
    if (!ec && !setup_done && generation == my_generation) {
      error_code ignored;
      sock.close(ignored);
    }
  });

  auto [connect_ec] = co_await sock.async_connect(g->tgt.endpoint, use_tuple);
  if (connect_ec) {
    co_return false;
  }
  error_code ec;
  sock.set_option(tcp::no_delay(true), ec);
  sock.non_blocking(true, ec);
  if (ec) {
    co_return false;
  }

  if (g->tgt.tls) {
    ssl = SSL_new(g->ssl_ctx);
    BIO* bio = BIO_new(socket_bio_method());
    BIO_set_data(bio, this);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio);
    SSL_set_connect_state(ssl);
    if (!g->tgt.host_is_ip) {
      SSL_set_tlsext_host_name(ssl, g->tgt.host.c_str());
    }
    if (!opts.insecure) {
      if (g->tgt.host_is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), g->tgt.host.c_str());
      } else {
        SSL_set1_host(ssl, g->tgt.host.c_str());
      }
    }
    for (;;) {
      ERR_clear_error();
      const int r = SSL_do_handshake(ssl);
      if (r == 1) {
        break;
      }
      const int err = SSL_get_error(ssl, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!co_await wait(err == SSL_ERROR_WANT_READ ? io_status::want_read : io_status::want_write)) {
          co_return false;
        }
        continue;
      }
      static std::atomic<bool> reported{false};
      if (!reported.exchange(true)) {
        char text[256];
        ERR_error_string_n(ERR_peek_last_error(), text, sizeof text);
        std::fprintf(stderr, "tether_loadgen: TLS handshake failed: %s\n", text);
      }
      co_return false;
    }
  }

  unsigned char nonce[16];
  RAND_bytes(nonce, sizeof nonce);
  const std::string ws_key = base64(nonce, sizeof nonce);
  const std::string request = "GET " + g->tgt.path + " HTTP/1.1\r\nHost: " + g->tgt.host_port +
                              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + ws_key +
                              "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: tether-loadgen\r\n" +
                              (opts.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                              "client_no_context_takeover; server_no_context_takeover\r\n"
                                            : "") +
                              "\r\n";
  if (!co_await write_all(request.data(), request.size())) {
    co_return false;
  }

  std::string response;
  char buf[4096];
  std::size_t header_end = std::string::npos;
  while (header_end == std::string::npos) {
    std::size_t got = 0;
    const auto st = read_some(buf, sizeof buf, got);
    if (st == io_status::ok) {
      response.append(buf, got);
      header_end = response.find("\r\n\r\n");
      if (header_end == std::string::npos && response.size() > 16384) {
        co_return false;
      }
    } else if (st == io_status::want_read || st == io_status::want_write) {
      if (!co_await wait(st)) {
        co_return false;
      }
    } else {
      co_return false;
    }
  }
  const std::string_view head(response.data(), header_end + 2);
  bool accepted = false;
  if (head.starts_with("HTTP/1.1 101")) {
    const std::string expected = websocket_accept(ws_key);
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head.size()) {
      const auto line_end = head.find("\r\n", pos + 2);
      std::string_view line = head.substr(pos + 2, line_end - pos - 2);
      if (iequals_prefix(line, "sec-websocket-accept:")) {
        line.remove_prefix(21);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
          line.remove_prefix(1);
        }
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) {
          line.remove_suffix(1);
        }
        accepted = line == expected;
      } else if (opts.deflate && iequals_prefix(line, "sec-websocket-extensions:") &&
                 line.find("permessage-deflate") != std::string_view::npos) {
        deflate = true;
      }
      pos = line_end;
    }
  }
  if (!accepted) {
    static std::atomic<bool> reported{false};
    if (!reported.exchange(true)) {
      std::fprintf(stderr, "tether_loadgen: upgrade refused: %.*s\n",
                   static_cast<int>(std::min<std::size_t>(head.find("\r\n"), 200)), head.data());
    }
    co_return false;
  }
  pending_in = response.substr(header_end + 4);
  if (deflate) {
    g->deflate_sessions.fetch_add(1);
  }
  setup_done = true;
  timer.cancel();
  co_return true;
}

void conn::fail() {
  failed = true;
  finish();
}

/// Closes the connection (close_notify if TLS, best effort) and ends the pump.
void conn::finish() {
  if (closed) {
    return;
  }
  closed = true;
  if (ssl != nullptr) {
    ERR_clear_error();
    SSL_shutdown(ssl);
  }
  error_code ignored;
  sock.close(ignored);
  // Closing removed the socket from the worker's set: no edge will come.
  for (auto* waiter : {&read_waiter, &write_waiter}) {
    if (*waiter) {
      net::post(w.ioc, [h = std::move(*waiter)]() mutable { std::move(h)(net::error::operation_aborted); });
    }
  }
}

void conn::flush() {
  if (draining || closed) {
    return;
  }
  while (out_pos < out.size()) {
    std::size_t put = 0;
    const auto st = write_some(out.data() + out_pos, out.size() - out_pos, put);
    if (st == io_status::ok) {
      out_pos += put;
    } else if (st == io_status::want_read || st == io_status::want_write) {
      draining = true;
      net::co_spawn(sock.get_executor(), drain(st), net::detached);
      return;
    } else {
      fail();
      return;
    }
  }
  out.clear();
  out_pos = 0;
}

awaitable<void> conn::drain(io_status st) {
  for (;;) {
    if (!co_await wait(st) || closed) {
      draining = false;
      co_return;
    }
    while (out_pos < out.size()) {
      std::size_t put = 0;
      st = write_some(out.data() + out_pos, out.size() - out_pos, put);
      if (st == io_status::ok) {
        out_pos += put;
      } else if (st == io_status::want_read || st == io_status::want_write) {
        break;
      } else {
        draining = false;
        fail();
        co_return;
      }
    }
    if (out_pos == out.size()) {
      out.clear();
      out_pos = 0;
      draining = false;
      co_return;
    }
  }
}

void conn::queue_control(std::uint8_t op, const std::uint8_t* data, std::size_t len) {
  append_frame_header(out, op, len, key);
  for (std::size_t i = 0; i < len; ++i) {
    out.push_back(static_cast<char>(data[i] ^ key[i & 3]));
  }
}

void conn::queue_message(clock_type::time_point now) {
  if (g->opts.deflate) {
    // JSON text with this message's seq; deflated (RSV1) when negotiated.
    std::string& text = w.plain;
    text = g->json;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(send_seq++));
    std::memcpy(text.data() + 8, hex, 16);
    const std::string* body = &text;
    if (deflate) {
      w.deflate_into(text);
      body = &w.zbuf;
    }
    append_frame_header(out, deflate ? 0x41 : 0x1, body->size(), key);
    for (std::size_t i = 0; i < body->size(); ++i) {
      out.push_back(static_cast<char>(static_cast<std::uint8_t>((*body)[i]) ^ key[i & 3]));
    }
  } else {
    append_frame_header(out, 0x2, payload.size(), key);
    const std::size_t at = out.size();
    out.insert(out.end(), payload.begin(), payload.end());
    const std::uint64_t seq = send_seq++;
    std::uint8_t seq_bytes[8];
    std::memcpy(seq_bytes, &seq, 8);
    for (std::size_t i = 0; i < 8 && i < payload.size(); ++i) {
      out[at + i] = static_cast<char>(seq_bytes[i] ^ key[i & 3]);
    }
  }
  sent_at[(sent_head + sent_count) % sent_at.size()] = now;
  ++sent_count;
  w.outstanding.fetch_add(1, std::memory_order_relaxed);
}

/// --rate: sends the next message if fewer than --inflight are out and it is
/// due, else arms the timer for when it is due (only if a message may leave
/// then; otherwise the next echo calls this again). A send that waited for an
/// echo past its time restarts the schedule from now; one made by a timer
/// that fired a little late keeps it, so timer slack does not lower the rate;
/// after a slip of a whole period the schedule restarts too. Never two sends
/// at once to catch up.
void conn::paced_send(clock_type::time_point now, bool from_timer) {
  if (!w.sending || close_sent || closed || sent_count >= sent_at.size()) {
    return;
  }
  if (now < next_send) {
    arm_send_timer();
    return;
  }
  const bool late = from_timer ? now - next_send >= g->period : now > next_send;
  if (late && w.measuring) {
    ++w.late_sends;
  }
  queue_message(now);
  next_send = (late ? now : next_send) + g->period;
  if (sent_count < sent_at.size()) {
    arm_send_timer();
  }
}

void conn::arm_send_timer() {
  if (timer_armed) {
    return;  // armed for no later than next_send: the handler re-arms if early
  }
  timer_armed = true;
  send_timer.expires_at(next_send);
  send_timer.async_wait([this](error_code ec) {
    if (ec) {
      return;  // cancelled by reset(), or the conn is going away: touch nothing
    }
    timer_armed = false;
    paced_send(clock_type::now(), true);
    flush();
  });
}

void conn::start_close() {
  if (close_sent || closed) {
    return;
  }
  close_sent = true;
  const std::uint8_t code[2] = {0x03, 0xe8};  // 1000
  queue_control(0x8, code, 2);
  flush();
}

/// Parses server frames from `p`; false on a protocol error.
bool conn::feed(const char* p, std::size_t n) {
  const auto* b = reinterpret_cast<const std::uint8_t*>(p);
  while (n > 0 && !closed) {
    if (!in_frame) {
      const std::size_t take = std::min(n, hdr_need - hdr_len);
      std::memcpy(hdr + hdr_len, b, take);
      hdr_len += take;
      b += take;
      n -= take;
      if (hdr_len == 2) {
        const std::uint8_t len7 = hdr[1] & 0x7f;
        hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((hdr[1] & 0x80) ? 4 : 0);
      }
      if (hdr_len < hdr_need) {
        continue;
      }
      if (!frame_header_done()) {
        return false;
      }
      if (payload_left == 0) {
        frame_done();
      }
      continue;
    }
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, payload_left));
    if (opcode >= 0x8) {
      std::memcpy(ctl + ctl_len, b, take);
      ctl_len += take;
    } else {
      msg_len += take;
      if (g->opts.deflate && g->opts.mode == mode_type::run) {
        msg_buf.append(reinterpret_cast<const char*>(b), take);
      }
      if (seq_len < 8) {
        const std::size_t s = std::min<std::size_t>(8 - seq_len, take);
        std::memcpy(seq_buf + seq_len, b, s);
        seq_len += s;
      }
    }
    b += take;
    n -= take;
    payload_left -= take;
    if (payload_left == 0) {
      frame_done();
    }
  }
  return true;
}

bool conn::frame_header_done() {
  if (hdr[1] & 0x80) {
    return false;  // servers must not mask
  }
  fin = (hdr[0] & 0x80) != 0;
  opcode = hdr[0] & 0x0f;
  const std::uint8_t len7 = hdr[1] & 0x7f;
  if (len7 == 126) {
    payload_left = (std::uint64_t{hdr[2]} << 8) | hdr[3];
  } else if (len7 == 127) {
    payload_left = 0;
    for (int i = 0; i < 8; ++i) {
      payload_left = (payload_left << 8) | hdr[2 + i];
    }
  } else {
    payload_left = len7;
  }
  in_frame = true;
  if (opcode >= 0x8) {
    if (!fin || payload_left > 125 || (opcode != 0x8 && opcode != 0x9 && opcode != 0xa)) {
      return false;
    }
    ctl_len = 0;
  } else if (opcode == 0x0) {
    if (!in_message) {
      return false;
    }
  } else if (opcode == 0x1 || opcode == 0x2) {
    if (in_message) {
      return false;
    }
    in_message = true;
    msg_opcode = opcode;
    msg_rsv1 = (hdr[0] & 0x40) != 0;
    msg_len = 0;
    seq_len = 0;
    msg_buf.clear();
  } else {
    return false;
  }
  return true;
}

void conn::frame_done() {
  in_frame = false;
  hdr_len = 0;
  hdr_need = 2;
  if (opcode == 0x9) {
    g->pings.fetch_add(1, std::memory_order_relaxed);
    queue_control(0xa, ctl, ctl_len);
  } else if (opcode == 0x8) {
    close_received = true;
    if (!close_sent) {
      // The server ends the session: answer with its code, then close.
      close_sent = true;
      queue_control(0x8, ctl, std::min<std::size_t>(ctl_len, 2));
      flush();
      if (setup_done && !g->stop.load(std::memory_order_relaxed)) {
        g->dropped.fetch_add(1, std::memory_order_relaxed);
        if (g->opts.mode == mode_type::idle) {
          g->server_ended(ctl_len >= 2 ? (ctl[0] << 8) | ctl[1] : 1005);
        }
      }
    }
    finish();
  } else if (opcode < 0x8 && fin) {
    in_message = false;
    on_message();
  }
}

void conn::on_message() {
  if (g->opts.mode == mode_type::idle) {
    g->messages_in.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (msg_opcode == 0x1 && !g->opts.deflate) {
    ++w.text_msgs;
    return;
  }
  if (g->opts.mode != mode_type::run) {
    return;
  }
  const auto now = clock_type::now();
  if (sent_count == 0) {
    ++w.errors;  // an echo of nothing we sent
    return;
  }
  const auto sent = sent_at[sent_head];
  sent_head = (sent_head + 1) % sent_at.size();
  --sent_count;
  w.outstanding.fetch_sub(1, std::memory_order_relaxed);
  const std::uint64_t expected = recv_seq++;
  bool ok = false;
  if (g->opts.deflate) {
    const std::string* text = &msg_buf;
    ok = msg_opcode == 0x1 && (!msg_rsv1 || (deflate && w.inflate_into(msg_buf)));
    if (ok && msg_rsv1) {
      text = &w.plain;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(expected));
    ok = ok && text->size() == g->json.size() && text->compare(8, 16, hex) == 0;
    if (w.measuring) {
      w.ws_in += msg_len;
    }
  } else {
    ok = msg_len == payload.size();
    if (ok && payload.size() >= 8) {
      std::uint64_t seq = 0;
      std::memcpy(&seq, seq_buf, 8);
      ok = seq == expected;
    }
    if (w.measuring) {
      w.ws_in += msg_len;
    }
  }
  if (!ok) {
    ++w.errors;
  }
  if (w.measuring) {
    ++w.msgs;
    w.hist.record(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent).count()));
  }
  if (g->opts.rate > 0) {
    paced_send(now, false);
  } else if (w.sending && !close_sent) {
    queue_message(now);
  }
}

/// Reads until the session ends, answering pings and, in run mode, sending a
/// new message for every echo. Writes made while handling one batch of reads
/// leave together.
awaitable<void> conn::pump() {
  if (!pending_in.empty()) {
    if (!feed(pending_in.data(), pending_in.size())) {
      fail();
    }
    pending_in.clear();
  }
  flush();
  auto& buf = w.rbuf;
  std::size_t turn = 0;  // bytes read since this session last let others run
  while (!closed) {
    std::size_t got = 0;
    const auto st = read_some(buf.data(), buf.size(), got);
    if (st == io_status::ok) {
      if (!feed(buf.data(), got)) {
        fail();
        break;
      }
      if (out.size() - out_pos >= 256 * 1024) {
        flush();
      }
      turn += got;
      if (turn >= fair_turn) {
        // A session whose echoes come back while it is still reading would
        // otherwise keep this thread to itself, and the others' echoes wait
        // in their sockets: the latency measured would be this scheduler's.
        turn = 0;
        flush();
        co_await net::post(sock.get_executor(), net::use_awaitable);
      }
      continue;
    }
    if (st == io_status::want_read || st == io_status::want_write) {
      flush();
      if (closed || !co_await wait(st)) {
        break;
      }
      continue;
    }
    // EOF or error without a close handshake.
    if (!close_received) {
      failed = true;
      if (setup_done && !g->stop.load(std::memory_order_relaxed)) {
        g->dropped.fetch_add(1, std::memory_order_relaxed);
        if (g->opts.mode == mode_type::idle) {
          g->server_ended(1006);
        }
      }
    }
    finish();
    break;
  }
  if (failed && g->opts.mode == mode_type::run && w.sending) {
    ++w.errors;
  }
  w.outstanding.fetch_sub(static_cast<long>(sent_count), std::memory_order_relaxed);
  sent_count = 0;
}

// ---------------------------------------------------------- connectors ----

/// Paces session openings to --connect-rate across all threads.
awaitable<void> pace(int k) {
  if (g->opts.connect_rate <= 0) {
    co_return;
  }
  const auto at = g->start + std::chrono::duration_cast<clock_type::duration>(
                                 std::chrono::duration<double>(static_cast<double>(k) / g->opts.connect_rate));
  if (at > clock_type::now()) {
    net::steady_timer t(co_await net::this_coro::executor);
    t.expires_at(at);
    co_await t.async_wait(use_tuple);
  }
}

awaitable<void> session_opener(worker& w) {
  const auto& opts = g->opts;
  for (;;) {
    const int k = g->next_session.fetch_add(1);
    if (k >= opts.sessions || g->stop.load()) {
      co_return;
    }
    co_await pace(k);
    w.conns.push_back(std::make_unique<conn>(w));
    conn& c = *w.conns.back();
    if (!co_await c.open_session()) {
      g->failed.fetch_add(1);
      c.reset();
      continue;
    }
    if (opts.mode == mode_type::run) {
      c.payload.resize(opts.size);
      for (std::size_t i = 0; i < opts.size; ++i) {
        c.payload[i] = static_cast<char>(('a' + i % 26) ^ c.key[i & 3]);
      }
      c.sent_at.resize(static_cast<std::size_t>(opts.inflight));
      c.out.reserve((opts.size + 14) * static_cast<std::size_t>(opts.inflight) + 4096);
      if (w.sending && opts.rate > 0) {
        // The first send at a random point of the first period, so that the
        // sessions do not fire in lockstep.
        std::uint32_t r = 0;
        RAND_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r);
        c.next_send = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                              g->period * (static_cast<double>(r) / 4294967296.0));
        c.arm_send_timer();
      } else if (w.sending) {
        const auto now = clock_type::now();
        for (int i = 0; i < opts.inflight; ++i) {
          c.queue_message(now);
        }
      }
    }
    g->opened.fetch_add(1);
    w.watch(c);
    net::co_spawn(w.ioc, c.pump(), net::detached);
  }
}

awaitable<void> rate_connector(worker& w) {
  conn c(w);
  while (!g->stop.load(std::memory_order_relaxed) && w.sending) {
    const auto t0 = clock_type::now();
    if (!co_await c.open_session()) {
      if (w.measuring) {
        ++w.errors;
      }
      c.reset();
      // Do not spin on a server that refuses everything.
      net::steady_timer t(w.ioc);
      t.expires_after(std::chrono::milliseconds(10));
      co_await t.async_wait(use_tuple);
      continue;
    }
    const auto t1 = clock_type::now();
    c.start_close();
    co_await c.pump();
    const bool ok = c.close_received && !c.failed;
    const bool measured = w.measuring;
    c.reset();
    if (!measured) {
      continue;
    }
    if (ok) {
      ++w.msgs;
      w.hist.record(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    } else {
      ++w.errors;
    }
  }
}

// ---------------------------------------------------------------- main ----

SSL_CTX* make_ssl_ctx(const options& opts) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  if (SSL_CTX_set_ciphersuites(ctx, opts.ciphersuites.c_str()) != 1) {
    std::fprintf(stderr, "tether_loadgen: bad --ciphersuites '%s'\n", opts.ciphersuites.c_str());
    return nullptr;
  }
  // Every session is a full handshake: no resumption.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
  if (opts.mode == mode_type::run) {
    // Fewer read() calls for small records; buffers stay allocated.
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
  } else {
    mode |= SSL_MODE_RELEASE_BUFFERS;  // many idle sessions
  }
  SSL_CTX_set_mode(ctx, mode);
  if (opts.insecure) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    const int loaded = opts.ca.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                       : SSL_CTX_load_verify_locations(ctx, opts.ca.c_str(), nullptr);
    if (loaded != 1) {
      std::fprintf(stderr, "tether_loadgen: cannot load CA '%s'\n", opts.ca.c_str());
      return nullptr;
    }
  }
  return ctx;
}

/// Runs `fn` on every worker's thread and waits until all have run it.
template <class Fn>
void on_every_worker(std::vector<std::unique_ptr<worker>>& workers, Fn fn) {
  std::atomic<int> left{static_cast<int>(workers.size())};
  for (auto& w : workers) {
    net::post(w->ioc, [&left, &fn, wp = w.get()] {
      fn(*wp);
      left.fetch_sub(1);
    });
  }
  const auto deadline = clock_type::now() + std::chrono::seconds(2);
  while (left.load() > 0 && clock_type::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

/// Waits up to `seconds`, returning early (true) on SIGINT/SIGTERM.
bool wait_signal(const sigset_t& set, double seconds) {
  if (seconds <= 0) {
    return false;
  }
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>((seconds - static_cast<double>(ts.tv_sec)) * 1e9);
  for (;;) {
    const int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) {
      return true;
    }
    if (errno != EINTR) {
      return false;
    }
  }
}

struct cpu_sample {
  double self = 0;
  double proxy = -1;
  double backend = -1;
  clock_type::time_point at;
};

cpu_sample sample_cpu(const options& opts) {
  cpu_sample s;
  s.at = clock_type::now();
  s.self = self_cpu_seconds();
  if (opts.proxy_pid > 0) {
    s.proxy = process_cpu_seconds(opts.proxy_pid);
  }
  if (opts.backend_pid > 0) {
    s.backend = process_cpu_seconds(opts.backend_pid);
  }
  return s;
}

std::string fmt(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

/// zcost mode: the CPU time (thread clock, so time spent preempted is not
/// counted) of one deflate and one inflate of the JSON message.
int zcost(shared_state& state) {
  const options& opts = state.opts;
  state.json = json_message(opts.size);
  worker w;
  auto thread_s = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  };
  const std::size_t compressed = w.deflate_into(state.json);
  const std::string frame = w.zbuf;
  if (!w.inflate_into(frame) || w.plain != state.json) {
    std::fprintf(stderr, "tether_loadgen: zcost: the message does not inflate back\n");
    return 1;
  }
  double def_s = 0, inf_s = 0;
  std::uint64_t n = 0;
  const auto start = clock_type::now();
  while (seconds_since(start) < opts.duration) {
    for (int i = 0; i < 100; ++i, ++n) {
      const double t0 = thread_s();
      w.deflate_into(state.json);
      const double t1 = thread_s();
      w.inflate_into(frame);
      const double t2 = thread_s();
      def_s += t1 - t0;
      inf_s += t2 - t1;
    }
  }
  std::printf("{\"mode\":\"zcost\",\"size\":%zu,\"compressed_bytes\":%zu,\"iterations\":%llu,"
              "\"deflate_us\":%s,\"inflate_us\":%s}\n",
              state.json.size(), compressed, static_cast<unsigned long long>(n), fmt(1e6 * def_s / static_cast<double>(n), 2).c_str(),
              fmt(1e6 * inf_s / static_cast<double>(n), 2).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  static shared_state state;
  g = &state;
  if (!parse_args(argc, argv, state.opts)) {
    return 2;
  }
  const options& opts = state.opts;
  if (opts.mode == mode_type::zcost) {
    return zcost(state);
  }
  const auto tgt = parse_url(opts.url);
  if (!tgt) {
    std::fprintf(stderr, "tether_loadgen: bad --url '%s' (want ws:// or wss://host:port/path)\n", opts.url.c_str());
    return 2;
  }
  state.tgt = *tgt;
  if (opts.deflate && opts.mode == mode_type::run) {
    state.json = json_message(opts.size);
  }
  if (opts.rate > 0) {
    state.period = std::chrono::duration_cast<clock_type::duration>(
        std::chrono::duration<double>(static_cast<double>(std::max(1, opts.sessions)) / opts.rate));
  }
  if (state.tgt.tls) {
    state.ssl_ctx = make_ssl_ctx(opts);
    if (state.ssl_ctx == nullptr) {
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  // Signals go to the main thread's sigtimedwait only.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
      lim.rlim_cur = lim.rlim_max;
      setrlimit(RLIMIT_NOFILE, &lim);
    }
  }

  std::vector<std::unique_ptr<worker>> workers;
  for (int i = 0; i < opts.threads; ++i) {
    workers.push_back(std::make_unique<worker>());
  }
  state.start = clock_type::now();
  const int connectors = opts.mode == mode_type::rate ? opts.concurrency : std::min(opts.concurrency, std::max(1, opts.sessions));
  for (int i = 0; i < connectors; ++i) {
    auto& w = *workers[static_cast<std::size_t>(i) % workers.size()];
    if (opts.mode == mode_type::rate) {
      net::co_spawn(w.ioc, rate_connector(w), net::detached);
    } else {
      net::co_spawn(w.ioc, session_opener(w), net::detached);
    }
  }
  // Keeps each loop alive between the phases, when no socket may be waiting.
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  for (auto& w : workers) {
    guards.push_back(net::make_work_guard(w->ioc));
    w->thread = std::thread([wp = w.get()] { wp->ioc.run(); });
  }

  auto stop_workers = [&] {
    state.stop = true;
    guards.clear();
    for (auto& w : workers) {
      w->ioc.stop();
    }
    for (auto& w : workers) {
      w->thread.join();
    }
  };

  bool interrupted = false;
  if (opts.mode == mode_type::run || opts.mode == mode_type::idle) {
    // Open every session first (bounded by pacing and the connect timeout).
    double open_budget = opts.open_timeout;
    if (open_budget <= 0) {
      open_budget = opts.connect_timeout + 5.0 + opts.sessions / 20.0;  // 20/s: a slow, busy server
      if (opts.connect_rate > 0) {
        open_budget += opts.sessions / opts.connect_rate;
      }
    }
    while (state.opened.load() + state.failed.load() < opts.sessions && seconds_since(state.start) < open_budget) {
      if (wait_signal(signals, 0.01)) {
        interrupted = true;
        break;
      }
    }
    const double open_s = seconds_since(state.start);
    if (opts.mode == mode_type::idle) {
      // Pings are counted from here on: while sessions were still opening, the
      // early ones were pinged for longer.
      const long pings_at_open = state.pings.load();
      const int pending = opts.sessions - state.opened.load() - state.failed.load();
      std::printf("{\"event\":\"open\",\"sessions\":%d,\"failed\":%d,\"still_opening\":%d,\"open_s\":%s}\n",
                  state.opened.load(), state.failed.load(), pending, fmt(open_s, 3).c_str());
      std::fflush(stdout);
      const auto held_from = clock_type::now();
      while (!interrupted && seconds_since(held_from) < opts.hold) {
        if (opts.until_closed && state.ended.load() >= state.opened.load()) {
          break;
        }
        interrupted = wait_signal(signals, std::min(0.05, opts.hold - seconds_since(held_from)));
      }
      state.stop = true;
      std::string ends;
      {
        std::lock_guard lock(state.ends_mutex);
        ends = ",\"close_codes\":{";
        for (const auto& [code, n] : state.end_codes) {
          ends += (ends.back() == '{' ? "\"" : ",\"") + std::to_string(code) + "\":" + std::to_string(n);
        }
        ends += "}";
        if (opts.until_closed) {
          ends += ",\"end_times\":[";
          for (std::size_t i = 0; i < state.end_times.size(); ++i) {
            ends += (i ? "," : "") + fmt(state.end_times[i], 4);
          }
          ends += "]";
        }
      }
      std::printf(
          "{\"mode\":\"idle\",\"url\":\"%s\",\"sessions\":%d,\"failed\":%d,\"dropped\":%ld,\"pings_received\":%ld,"
          "\"messages_received\":%ld,\"deflate_sessions\":%d,\"open_s\":%s,\"held_s\":%s,\"interrupted\":%s%s}\n",
          opts.url.c_str(), state.opened.load(), state.failed.load(), state.dropped.load(),
          state.pings.load() - pings_at_open,
          state.messages_in.load(), state.deflate_sessions.load(), fmt(open_s, 3).c_str(), fmt(seconds_since(held_from), 1).c_str(),
          interrupted ? "true" : "false", ends.c_str());
      std::fflush(stdout);
      // The kernel closes the sockets; tearing down thousands of sessions
      // politely would only delay whoever waits for this process.
      std::_Exit(0);
    }
  }

  // run and rate: warm-up, then the measured window.
  if (!interrupted) {
    interrupted = wait_signal(signals, opts.warmup);
  }
  on_every_worker(workers, [](worker& w) {
    w.hist.reset();
    w.msgs = 0;
    w.wire_in = w.wire_out = w.ws_in = 0;
    w.measuring = true;
  });
  const cpu_sample before = sample_cpu(opts);
  if (!interrupted) {
    interrupted = wait_signal(signals, opts.duration);
  }
  on_every_worker(workers, [](worker& w) {
    w.measuring = false;
    w.sending = false;
  });
  const cpu_sample after = sample_cpu(opts);
  const double window = std::chrono::duration<double>(after.at - before.at).count();

  // Let the messages in flight come back, then close every session.
  if (opts.mode == mode_type::run) {
    const auto deadline = clock_type::now() + std::chrono::seconds(2);
    auto in_flight = [&] {
      long n = 0;
      for (auto& w : workers) {
        n += w->outstanding.load();
      }
      return n;
    };
    while (in_flight() > 0 && clock_type::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    state.stop = true;
    on_every_worker(workers, [](worker& w) {
      for (auto& c : w.conns) {
        if (c->setup_done) {
          c->start_close();
        }
      }
    });
    const auto close_deadline = clock_type::now() + std::chrono::seconds(2);
    auto all_closed = [&] {
      std::atomic<int> open{0};
      on_every_worker(workers, [&open](worker& w) {
        for (auto& c : w.conns) {
          if (c->setup_done && !c->closed) {
            open.fetch_add(1);
          }
        }
      });
      return open.load() == 0;
    };
    while (!all_closed() && clock_type::now() < close_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } else {
    // rate: connectors finish the session they are in.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  stop_workers();

  histogram hist;
  std::uint64_t msgs = 0;
  std::uint64_t errors = static_cast<std::uint64_t>(opts.mode == mode_type::run ? state.failed.load() : 0);
  std::uint64_t text_msgs = 0;
  std::uint64_t late_sends = 0;
  std::uint64_t wire_in = 0, wire_out = 0, ws_in = 0;
  for (auto& w : workers) {
    hist.merge(w->hist);
    msgs += w->msgs;
    wire_in += w->wire_in;
    wire_out += w->wire_out;
    ws_in += w->ws_in;
    errors += w->errors;
    text_msgs += w->text_msgs;
    late_sends += w->late_sends;
  }
  const double rate = window > 0 ? static_cast<double>(msgs) / window : 0.0;
  auto us = [&](double q) { return fmt(hist.quantile(q) / 1000.0, 1); };

  std::string line = "{\"mode\":\"";
  line += opts.mode == mode_type::run ? "run" : "rate";
  line += "\",\"url\":\"" + opts.url + "\"";
  if (opts.mode == mode_type::run) {
    line += ",\"sessions\":" + std::to_string(state.opened.load()) + ",\"size\":" + std::to_string(opts.size) +
            ",\"inflight\":" + std::to_string(opts.inflight) + ",\"msgs\":" + std::to_string(msgs) +
            ",\"dropped\":" + std::to_string(state.dropped.load()) +
            ",\"msgs_per_s\":" + fmt(rate, 1) + ",\"mib_per_s\":" +
            fmt(rate * static_cast<double>(opts.size) / (1024.0 * 1024.0), 2);
    if (opts.rate > 0) {
      line += ",\"rate\":" + fmt(opts.rate, 1) + ",\"late_sends\":" + std::to_string(late_sends);
    }
    if (msgs > 0) {
      // Client leg, per round trip: approximate at the window's edges by the
      // messages in flight, which is well under 0.1% of a cell's round trips.
      const auto per = [&](std::uint64_t v) { return fmt(static_cast<double>(v) / static_cast<double>(msgs), 1); };
      line += ",\"wire_in_bytes_per_msg\":" + per(wire_in) + ",\"wire_out_bytes_per_msg\":" + per(wire_out) +
              ",\"ws_in_bytes_per_msg\":" + per(ws_in);
    }
    if (opts.deflate) {
      line += ",\"deflate_offered\":true,\"deflate_sessions\":" + std::to_string(state.deflate_sessions.load()) +
              ",\"json_bytes\":" + std::to_string(state.json.size());
    }
  } else {
    line += ",\"concurrency\":" + std::to_string(opts.concurrency) + ",\"sessions\":" + std::to_string(msgs) +
            ",\"sessions_per_s\":" + fmt(rate, 1);
  }
  // rate: the percentiles are of session set-up time (connect to 101).
  line += ",\"duration_s\":" + fmt(window, 3) + ",\"mean_us\":" + fmt(hist.mean() / 1000.0, 1) +
          ",\"p50_us\":" + us(0.50) + ",\"p90_us\":" + us(0.90) + ",\"p99_us\":" + us(0.99) +
          ",\"p99.9_us\":" + us(0.999) + ",\"max_us\":" + fmt(static_cast<double>(hist.max()) / 1000.0, 1) +
          ",\"errors\":" + std::to_string(errors);
  if (text_msgs > 0) {
    line += ",\"text_msgs_ignored\":" + std::to_string(text_msgs);
  }
  line += ",\"loadgen_cpu_pct\":" + fmt(100.0 * (after.self - before.self) / window, 1);
  if (before.proxy >= 0 && after.proxy >= 0) {
    const double cpu = after.proxy - before.proxy;
    line += ",\"proxy_cpu_s\":" + fmt(cpu, 3) + ",\"proxy_cpu_pct\":" + fmt(100.0 * cpu / window, 1);
    if (msgs > 0) {
      line += std::string(",\"proxy_cpu_us_per_") + (opts.mode == mode_type::run ? "msg" : "session") +
              "\":" + fmt(1e6 * cpu / static_cast<double>(msgs), 2);
    }
  }
  if (before.backend >= 0 && after.backend >= 0) {
    line += ",\"backend_cpu_pct\":" + fmt(100.0 * (after.backend - before.backend) / window, 1);
  }
  if (interrupted) {
    line += ",\"interrupted\":true";
  }
  line += "}\n";
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
  std::_Exit(0);
}
