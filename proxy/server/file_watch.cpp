#include "server/file_watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "config/config.hpp"

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

bool file_watch::stamp::operator==(const stamp& o) const {
  return path == o.path && exists == o.exists && dev == o.dev && ino == o.ino && size == o.size &&
         mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
}

file_watch::stamp file_watch::stamp_of(const std::string& path) {
  stamp s;
  s.path = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {  // through symlinks: the content's file
    s.exists = true;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
  }
  return s;
}

file_watch::file_watch(net::io_context& ioc, std::chrono::milliseconds quiet,
                       std::function<void()> changed)
    : fd_(ioc, inotify_or_throw()), timer_(ioc), quiet_(quiet), changed_(std::move(changed)) {
  read_events();
}

file_watch::~file_watch() = default;

void file_watch::watch(const std::vector<std::string>& files) {
  for (const int wd : watches_) {
    ::inotify_rm_watch(fd_.native_handle(), wd);
  }
  watches_.clear();
  stamps_.clear();
  std::vector<std::string> dirs;
  for (const auto& f : files) {
    dirs.push_back(directory_of(f));
    // A symlinked file (Kubernetes: name -> ..data/name): the directory it
    // resolves into changes too, and is where an editor's write lands.
    std::error_code ec;
    const auto real = std::filesystem::canonical(f, ec);
    if (!ec) {
      dirs.push_back(directory_of(real.string()));
    }
    stamps_.push_back(stamp_of(f));
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
    if (!(stamp_of(s.path) == s)) {
      spdlog::info("file watch: {} changed, reloading", s.path);
      changed_();
      return;
    }
  }
}

std::vector<std::string> files_to_watch(const std::string& config_path, const config& cfg) {
  std::vector<std::string> files{config_path};
  auto add = [&](const std::string& f) {
    if (!f.empty()) {
      files.push_back(f);
    }
  };
  for (const auto& l : cfg.listeners) {
    if (l.tls) {
      add(l.tls->cert);
      add(l.tls->key);
      add(l.tls->client_ca);
      for (const auto& s : l.tls->sni) {
        add(s.cert);
        add(s.key);
      }
    }
  }
  for (const auto& r : cfg.routes) {
    add(r.upstream.tls.ca);
    add(r.upstream.tls.cert);
    add(r.upstream.tls.key);
  }
  return files;
}

}  // namespace tether
