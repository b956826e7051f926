#include "extra_hostile.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "extra_handshake.hpp"

namespace tt::hostile {
namespace {

using sclock = std::chrono::steady_clock;

int ms_left(sclock::time_point end) {
  const auto left = std::chrono::duration_cast<ms>(end - sclock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

// ---------------------------------------------------------------------------
canary::canary(std::uint16_t port, ms bound) : bound_(bound) {
  client_options opts;
  opts.host = canary_host;
  client_ = ws_client::connect(port, opts);
  thread_ = std::thread([this] { loop(); });
}

canary::~canary() { stop(); }

void canary::stop() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
}

void canary::loop() {
  for (std::size_t i = 0; !stop_; ++i) {
    const auto text = "canary-" + std::to_string(i);
    const auto sent = sclock::now();
    if (client_->send_text(text)) {
      ++misses_;
      return;  // the session is gone: every later echo would be missed too
    }
    auto m = client_->read(bound_);
    if (!m) {
      // Late or lost; wait a little longer to tell which, then carry on.
      ++misses_;
      m = client_->read(5000ms);
      if (!m) {
        return;
      }
    }
    const auto took = std::chrono::duration_cast<ms>(sclock::now() - sent).count();
    slowest_ms_ = std::max<long>(slowest_ms_.load(), static_cast<long>(took));
    if (m->data != text) {
      ++misses_;
      return;
    }
    ++echoes_;
    const auto next = sent + 100ms;
    while (!stop_ && sclock::now() < next) {
      std::this_thread::sleep_for(5ms);
    }
  }
}

void canary::check(std::size_t min_echoes) {
  // A quick case still lets the canary make its round trips.
  wait_until([&] { return echoes_ >= min_echoes || misses_ > 0; }, bound_ * static_cast<long>(min_echoes) + 2000ms);
  stop();
  BOOST_TEST_MESSAGE("canary: " << echoes_.load() << " echoes, slowest " << slowest_ms_.load() << " ms");
  BOOST_CHECK_MESSAGE(misses_ == 0, "canary missed " << misses_.load() << " echoes (bound " << bound_.count()
                                                      << " ms; slowest " << slowest_ms_.load() << " ms)");
  BOOST_CHECK_MESSAGE(echoes_ >= min_echoes, "canary made only " << echoes_.load() << " round trips");
}

std::string canary_route(const test_backend& backend) {
  return "  - name: canary\n    match: {host: \"" + canary_host + "\"}\n    upstream: {url: \"" + backend.url() +
         "\"}\n";
}

std::string route(const std::string& name, const std::string& url, const std::string& extra) {
  return "  - name: " + name + "\n    upstream: {url: \"" + url + "\"}\n" + extra;
}

std::string tether_yaml(const test_backend& canary_backend, const std::string& routes, const std::string& defaults) {
  return listener_yaml(false) + defaults + "routes:\n" + canary_route(canary_backend) + routes;
}

// ---------------------------------------------------------------------------
std::size_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  BOOST_REQUIRE(f != nullptr);
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  BOOST_REQUIRE_EQUAL(n, 2);
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::size_t raise_fd_limit(std::size_t want) {
  rlimit rl{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min<rlim_t>(want, rl.rlim_max);
    BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &rl) == 0);
  }
  return rl.rlim_cur;
}

void for_each_tcp_socket(const std::function<void(std::uint16_t, std::uint16_t, int)>& f) {
  DIR* dir = ::opendir("/proc/self/fd");
  BOOST_REQUIRE(dir != nullptr);
  while (const dirent* e = ::readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    sockaddr_in local{}, peer{};
    socklen_t len = sizeof local;
    if (fd <= 2 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
        local.sin_family != AF_INET) {
      continue;
    }
    len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) {
      continue;  // a listener
    }
    f(ntohs(local.sin_port), ntohs(peer.sin_port), fd);
  }
  ::closedir(dir);
}


std::size_t kernel_queued(std::initializer_list<std::uint16_t> ports) {
  std::size_t total = 0;
  for_each_tcp_socket([&](std::uint16_t local, std::uint16_t peer, int fd) {
    bool ours = false;
    for (const auto p : ports) {
      ours = ours || local == p || peer == p;
    }
    int in = 0, out = 0;
    if (ours && ::ioctl(fd, SIOCINQ, &in) == 0 && ::ioctl(fd, SIOCOUTQ, &out) == 0) {
      total += static_cast<std::size_t>(in) + static_cast<std::size_t>(out);
    }
  });
  return total;
}

