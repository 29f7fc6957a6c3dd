// IDX reader (the MNIST format): a big-endian header — two zero bytes, the element type (0x08 =
// unsigned byte), the rank — then one 32-bit extent per dimension, then the elements row-major.
// We read the header, check it against what the caller expects, and read the elements straight
// into the tensor's storage (no intermediate copy of the 47 MB of training images).
#include <fmt/format.h>

#include <array>

#include "data/byte_source.h"
#include "descent/data.h"

namespace descent::data {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;
// A header that declares more than this is damaged (MNIST's training images are 47 MB); checked
// before allocating so a corrupt extent cannot ask for terabytes.
constexpr uint64_t kMaxIdxBytes = uint64_t{8} << 30;

uint32_t big_endian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Reads an unsigned-byte IDX file whose magic must be `magic` (rank = its low byte).
Tensor read_idx_u8(const std::string& path, uint32_t magic, const char* kind) {
  ByteSource src(path);
  unsigned char head[4];
  size_t got = src.read(head, 4);
  if (got < 4) throw Error(fmt::format("{}: truncated IDX header ({} bytes, need 4)", path, got));
  uint32_t found = big_endian32(head);
  if (found != magic) {
    throw Error(fmt::format("{}: wrong IDX magic 0x{:08X} (expected 0x{:08X} for {})", path, found, magic, kind));
  }
  const int rank = static_cast<int>(magic & 0xff);
  std::array<unsigned char, 12> dims_raw{};
  got = src.read(dims_raw.data(), 4 * static_cast<size_t>(rank));
  if (got < 4 * static_cast<size_t>(rank)) {
    throw Error(fmt::format("{}: truncated IDX header ({} of {} extent bytes)", path, got, 4 * rank));
  }
  Shape shape;
  uint64_t bytes = 1;
  static const char* const kDimNames[] = {"count", "rows", "columns"};
  for (int d = 0; d < rank; ++d) {
    uint32_t extent = big_endian32(dims_raw.data() + 4 * d);
    if (extent == 0) throw Error(fmt::format("{}: IDX header has {} = 0", path, kDimNames[d]));
    bytes *= extent;
    if (bytes > kMaxIdxBytes) {
      throw Error(fmt::format("{}: IDX header declares more than {} bytes of data; the header is damaged", path,
                              kMaxIdxBytes));
    }
    shape.push_back(extent);
  }
  const uint64_t header_bytes = 4 + 4 * static_cast<uint64_t>(rank);
  // A raw file's size is known: report truncation before allocating anything.
  if (auto size = src.raw_size(); size && *size != header_bytes + bytes) {
    if (*size < header_bytes + bytes) {
      throw Error(fmt::format("{}: truncated: header declares {} {} ({} bytes of data) but the file holds {}", path,
                              shape[0], kind, bytes, *size - header_bytes));
    }
    throw Error(fmt::format("{}: {} bytes of trailing data after the {} {} the header declares", path,
                            *size - header_bytes - bytes, shape[0], kind));
  }
  Tensor t = empty(shape, DType::U8);
  got = src.read(t.raw_data(), bytes);
  if (got < bytes) {
    throw Error(fmt::format("{}: truncated: header declares {} {} ({} bytes of data) but the file holds {}", path,
                            shape[0], kind, bytes, got));
  }
  unsigned char extra;
  if (src.read(&extra, 1) != 0) {
    throw Error(fmt::format("{}: trailing data after the {} {} the header declares", path, shape[0], kind));
  }
  return t;
}

}  // namespace

Tensor read_idx_images(const std::string& path) { return read_idx_u8(path, kImagesMagic, "images"); }

Tensor read_idx_labels(const std::string& path) { return read_idx_u8(path, kLabelsMagic, "labels"); }

Dataset load_idx(const std::string& images_path, const std::string& labels_path, const IdxOptions& options) {
  if (options.num_classes < 1 || options.num_classes > 256) {
    throw Error(fmt::format("{}: num_classes must be in [1, 256] for uint8 labels, got {}", labels_path,
                            options.num_classes));
  }
  if (!options.class_names.empty() && static_cast<int64_t>(options.class_names.size()) != options.num_classes) {
    throw Error(fmt::format("{}: {} class names for {} classes", labels_path, options.class_names.size(),
                            options.num_classes));
  }
  Tensor images = read_idx_images(images_path);
  Tensor labels = read_idx_labels(labels_path);
  const int64_t n = images.size(0);
  if (labels.size(0) != n) {
    throw Error(fmt::format("{} has {} images but {} has {} labels", images_path, n, labels_path, labels.size(0)));
  }
  Tensor targets = empty({n}, DType::I64);
  const uint8_t* src = labels.data<uint8_t>();
  int64_t* dst = targets.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (src[i] >= options.num_classes) {
      throw Error(fmt::format("{}: label {} at index {} is outside [0, {})", labels_path, int{src[i]}, i,
                              options.num_classes));
    }
    dst[i] = src[i];
  }
  Dataset ds;
  ds.sample_shape = {1, images.size(1), images.size(2)};
  ds.inputs = images.reshape({n, 1, images.size(1), images.size(2)});
  ds.targets = targets;
  ds.task = Task::Classification;
  ds.num_classes = options.num_classes;
  ds.class_names = options.class_names;
  for (int64_t c = static_cast<int64_t>(ds.class_names.size()); c < options.num_classes; ++c) {
    ds.class_names.push_back(std::to_string(c));
  }
  ds.source = images_path + ", " + labels_path;
  return ds;
}

}  // namespace descent::data
