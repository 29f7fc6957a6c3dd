// safetensors reader and writer. The reader trusts nothing: every length, offset, dtype and shape
// is checked against the bytes actually present before a single tensor byte is copied, with the
// same rules as the reference implementation (huggingface/safetensors): the header is a JSON object
// of at most 100 MB, offsets are relative to the data, and the tensors tile the data exactly.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "descent/io.h"

namespace descent::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this build assumes a little-endian machine");

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit

const char* st_dtype(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
    default: throw Error("safetensors: unknown dtype");
  }
}

std::optional<DType> st_dtype_from(const std::string& s) {
  if (s == "F32") return DType::F32;
  if (s == "F64") return DType::F64;
  if (s == "I64") return DType::I64;
  if (s == "U8") return DType::U8;
  return std::nullopt;
}

// Parses the header JSON and rejects duplicate keys, which nlohmann would silently collapse.
json parse_header(std::string_view text, const std::string& name) {
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  auto cb = [&](int, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::object_start) keys.emplace_back();
    else if (ev == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    else if (ev == json::parse_event_t::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
             duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json h;
  try {
    h = json::parse(text.begin(), text.end(), cb);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: safetensors header is not valid JSON ({})", name, e.what()));
  }
  if (!duplicate.empty()) throw Error(fmt::format("{}: safetensors header has the key '{}' twice", name, duplicate));
  if (!h.is_object()) throw Error(fmt::format("{}: safetensors header must be a JSON object", name));
  return h;
}

uint64_t read_u64(const json& v, const std::string& name, const std::string& what) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    throw Error(fmt::format("{}: {} must be a non-negative integer, got {}", name, what, v.dump()));
  return v.get<uint64_t>();
}

struct Entry {
  std::string key;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& key, const json& v, uint64_t data_len, const std::string& name) {
  const std::string where = fmt::format("tensor '{}'", key);
  if (!v.is_object()) throw Error(fmt::format("{}: {} must be an object with dtype, shape, data_offsets", name, where));
  for (const auto& [k, ignored] : v.items())
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      throw Error(fmt::format("{}: {} has an unknown field '{}'", name, where, k));
  if (!v.contains("dtype") || !v["dtype"].is_string())
    throw Error(fmt::format("{}: {} needs a string 'dtype'", name, where));
  auto dtype = st_dtype_from(v["dtype"].get<std::string>());
  if (!dtype)
    throw Error(fmt::format("{}: {} has dtype '{}'; descent reads F32, F64, I64 and U8", name, where,
                            v["dtype"].get<std::string>()));
  if (!v.contains("shape") || !v["shape"].is_array()) throw Error(fmt::format("{}: {} needs an array 'shape'", name, where));
  Entry e{key, *dtype, {}, 0, 0};
  bool zero = false, overflow = false;
  uint64_t numel = 1;
  for (const auto& d : v["shape"]) {
    uint64_t n = read_u64(d, name, where + " shape entry");
    if (n > static_cast<uint64_t>(INT64_MAX)) overflow = true;
    zero = zero || n == 0;
    overflow = __builtin_mul_overflow(numel, n, &numel) || overflow;
    e.shape.push_back(static_cast<int64_t>(n));
  }
  uint64_t need = 0;
  if (overflow || (!zero && __builtin_mul_overflow(numel, dtype_size(e.dtype), &need)))
    throw Error(fmt::format("{}: {} shape {} is too large", name, where, v["shape"].dump()));
  const json& off = v.contains("data_offsets") ? v["data_offsets"] : json();
  if (!off.is_array() || off.size() != 2)
    throw Error(fmt::format("{}: {} needs 'data_offsets' = [begin, end]", name, where));
  e.begin = read_u64(off[0], name, where + " data_offsets[0]");
  e.end = read_u64(off[1], name, where + " data_offsets[1]");
  if (e.begin > e.end || e.end > data_len)
    throw Error(fmt::format("{}: {} data_offsets [{}, {}] are out of range (the data holds {} bytes; file truncated?)",
                            name, where, e.begin, e.end, data_len));
  if (e.end - e.begin != need)
    throw Error(fmt::format("{}: {} data_offsets [{}, {}] hold {} bytes but {} {} needs {}", name, where, e.begin, e.end,
                            e.end - e.begin, v["dtype"].get<std::string>(), shape_str(e.shape), need));
  return e;
}

}  // namespace

std::string safetensors_bytes(const nn::NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  // Largest element size first (stable within a size), as the reference writer does, so every
  // tensor starts aligned to its own element size when the data starts at a multiple of 8.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dtype_size(tensors[a].second.dtype()) > dtype_size(tensors[b].second.dtype());
  });
  json header = json::object();
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (size_t i : order) {
    const auto& [key, t] = tensors[i];
    if (key == "__metadata__" || !seen.insert(key).second)
      throw Error(fmt::format("safetensors: tensor name '{}' is reserved or repeated", key));
    if (!t.defined()) throw Error(fmt::format("safetensors: tensor '{}' is undefined", key));
    const uint64_t n = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
    header[key] = {{"dtype", st_dtype(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts at a multiple of 8
  std::string out;
  out.reserve(8 + text.size() + offset);
  const uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(len >> (8 * i)));
  out += text;
  for (size_t i : order) {
    const Tensor& t = tensors[i].second;
    out.append(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
  }
  return out;
}

SafetensorsData parse_safetensors(std::string_view bytes, const std::string& name) {
  if (bytes.size() < 8)
    throw Error(fmt::format("{}: truncated safetensors file: {} bytes, the 8-byte header length alone needs 8", name,
                            bytes.size()));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (n > kMaxHeader) throw Error(fmt::format("{}: safetensors header length {} is over the 100 MB limit (not a safetensors file?)", name, n));
  if (n > bytes.size() - 8)
    throw Error(fmt::format("{}: truncated safetensors file: header length {} but only {} bytes follow", name, n,
                            bytes.size() - 8));
  std::string_view text = bytes.substr(8, n);
  if (text.empty() || text[0] != '{') throw Error(fmt::format("{}: safetensors header must start with '{{'", name));
  json h = parse_header(text, name);
  const std::string_view data = bytes.substr(8 + n);
  SafetensorsData out;
  std::vector<Entry> entries;
  for (const auto& [key, v] : h.items()) {
    if (key == "__metadata__") {
      if (!v.is_object()) throw Error(fmt::format("{}: __metadata__ must be an object of strings", name));
      for (const auto& [mk, mv] : v.items()) {
        if (!mv.is_string()) throw Error(fmt::format("{}: __metadata__ value '{}' must be a string", name, mk));
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, v, data.size(), name));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos)
      throw Error(fmt::format("{}: tensors '{}' and '{}' overlap (bytes [{}, {}] and [{}, {}])", name, prev->key, e.key,
                              prev->begin, prev->end, e.begin, e.end));
    if (e.begin > pos)
      throw Error(fmt::format("{}: {} unused bytes before tensor '{}' (data_offsets must tile the data)", name,
                              e.begin - pos, e.key));
    pos = e.end;
    prev = &e;
  }
  if (pos != data.size())
    throw Error(fmt::format("{}: {} bytes after the last tensor's data (data_offsets must tile the data)", name,
                            data.size() - pos));
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw_data(), data.data() + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.key, t);
  }
  return out;
}

void save_safetensors(const std::string& path, const nn::NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, safetensors_bytes(tensors, metadata));
}

SafetensorsData load_safetensors(const std::string& path) { return parse_safetensors(read_file(path), path); }

}  // namespace descent::io
