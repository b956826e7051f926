// bench/heartbeat_floor.cpp: what the kernel alone charges for heartbeats on
// this machine, whatever proxy sends them. One process (the pinger) holds
// --pairs loopback TCP connections to a second process (the answerer), sends
// a 6-byte frame on each once per --interval-ms in ten bursts a second (the
// same grid tether uses), and reads each echo; the answerer echoes. Prints
// the pinger's CPU (getrusage: user + sys) over --seconds as a percent of one
// core and per ping + pong. No TLS, no WebSocket parsing, no timers per
// connection: a lower bound for any proxy pinging that many legs.
//
//   heartbeat_floor [--pairs 18000] [--seconds 20] [--interval-ms 1000]
//
// tether at 9,000 sessions with both legs pinged sends 18,000 pings a
// second, hence the default. On loopback the sender's sendto also runs the
// receiver's TCP input and wakes it, which a remote peer would do on its own
// machine.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

void raise_fd_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

/// No Nagle (pings must leave at once, as tether's do), and in `ep` edge-triggered.
void watch(int ep, int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.fd = fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/// The answerer: echoes whatever arrives, until the pinger goes away.
[[noreturn]] void answer(const sockaddr_in& addr, int pairs) {
  const int ep = epoll_create1(0);
  for (int i = 0; i < pairs; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      die("connect");
    }
    watch(ep, fd);
  }
  std::vector<epoll_event> events(256);
  char buf[256];
  for (;;) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      for (;;) {
        const ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got == 0) {
          std::_Exit(0);
        }
        if (got < 0) {
          break;
        }
        if (send(fd, buf, static_cast<std::size_t>(got), 0) != got) {
          die("send");
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int pairs = 18000;
  int seconds = 20;
  int interval_ms = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--pairs") {
      pairs = value;
    } else if (flag == "--seconds") {
      seconds = value;
    } else if (flag == "--interval-ms") {
      interval_ms = value;
    } else {
      std::fprintf(stderr, "usage: heartbeat_floor [--pairs N] [--seconds S] [--interval-ms MS]\n");
      return 2;
    }
  }
  raise_fd_limit();
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 4096) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    die("listen");
  }
  const pid_t child = fork();
  if (child == 0) {
    close(listener);
    answer(addr, pairs);
  }
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(pairs));
  const int ep = epoll_create1(0);
  while (static_cast<int>(fds.size()) < pairs) {
    const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
    if (fd < 0) {
      die("accept");
    }
    watch(ep, fd);
    fds.push_back(fd);
  }
  // A masked client frame with an empty payload would be 6 bytes: that is
  // what goes upstream; a TLS record around a 2-byte ping is 24.
  static constexpr char ping[6] = {'\x89', '\x00', 'p', 'i', 'n', 'g'};
  constexpr int bursts_per_interval = 10;
  const auto burst_every = std::chrono::milliseconds(interval_ms / bursts_per_interval);
  std::vector<epoll_event> events(256);
  char buf[256];
  long pongs = 0;
  long sent = 0;
  auto next_burst = clock_type::now();
  int burst = 0;
  const auto warmup_end = clock_type::now() + std::chrono::seconds(2);
  const auto end = warmup_end + std::chrono::seconds(seconds);
  double cpu_start = -1;
  long sent_start = 0;
  while (clock_type::now() < end) {
    const auto now = clock_type::now();
    if (cpu_start < 0 && now >= warmup_end) {
      cpu_start = cpu_seconds();
      sent_start = sent;
    }
    if (now >= next_burst) {
      for (std::size_t i = static_cast<std::size_t>(burst); i < fds.size();
           i += bursts_per_interval) {
        if (send(fds[i], ping, sizeof ping, 0) == sizeof ping) {
          ++sent;
        }
      }
      burst = (burst + 1) % bursts_per_interval;
      next_burst += burst_every;
    }
    const auto wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_burst - clock_type::now())
            .count();
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()),
                             wait_ms > 0 ? static_cast<int>(wait_ms) : 0);
    for (int i = 0; i < n; ++i) {
      while (recv(events[i].data.fd, buf, sizeof buf, 0) > 0) {
        ++pongs;
      }
    }
  }
  const double cpu = cpu_seconds() - cpu_start;
  const long measured = sent - sent_start;
  std::printf(
      "{\"pairs\":%d,\"pings_per_s\":%.0f,\"pinger_cpu_pct\":%.2f,\"us_per_ping_pong\":%.2f,"
      "\"pongs\":%ld}\n",
      pairs, static_cast<double>(measured) / seconds, cpu * 100.0 / seconds,
      cpu * 1e6 / static_cast<double>(measured), pongs);
  for (const int fd : fds) {
    close(fd);
  }
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  return 0;
}
