// Internal: sequential reading of a data file that may be gzip-compressed.
//
// Compression is detected by the gzip magic bytes 1f 8b, not by the file name, so a ".gz" file
// that was decompressed in place (or a raw file named ".gz") still reads. Every error message
// starts with the path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace descent::data {

class ByteSource {
 public:
  /// Opens `path`; throws descent::Error "<path>: cannot open (...)".
  explicit ByteSource(const std::string& path);
  ~ByteSource();
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  /// Reads up to n bytes; fewer only at the end of the data. Throws on a corrupt or truncated
  /// gzip stream (naming the path), so a short count always means a clean end of file.
  size_t read(void* dst, size_t n);
  /// True when the file is gzip-compressed.
  bool gzip() const { return gzip_; }
  /// Size in bytes of a raw file (unknown for gzip without decompressing it).
  std::optional<uint64_t> raw_size() const { return raw_size_; }
  /// The path, for messages.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* gz_ = nullptr;  // gzFile; kept opaque so zlib.h stays out of the includers
  bool gzip_ = false;
  std::optional<uint64_t> raw_size_;
};

/// The whole (decompressed) content of a file.
std::string read_all(const std::string& path);

}  // namespace descent::data
