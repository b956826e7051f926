#pragma once
// Reload on change: the configuration file and every certificate and key it
// names are watched with inotify, through their directories. Kubernetes
// updates a mounted ConfigMap or Secret by swapping a symlink in that
// directory (..data), and editors replace files by renaming; a watch on the
// file itself would miss both. Events only start a quiet period; when it
// ends, the files are compared (device, inode, size, mtime, through
// symlinks) with what was loaded, and only a real difference reloads.
#include <sys/stat.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "net.hpp"

namespace tether {

class file_watch {
 public:
  /// `changed` runs on `ioc`'s thread once watched files changed and then
  /// stayed quiet for `quiet`.
  file_watch(net::io_context& ioc, std::chrono::milliseconds quiet, std::function<void()> changed);
  ~file_watch();
  file_watch(const file_watch&) = delete;
  file_watch& operator=(const file_watch&) = delete;

  /// Watches these files from now on, as they are now (call again after a
  /// reload, with the files the new configuration names).
  void watch(const std::vector<std::string>& files);

 private:
  struct stamp {
    std::string path;
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    timespec mtime{};
    bool operator==(const stamp& o) const;
  };
  static stamp stamp_of(const std::string& path);
  void read_events();
  void on_quiet();

  net::posix::stream_descriptor fd_;
  net::steady_timer timer_;
  std::chrono::milliseconds quiet_;
  std::function<void()> changed_;
  std::vector<int> watches_;
  std::vector<stamp> stamps_;
  std::array<char, 4096> events_{};
};

/// The configuration file and every certificate, key and CA file `cfg` names.
struct config;
std::vector<std::string> files_to_watch(const std::string& config_path, const config& cfg);

}  // namespace tether
