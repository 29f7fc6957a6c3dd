// gzopen/gzread read raw files transparently too; we still detect gzip ourselves so that the
// messages can say "corrupt gzip stream" rather than blame the format inside.
#include "data/byte_source.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "descent/error.h"

namespace descent::data {
namespace {
gzFile as_gz(void* p) { return static_cast<gzFile>(p); }

// zlib's reason without the path it prefixes (we put the path first ourselves).
std::string zlib_reason(gzFile gz, const std::string& path, int* code) {
  const char* msg = gzerror(gz, code);
  std::string reason = msg ? msg : "unknown zlib error";
  if (reason.rfind(path + ": ", 0) == 0) reason.erase(0, path.size() + 2);
  return reason;
}
}  // namespace

ByteSource::ByteSource(const std::string& path) : path_(path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(fmt::format("{}: is a directory, expected a data file", path));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  unsigned char magic[2] = {0, 0};
  size_t got = std::fread(magic, 1, 2, f);
  std::fclose(f);
  gzip_ = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (!gzip_) raw_size_ = std::filesystem::file_size(path, ec);
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) throw Error(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  gzbuffer(gz, 1 << 17);  // larger than the 8 KiB default: fewer inflate calls on 47 MB of images
  gz_ = gz;
}

ByteSource::~ByteSource() {
  if (gz_) gzclose(as_gz(gz_));
}

size_t ByteSource::read(void* dst, size_t n) {
  auto* out = static_cast<char*>(dst);
  size_t done = 0;
  while (done < n) {
    // gzread takes an unsigned count; read in chunks well below its limit.
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    int got = gzread(as_gz(gz_), out + done, chunk);
    if (got < 0) {
      int code = 0;
      throw Error(fmt::format("{}: corrupt gzip stream ({})", path_, zlib_reason(as_gz(gz_), path_, &code)));
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  if (done < n && gzip_) {
    // zlib reports a stream cut short only through gzerror after a short read.
    int code = Z_OK;
    std::string reason = zlib_reason(as_gz(gz_), path_, &code);
    if (code == Z_BUF_ERROR) throw Error(fmt::format("{}: truncated gzip stream ({})", path_, reason));
    if (code != Z_OK) throw Error(fmt::format("{}: corrupt gzip stream ({})", path_, reason));
  }
  return done;
}

std::string read_all(const std::string& path) {
  ByteSource src(path);
  std::string text;
  if (src.raw_size()) text.reserve(*src.raw_size());
  char buf[1 << 16];
  for (;;) {
    size_t got = src.read(buf, sizeof buf);
    text.append(buf, got);
    if (got < sizeof buf) break;
  }
  return text;
}

}  // namespace descent::data
