// The benchmarks' echo backend: a ws:// server that echoes every frame back
// with its opcode, and answers pings. It exists so that the backend is not
// what limits a benchmark: the load generator and the backend share one core,
// and the demo backend (Beast, a message per write) spent half of that core.
// Here one epoll thread reads up to 256 KiB at a time and echoes every
// complete frame of a read with one write, so a proxy in front of it is what
// gets measured. It is a benchmark tool, not a server: no TLS, no
// subprotocols, no UTF-8 checks; frames are echoed one by one as they come
// (a fragmented message comes back fragmented the same way).
//
// permessage-deflate (RFC 7692), with --deflate 1 only (otherwise offers are
// ignored, as before, so the other cells are unchanged): an offer is accepted with
// server_no_context_takeover and client_no_context_takeover, and frames are
// still echoed as they are, RSV1 included. Without context takeover on either
// side a compressed client message inflates on its own, so its echo is a valid
// compressed server message: the backend compresses nothing itself, and the
// deflate cells measure the proxy and the client only.
//
//   echo_backend --port N [--bind ADDRESS] [--deflate 1]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

constexpr std::size_t read_size = 256 * 1024;
constexpr std::size_t max_frame = 16 * 1024 * 1024;
constexpr std::size_t max_request = 8 * 1024;

enum class phase { handshake, open, closing };

struct connection {
  int fd = -1;
  phase state = phase::handshake;
  std::vector<std::uint8_t> in;   // an incomplete request or frame only
  std::vector<std::uint8_t> out;  // what a write left over
  std::size_t out_done = 0;
  bool want_out = false;
};

int epoll_fd = -1;
std::unordered_map<int, connection> connections;
std::vector<std::uint8_t> read_buffer(read_size);
std::vector<std::uint8_t> echo;  // the echoes of one read, written at once
bool accept_deflate = false;     // --deflate 1: answer permessage-deflate offers

void watch(connection& c, bool out) {
  epoll_event ev{};
  ev.events = out ? EPOLLOUT : EPOLLIN;
  ev.data.fd = c.fd;
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
  c.want_out = out;
}

void drop(int fd) {
  close(fd);  // also leaves the epoll set
  connections.erase(fd);
}

std::string accept_key(std::string_view key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string text(key);
  text += guid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return reinterpret_cast<char*>(encoded);
}

// The value of header `name` (lower case, with its colon) in a complete
// request head, or "" when it has none.
std::string_view find_header(std::string_view head, std::string_view name) {
  for (std::size_t line = head.find("\r\n"); line != std::string_view::npos;
       line = head.find("\r\n", line + 2)) {
    const std::string_view rest = head.substr(line + 2);
    if (rest.size() < name.size() ||
        !std::equal(name.begin(), name.end(), rest.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      continue;
    }
    std::string_view value = rest.substr(name.size(), rest.find("\r\n") - name.size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    return value;
  }
  return {};
}

// Consumes the request head from data; false when the connection must end.
// Leaves n at the bytes consumed (0 while the head is incomplete).
bool handshake(connection& c, const std::uint8_t* data, std::size_t size, std::size_t& n) {
  n = 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::size_t end = text.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return size <= max_request;
  }
  const std::string_view key = find_header(text.substr(0, end + 2), "sec-websocket-key:");
  const bool deflate = accept_deflate && find_header(text.substr(0, end + 2), "sec-websocket-extensions:").find("permessage-deflate") !=
                       std::string_view::npos;
  if (key.empty()) {
    static constexpr std::string_view bad =
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    echo.insert(echo.end(), bad.begin(), bad.end());
    c.state = phase::closing;
  } else {
    const std::string reply =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        accept_key(key) + "\r\n" +
        (deflate ? "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                   "client_no_context_takeover\r\n"
                 : "") +
        "\r\n";
    echo.insert(echo.end(), reply.begin(), reply.end());
    c.state = phase::open;
  }
  n = end + 4;
  return true;
}

void put_header(std::uint8_t first, std::uint64_t length) {
  echo.push_back(first);
  if (length < 126) {
    echo.push_back(static_cast<std::uint8_t>(length));
  } else if (length < 65536) {
    echo.push_back(126);
    echo.push_back(static_cast<std::uint8_t>(length >> 8));
    echo.push_back(static_cast<std::uint8_t>(length));
  } else {
    echo.push_back(127);
    for (int shift = 56; shift >= 0; shift -= 8) {
      echo.push_back(static_cast<std::uint8_t>(length >> shift));
    }
  }
}

void put_unmasked(const std::uint8_t* payload, std::size_t length, const std::uint8_t* mask) {
  const std::size_t at = echo.size();
  echo.resize(at + length);
  std::uint8_t* to = echo.data() + at;
  if (mask == nullptr) {
    std::memcpy(to, payload, length);
    return;
  }
  std::uint64_t wide;
  std::uint8_t key8[8];
  for (int i = 0; i < 8; ++i) key8[i] = mask[i % 4];
  std::memcpy(&wide, key8, 8);
  std::size_t i = 0;
  for (; i + 8 <= length; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, payload + i, 8);
    word ^= wide;
    std::memcpy(to + i, &word, 8);
  }
  for (; i < length; ++i) to[i] = payload[i] ^ mask[i % 4];
}

