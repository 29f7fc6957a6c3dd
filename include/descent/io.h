// descent/io.h — weights and checkpoints on disk, and models that leave descent.
//
// safetensors (https://github.com/huggingface/safetensors): 8 bytes little-endian header length
// N, N bytes of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
// "__metadata__": {"k": "v"}} padded with spaces to a multiple of 8, then the raw little-endian
// data; offsets are relative to the data and the tensors tile it without gaps or overlaps.
// Reading validates every byte of that structure: a malformed file is a one-line descent::Error
// naming the file and what is wrong, never a crash or a silently wrong tensor.
//
// Checkpoints (CheckpointStore) are pairs <name>.safetensors + <name>.json in a folder; the JSON
// holds the size and SHA-256 of the tensor file and a checksum of itself, and is written last, so a
// checkpoint exists only once both files are complete and durable. Every file is written to a
// temporary name, fsynced, renamed into place and the folder fsynced: a crash at any moment leaves
// the previous checkpoint intact.
//
//   descent::io::save_safetensors("final.safetensors", net->state_dict());
//   descent::io::load_weights(*net, "final.safetensors");          // names and shapes checked
//   descent::io::export_onnx(*net, {784}, "model.onnx");            // eval-mode graph, opset 13
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "descent/config.h"
#include "descent/nn.h"
#include "descent/tensor.h"

namespace descent::io {

// ---- files ----------------------------------------------------------------------------------

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the folder.
void write_file_atomic(const std::string& path, std::string_view bytes);
/// The whole file; throws descent::Error naming it when it cannot be read.
std::string read_file(const std::string& path);
/// SHA-256 of `bytes` as 64 lower-case hex digits (FIPS 180-4; what `sha256sum` prints).
std::string sha256_hex(std::string_view bytes);

// ---- safetensors ----------------------------------------------------------------------------

/// Tensors and string metadata of a safetensors file.
struct SafetensorsData {
  nn::NamedTensors tensors;                     ///< in the order of their data in the file
  std::map<std::string, std::string> metadata;  ///< the "__metadata__" table (may be empty)
};

/// A safetensors file as bytes (F32, F64, I64, U8; tensors stored largest element size first).
std::string safetensors_bytes(const nn::NamedTensors& tensors, const std::map<std::string, std::string>& metadata = {});
/// Parses safetensors bytes; `name` stands for the file in messages. Throws on any malformation.
SafetensorsData parse_safetensors(std::string_view bytes, const std::string& name);
/// Writes a safetensors file atomically.
void save_safetensors(const std::string& path, const nn::NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});
/// Reads and validates a safetensors file.
SafetensorsData load_safetensors(const std::string& path);

// ---- weights into a model -------------------------------------------------------------------

/// Copies `tensors` into the model's state_dict by name (float dtypes convert, like torch's
/// load_state_dict). Every mismatch — a model tensor missing from `tensors`, a tensor the model
/// does not have, a different shape or an int/float clash — is listed in one descent::Error
/// naming `source`; nothing is copied unless everything matches.
void load_state_dict(nn::Module& model, const nn::NamedTensors& tensors, const std::string& source);
/// load_state_dict from a safetensors file (`[model] init_from`, `--init-from`).
void load_weights(nn::Module& model, const std::string& path);

// ---- checkpoints ----------------------------------------------------------------------------

/// The [checkpoint] section (documented in docs/CONFIG.md).
struct CheckpointOptions {
  int64_t every_steps = 0;   ///< write a checkpoint every N optimizer steps (0 = off)
  int64_t every_epochs = 1;  ///< write one after every N epochs' evaluation (0 = off)
  double min_seconds = 10.0; ///< skip a periodic checkpoint less than this after the previous one
  int64_t keep_last = 3;     ///< keep the newest N checkpoints (>= 1)
  bool keep_best = true;     ///< also keep the epoch checkpoint with the best `metric`
  std::string metric;        ///< metrics.jsonl key ranking epoch checkpoints ("" = val_loss, else train_loss)
  bool maximize = false;     ///< true: larger is better ("auto" mode: names ending in acc)
};

/// Reads [checkpoint] (an empty Args gives the defaults) and calls finish(); `has_val` tells
/// whether a validation split exists (the default metric, and val_* metrics need it).
CheckpointOptions parse_checkpoint_options(const Args& section, bool has_val);

/// Where a checkpoint stands; orders checkpoints (step, then epoch-end after mid-epoch).
struct CheckpointId {
  int64_t step = 0;         ///< optimizer steps taken
  int64_t epoch = 0;        ///< epoch of that step (1-based)
  bool epoch_end = false;   ///< written after the epoch's evaluation
  /// File stem: "ckpt-s000000012-e0003", with "-end" when written after the epoch's evaluation.
  std::string name() const;
  /// Parses name(); nullopt for any other file name.
  static std::optional<CheckpointId> parse(const std::string& stem);
  /// Order of writing.
  bool operator<(const CheckpointId& o) const;
};

/// A checkpoint read back and verified.
struct LoadedCheckpoint {
  CheckpointId id;              ///< which one
  nn::NamedTensors tensors;     ///< every tensor it holds
  std::string state_json;       ///< the JSON state the writer passed (checksum verified)
};

/// A folder of checkpoints with atomic writes, verification and retention.
class CheckpointStore {
 public:
  /// Uses `dir` (created on the first save).
  explicit CheckpointStore(std::string dir);
  /// The folder.
  const std::string& dir() const { return dir_; }
  /// Writes the tensors, then the JSON (the commit); returns the JSON file's path.
  std::string save(const CheckpointId& id, const nn::NamedTensors& tensors, const std::string& state_json);
  /// Checkpoints whose JSON file exists, newest first (not verified).
  std::vector<CheckpointId> list() const;
  /// Reads and verifies one (sizes, SHA-256, checksums, tensor file); throws naming the file.
  LoadedCheckpoint load(const CheckpointId& id) const;
  /// The newest checkpoint that verifies; each one skipped adds a line to `skipped`.
  std::optional<LoadedCheckpoint> load_newest(std::vector<std::string>* skipped = nullptr) const;
  /// Deletes every checkpoint except the newest `keep_last` and `also_keep`, and stale temporary
  /// and orphaned tensor files. Call only after a save completed.
  void prune(int64_t keep_last, const std::optional<CheckpointId>& also_keep);

 private:
  LoadedCheckpoint load_verified(const CheckpointId& id) const;
  std::string dir_;
};

// ---- ONNX -----------------------------------------------------------------------------------

/// Options of export_onnx.
struct OnnxOptions {
  int64_t opset = 13;               ///< ai.onnx opset version (13 or later)
  std::string graph_name = "descent";  ///< GraphProto name
  /// Preprocessing of raw inputs (a run's standardization): when set, one value per input
  /// element, the graph starts with Sub(input_shift) and Div(input_scale), so it takes raw features.
  std::vector<double> input_shift = {};
  std::vector<double> input_scale = {};  ///< divisors, same size as input_shift
};

/// True when this build can write ONNX (libonnx-dev was found).
bool onnx_available();
/// Writes the model in eval mode as an ONNX file with input "input" [N, ...input_shape] and output
/// "output", float32. Linear → Gemm, Conv2d → Conv, pools, BatchNormalization, activations,
/// Flatten; Dropout and Identity are dropped; options.input_shift/input_scale put the input's
/// standardization (Sub, Div) in front. A layer without an ONNX mapping is a descent::Error
/// naming it, and no file is written.
void export_onnx(const nn::Sequential& model, const Shape& input_shape, const std::string& path,
                 const OnnxOptions& options = {});

}  // namespace descent::io