std::size_t unread_bytes(std::uint16_t local_port, std::uint16_t peer_port) {
  std::size_t total = 0;
  for_each_tcp_socket([&](std::uint16_t local, std::uint16_t peer, int fd) {
    int in = 0;
    if ((local_port == 0 || local == local_port) && (peer_port == 0 || peer == peer_port) &&
        ::ioctl(fd, SIOCINQ, &in) == 0) {
      total += static_cast<std::size_t>(in);
    }
  });
  return total;
}

std::uint16_t local_port(int fd) {
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  return ntohs(local.sin_port);
}

// ---------------------------------------------------------------------------
int tcp_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  // A blocking write to a peer that stopped reading gives up after 10 s.
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

bool write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A non-blocking socket that is full: tether may be slow to read on a
      // loaded machine, which is not the failure a caller tests for.
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 10000) == 1) {
        continue;
      }
      return false;
    }
    if (n <= 0) {
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string read_until(int fd, const std::string& delim, ms timeout) {
  const auto end = sclock::now() + timeout;
  std::string got;
  char buf[4096];
  while (got.find(delim) == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms_left(end)) <= 0) {
      break;
    }
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      break;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

int upgraded_socket(std::uint16_t port) {
  const int fd = tcp_connect(port);
  if (fd >= 0 && write_all(fd, hs::upgrade_request("/", "127.0.0.1")) &&
      read_until(fd, "\r\n\r\n").rfind("HTTP/1.1 101", 0) == 0) {
    return fd;
  }
  if (fd >= 0) {
    ::close(fd);
  }
  return -1;
}

bool wait_closed(int fd, ms timeout) {
  const auto end = sclock::now() + timeout;
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, ms_left(end));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return false;
    }
    const auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      return true;
    }
  }
}

void close_with_reset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

std::optional<std::uint16_t> read_close_from_proxy(int fd, ms timeout) {
  const auto end = sclock::now() + timeout;
  std::string buf;
  char chunk[4096];
  for (;;) {
    // One whole frame at the front of `buf`?
    const auto u = [&](std::size_t i) { return static_cast<std::uint8_t>(buf[i]); };
    if (buf.size() >= 2) {
      std::uint64_t len = u(1) & 0x7F;
      std::size_t pos = 2;
      if (len == 126 && buf.size() >= 4) {
        len = (std::uint64_t{u(2)} << 8) | u(3);
        pos = 4;
      } else if (len == 127 && buf.size() >= 10) {
        len = 0;
        for (int i = 0; i < 8; ++i) {
          len = (len << 8) | u(2 + static_cast<std::size_t>(i));
        }
        pos = 10;
      } else if (len >= 126) {
        len = ~std::uint64_t{0};  // length not complete yet
      }
      const bool masked = (u(1) & 0x80) != 0;
      const std::size_t key_at = pos;
      pos += masked ? 4 : 0;
      if (len != ~std::uint64_t{0} && buf.size() >= pos + len) {
        std::string payload = buf.substr(pos, len);
        for (std::size_t i = 0; masked && i < payload.size(); ++i) {
          payload[i] = static_cast<char>(payload[i] ^ buf[key_at + i % 4]);
        }
        const bool close = (u(0) & 0x0F) == 8;
        buf.erase(0, pos + len);
        if (close) {
          return close_code_of(payload);
        }
        continue;
      }
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms_left(end)) <= 0) {
      return std::nullopt;
    }
    const auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      return std::nullopt;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
  }
}

std::size_t push_until_stalled(int fd, const std::string& unit, std::size_t limit, ms stall, bool& stalled) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  stalled = false;
  std::size_t total = 0;
  std::size_t off = 0;
  while (total < limit) {
    const auto n = ::send(fd, unit.data() + off, unit.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      off = (off + static_cast<std::size_t>(n)) % unit.size();
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(stall.count())) == 0) {
        stalled = true;
        break;
      }
      continue;
    }
    break;  // the connection failed
  }
  return total;
}

// ---------------------------------------------------------------------------
raw_backend::raw_backend(std::function<void(raw_backend&, int, const std::string&)> serve)
    : serve_(std::move(serve)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(listen_fd_ >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_REQUIRE(::listen(listen_fd_, 128) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) {
        continue;
      }
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        continue;
      }
      ++accepted_;
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, fd] {
        const auto head = read_until(fd, "\r\n\r\n", 5000ms);
        if (head.find("\r\n\r\n") != std::string::npos) {
          serve_(*this, fd, head);
        }
        ::close(fd);
      });
    }
  });
}

raw_backend::~raw_backend() {
  stop_ = true;
  acceptor_.join();
  for (auto& w : workers_) {
    w.join();
  }
  ::close(listen_fd_);
}

std::string raw_backend::accept_answer(const std::string& head, const std::string& extra_headers) {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         hs::ws_accept_for(hs::head_field(head, "Sec-WebSocket-Key")) + "\r\n" + extra_headers + "\r\n";
}

}  // namespace tt::hostile