// Echoes the complete frames at the front of data; false when the
// connection must end. Leaves n at the bytes consumed.
bool frames(connection& c, const std::uint8_t* data, std::size_t size, std::size_t& n) {
  n = 0;
  while (c.state == phase::open && size - n >= 2) {
    const std::uint8_t* p = data + n;
    const std::size_t left = size - n;
    const std::uint8_t opcode = p[0] & 0x0f;
    const bool masked = (p[1] & 0x80) != 0;
    std::uint64_t length = p[1] & 0x7f;
    std::size_t header = 2;
    if (length == 126) {
      if (left < 4) break;
      length = (std::uint64_t{p[2]} << 8) | p[3];
      header = 4;
    } else if (length == 127) {
      if (left < 10) break;
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
      header = 10;
    }
    if (length > max_frame) return false;
    const std::uint8_t* mask = masked ? p + header : nullptr;
    header += masked ? 4 : 0;
    if (left < header + length) break;
    const std::uint8_t* payload = p + header;
    switch (opcode) {
      case 0x9:  // ping: pong with its payload
        put_header(0x8a, length);
        put_unmasked(payload, length, mask);
        break;
      case 0xa:  // pong: nothing to answer
        break;
      case 0x8:  // close: echo it, then end once it is out
        put_header(0x88, length);
        put_unmasked(payload, length, mask);
        c.state = phase::closing;
        break;
      default:
        put_header(p[0], length);
        put_unmasked(payload, length, mask);
    }
    n += header + length;
  }
  return true;
}

// Writes what is queued; false when the connection must end.
bool flush(connection& c) {
  if (c.out_done == c.out.size() && !echo.empty()) {
    c.out.clear();
    c.out_done = 0;
    const ssize_t sent = send(c.fd, echo.data(), echo.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN) return false;
    const std::size_t done = sent < 0 ? 0 : static_cast<std::size_t>(sent);
    c.out.assign(echo.begin() + static_cast<std::ptrdiff_t>(done), echo.end());
  } else {
    c.out.insert(c.out.end(), echo.begin(), echo.end());
  }
  echo.clear();
  while (c.out_done < c.out.size()) {
    const ssize_t sent =
        send(c.fd, c.out.data() + c.out_done, c.out.size() - c.out_done, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno != EAGAIN) return false;
      // Backpressure: no more reading until the peer takes what is queued.
      if (!c.want_out) watch(c, true);
      return true;
    }
    c.out_done += static_cast<std::size_t>(sent);
  }
  c.out.clear();
  c.out.shrink_to_fit();
  c.out_done = 0;
  if (c.want_out) watch(c, false);
  if (c.state == phase::closing) shutdown(c.fd, SHUT_WR);
  return true;
}

// Handles bytes read; false when the connection must end.
bool consume(connection& c, const std::uint8_t* data, std::size_t size) {
  std::size_t used = 0;
  while (used < size && c.state != phase::closing) {
    std::size_t n = 0;
    const bool ok = c.state == phase::handshake ? handshake(c, data + used, size - used, n)
                                                : frames(c, data + used, size - used, n);
    if (!ok) return false;
    if (n == 0) break;
    used += n;
  }
  if (c.state == phase::closing) {
    used = size;  // whatever follows a close is not answered
  }
  // Only an incomplete request or frame is kept, so an idle connection holds no buffer.
  if (used < size) {
    c.in.assign(data + used, data + size);
  }
  return flush(c);
}

void on_readable(connection& c) {
  for (;;) {
    const ssize_t got = recv(c.fd, read_buffer.data(), read_buffer.size(), 0);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
      drop(c.fd);
      return;
    }
    if (got < 0) return;
    const auto size = static_cast<std::size_t>(got);
    bool ok;
    if (c.in.empty()) {
      ok = consume(c, read_buffer.data(), size);
    } else {
      c.in.insert(c.in.end(), read_buffer.data(), read_buffer.data() + size);
      const std::vector<std::uint8_t> pending = std::move(c.in);
      c.in = {};
      ok = consume(c, pending.data(), pending.size());
    }
    if (!ok) {
      drop(c.fd);
      return;
    }
    if (c.want_out || size < read_buffer.size()) return;
  }
}

void on_accept(int listener) {
  for (;;) {
    const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    connections[fd].fd = fd;
  }
}

int listen_on(const char* address, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, address, &at.sin_addr) != 1 ||
      bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || listen(fd, 4096) != 0) {
    std::fprintf(stderr, "echo_backend: cannot listen on %s:%d: %s\n", address, port,
                 std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  int port = -1;
  const char* address = "127.0.0.1";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view option = argv[i];
    if (option == "--port") {
      port = std::atoi(argv[i + 1]);
    } else if (option == "--bind") {
      address = argv[i + 1];
    } else if (option == "--deflate") {
      accept_deflate = std::string_view(argv[i + 1]) == "1";
    } else {
      break;
    }
  }
  if (port <= 0 || port > 65535 || argc % 2 == 0) {
    std::fprintf(stderr, "usage: echo_backend --port N [--bind ADDRESS] [--deflate 1]\n");
    return 2;
  }
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  const int listener = listen_on(address, port);
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &ev);
  std::array<epoll_event, 256> events;
  for (;;) {
    const int ready = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < ready; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        on_accept(listener);
        continue;
      }
      const auto found = connections.find(fd);
      if (found == connections.end()) continue;
      connection& c = found->second;
      if (c.want_out) {
        if (!flush(c)) drop(fd);
        continue;
      }
      on_readable(c);
    }
  }
}
