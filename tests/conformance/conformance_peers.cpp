#include "conformance_peers.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

namespace tt::conformance {

std::optional<wire_frame> backend_peer::next_frame(ms timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto f = parse_server_frame(buf_);
    if (f.size > 0) {
      // parse_server_frame leaves a masked payload as it was sent; tether
      // masks toward the backend, so unmask with the key before it.
      const bool masked = (static_cast<std::uint8_t>(buf_[1]) & 0x80) != 0;
      if (masked) {
        const auto key = buf_.substr(f.size - f.payload.size() - 4, 4);
        for (std::size_t i = 0; i < f.payload.size(); ++i) {
          f.payload[i] = static_cast<char>(f.payload[i] ^ key[i % 4]);
        }
      }
      buf_.erase(0, f.size);
      return wire_frame{f.opcode, f.fin, masked, std::move(f.payload)};
    }
    const auto left = std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now()).count();
    pollfd p{s_->fd, POLLIN, 0};
    if (eof_ || left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
      return std::nullopt;
    }
    char chunk[65536];
    const auto n = ::recv(s_->fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return std::nullopt;
    }
    buf_.append(chunk, static_cast<std::size_t>(n));
  }
}

backend_pool::backend_pool()
    : backend_([this](hostile::raw_backend& self, int fd, const std::string& head) { serve(self, fd, head); }) {}

void backend_pool::serve(hostile::raw_backend& self, int fd, const std::string& head) {
  // Chopped frames must leave as separate segments, not wait for an ACK.
  int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  auto s = std::make_shared<backend_peer::shared>();
  s->fd = fd;
  s->head = head;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(s);
  }
  ready_.notify_all();
  hostile::write_all(fd, hostile::raw_backend::accept_answer(head));
  while (!s->done && !self.stopping()) {
    std::this_thread::sleep_for(5ms);
  }
}

std::unique_ptr<backend_peer> backend_pool::next(ms timeout) {
  std::unique_lock lock(mutex_);
  if (!ready_.wait_for(lock, timeout, [&] { return !queue_.empty(); })) {
    return nullptr;
  }
  auto s = std::move(queue_.front());
  queue_.pop_front();
  return std::make_unique<backend_peer>(std::move(s));
}

}  // namespace tt::conformance
