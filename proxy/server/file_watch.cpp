#include "server/file_watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace tether {

namespace {

// Everything that replaces or rewrites a file in a directory; IN_ATTRIB
// catches a touch, IN_DELETE_SELF a directory that went away.
constexpr std::uint32_t watch_mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                     IN_DELETE | IN_ATTRIB | IN_DELETE_SELF;

int inotify_or_throw() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "inotify_init1");
  }
  return fd;
}

std::string directory_of(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

file_watch::file_watch(net::io_context& ioc, std::chrono::milliseconds quiet,
                       std::function<void()> changed)
    : fd_(ioc, inotify_or_throw()), timer_(ioc), quiet_(quiet), changed_(std::move(changed)) {
  read_events();
}

file_watch::~file_watch() = default;

void file_watch::watch(std::vector<file_stamp> stamps) {
  for (const int wd : watches_) {
    ::inotify_rm_watch(fd_.native_handle(), wd);
  }
  watches_.clear();
  stamps_ = std::move(stamps);
  std::vector<std::string> dirs;
  for (const auto& s : stamps_) {
    dirs.push_back(directory_of(s.path));
    // A symlinked file (Kubernetes: name -> ..data/name): the directory it
    // resolves into changes too, and is where an editor's write lands.
    std::error_code ec;
    const auto real = std::filesystem::canonical(s.path, ec);
    if (!ec) {
      dirs.push_back(directory_of(real.string()));
    }
  }
  for (const auto& d : dirs) {
    const int wd = ::inotify_add_watch(fd_.native_handle(), d.c_str(), watch_mask);
    if (wd < 0) {
      spdlog::warn("file watch: {}: {}", d, std::generic_category().message(errno));
      continue;
    }
    watches_.push_back(wd);  // a directory added twice gives the same wd; removing it twice is harmless
  }
}

void file_watch::read_events() {
  fd_.async_read_some(net::buffer(events_), [this](const error_code& ec, std::size_t) {
    if (ec) {
      return;  // closed at shutdown
    }
    // Which file an event names does not matter: the quiet period ends
    // with a comparison of every watched file.
    timer_.expires_after(quiet_);
    timer_.async_wait([this](const error_code& tec) {
      if (!tec) {
        on_quiet();
      }
    });
    read_events();
  });
}

void file_watch::on_quiet() {
  for (const auto& s : stamps_) {
    if (!(file_stamp::of(s.path) == s)) {
      spdlog::info("file watch: {} changed, reloading", s.path);
      changed_();
      return;
    }
  }
}

}  // namespace tether
