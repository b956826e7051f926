#include "io/socket_io.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace tether {

io_status socket_io::recv(std::uint8_t* at, std::size_t room, std::size_t& got, error_code& ec) {
  got = 0;
  if (poll_first) {
    return io_status::want_read;
  }
  const auto r = ::recv(fd, at, room, 0);
  if (r > 0) {
    got = static_cast<std::size_t>(r);
    last_read_short = got < room;
    poll_first = last_read_short && !owns_fd;
    return io_status::done;
  }
  if (r == 0) {
    peer_eof = true;
    return io_status::eof;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    return io_status::want_read;
  }
  ec = error_code(errno, boost::system::system_category());
  return io_status::error;
}

io_status socket_io::send(const std::uint8_t* data, std::size_t size, std::size_t& sent,
                          error_code& ec) {
  sent = 0;
  for (;;) {
    const auto r = ::send(fd, data, size, MSG_NOSIGNAL);
    if (r >= 0) {
      sent = static_cast<std::size_t>(r);
      return io_status::done;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return io_status::want_write;
    }
    ec = error_code(errno, boost::system::system_category());
    return io_status::error;
  }
}

void socket_io::shutdown_send() {
  if (fd >= 0) {
    ::shutdown(fd, SHUT_WR);
  }
}

void socket_io::close() {
  if (fd >= 0 && owns_fd) {
    ::close(fd);
  }
  fd = -1;
}

}  // namespace tether
