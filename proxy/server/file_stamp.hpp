#pragma once
// What a watched file was when tether read it: device, inode, size and
// mtime, through symlinks. A stamp is taken just before the file is read,
// so that a change made while a load runs differs from it and reloads
// again, instead of being taken for what was loaded.
#include <sys/types.h>

#include <ctime>
#include <string>
#include <vector>

namespace tether {

struct config;

struct file_stamp {
  std::string path;
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{};

  static file_stamp of(const std::string& path);
  bool operator==(const file_stamp& o) const;
};

/// `config_file`'s stamp, taken before it was read, and those of every
/// certificate, key and CA file `cfg` names, taken now: after the loader
/// checked them, before they are loaded for use.
std::vector<file_stamp> stamp_files(file_stamp config_file, const config& cfg);

}  // namespace tether
