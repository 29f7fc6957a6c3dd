// descent/io.h: safetensors bytes and every way a file can be malformed, SHA-256, weights into a
// model, the checkpoint store (damage, retention, SIGKILL during writes) and the [checkpoint]
// parser. ONNX export is tested in io_onnx_test.cpp.
//
// To add a malformed-safetensors case: add a row to kMalformed() with the header text, the data
// bytes and a fragment the one-line message must contain.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "descent/descent.h"
#include "descent/io.h"

using namespace descent;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("descent_io_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  return s;
}

// A safetensors file from header text and data bytes, with a correct length prefix.
std::string file_of(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

std::string message_of(const std::string& bytes) {
  try {
    io::parse_safetensors(bytes, "bad.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), static_cast<size_t>(a.numel()) * dtype_size(a.dtype())) == 0;
}

const Tensor& find(const nn::NamedTensors& ts, const std::string& name) {
  for (const auto& [n, t] : ts)
    if (n == name) return t;
  throw std::runtime_error("no tensor " + name);
}

}  // namespace

// ---- safetensors ----------------------------------------------------------------------------

TEST(Safetensors, BytesFollowTheSpecExactly) {
  // One F32 tensor [2] = {1, 2}: header JSON, spaces to a multiple of 8, then the raw floats.
  std::string bytes = io::safetensors_bytes({{"a", from_vector({1, 2}, {2})}});
  const std::string header = R"({"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}})";
  ASSERT_EQ(header.size(), 54u);
  const std::string padded = header + "  ";  // 8 + 56 bytes: the data starts at a multiple of 8
  const float values[2] = {1.0f, 2.0f};
  EXPECT_EQ(bytes, le64(56) + padded + std::string(reinterpret_cast<const char*>(values), 8));
}

TEST(Safetensors, RoundTripsEveryDtypeBitForBit) {
  Tensor f32 = from_vector({1.5, -2.25, 3e-38, 7, 8, 9}, {2, 3});
  Tensor f64 = from_vector({0.1, 1e300, -0.0, 4}, {4}, DType::F64);
  Tensor i64 = scalar(-1234567890123, DType::I64);
  Tensor u8 = from_vector({0, 1, 255, 7, 9}, {5}, DType::U8);
  Tensor none = zeros({0, 3});
  nn::NamedTensors in = {{"w", f32}, {"byte", u8}, {"d", f64}, {"count", i64}, {"empty", none}};
  std::string bytes = io::safetensors_bytes(in, {{"format", "pt"}});
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);  // data starts aligned
  io::SafetensorsData out = io::parse_safetensors(bytes, "x.safetensors");
  ASSERT_EQ(out.tensors.size(), 5u);
  // Stored largest element first (stable): d, count (8 bytes), w, empty (4), byte (1).
  EXPECT_EQ(out.tensors[0].first, "d");
  EXPECT_EQ(out.tensors[1].first, "count");
  EXPECT_EQ(out.tensors[2].first, "w");
  EXPECT_EQ(out.tensors[3].first, "empty");
  EXPECT_EQ(out.tensors[4].first, "byte");
  for (const auto& [name, t] : in) EXPECT_TRUE(same_bits(t, find(out.tensors, name))) << name;
  EXPECT_EQ(find(out.tensors, "count").dim(), 0);
  EXPECT_EQ(out.metadata.at("format"), "pt");
}

TEST(Safetensors, SaveIsAtomicAndLoadNamesTheFile) {
  fs::path d = temp_dir("save");
  const std::string path = (d / "w.safetensors").string();
  io::save_safetensors(path, {{"a", ones({3})}});
  io::save_safetensors(path, {{"a", full({3}, 2.0)}});  // replaces
  EXPECT_EQ(io::load_safetensors(path).tensors[0].second.to_vector(), (std::vector<double>{2, 2, 2}));
  for (const auto& e : fs::directory_iterator(d)) EXPECT_EQ(e.path().filename(), "w.safetensors");  // no temp left
  try {
    io::load_safetensors((d / "missing.safetensors").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.safetensors"), std::string::npos);
  }
  EXPECT_THROW(io::safetensors_bytes({{"a", ones({1})}, {"a", ones({1})}}), Error);  // repeated name
  fs::remove_all(d);
}

struct Malformed {
  const char* what;
  std::string bytes;
  const char* fragment;
};

std::vector<Malformed> kMalformed() {
  const std::string f8(8, '\0');
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  return {
      {"empty file", "", "truncated"},
      {"7 bytes", std::string(7, '\0'), "truncated"},
      {"header longer than the file", le64(500) + ok, "truncated"},
      {"absurd header length", le64(uint64_t{1} << 40) + ok, "100 MB"},
      {"header not JSON", file_of("{\"a\": [1, 2", f8), "not valid JSON"},
      {"header not an object", file_of("[1, 2]", f8), "must start with '{'"},
      {"unknown dtype", file_of(R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", f8), "BF16"},
      {"missing dtype", file_of(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", f8), "needs a string 'dtype'"},
      {"shape not an array", file_of(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", f8), "'shape'"},
      {"negative extent", file_of(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f8), "non-negative"},
      {"huge shape", file_of(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", f8),
       "too large"},
      {"offsets past the data", file_of(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f8), "out of range"},
      {"begin after end", file_of(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", f8), "out of range"},
      {"one offset", file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", f8), "data_offsets"},
      {"wrong size for dtype", file_of(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", f8), "needs 16"},
      {"overlap", file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f8),
       "overlap"},
      {"gap", file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f8), "unused bytes"},
      {"trailing bytes", file_of(ok, f8 + "xx"), "after the last tensor"},
      {"truncated data", file_of(ok, "1234"), "out of range"},
      {"duplicate name", file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f8),
       "twice"},
      {"unknown field", file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", f8), "unknown field 'x'"},
      {"metadata not strings", file_of(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f8),
       "__metadata__"},
  };
}

TEST(Safetensors, EveryMalformationIsAOneLineErrorNamingTheFile) {
  for (const Malformed& m : kMalformed()) {
    std::string msg = message_of(m.bytes);
    EXPECT_NE(msg.find("bad.safetensors"), std::string::npos) << m.what << ": " << msg;
    EXPECT_NE(msg.find(m.fragment), std::string::npos) << m.what << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << m.what << ": " << msg;
  }
  // The well-formed version of the same file reads.
  const std::string f8(8, '\0');
  EXPECT_EQ(io::parse_safetensors(file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f8), "ok")
                .tensors.size(), 1u);
}

TEST(Safetensors, EveryTruncationOfARealFileIsRejected) {
  std::string bytes = io::safetensors_bytes({{"w", ones({3, 2})}, {"n", scalar(3, DType::I64)}});
  for (size_t cut = 0; cut < bytes.size(); ++cut)
    EXPECT_THROW(io::parse_safetensors(std::string_view(bytes).substr(0, cut), "cut"), Error) << cut;
}

// ---- SHA-256 --------------------------------------------------------------------------------

TEST(Sha256, MatchesFipsVectors) {
  EXPECT_EQ(io::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(io::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(io::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(io::sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// ---- weights into a model -------------------------------------------------------------------

namespace {
std::shared_ptr<nn::Sequential> mlp(int64_t hidden, DType dtype = DType::F32, uint64_t seed = 1) {
  ModelConfig mc;
  mc.input_shape = {4};
  Args a("l0"), r("l1"), b("l2");
  a.set("type", std::string("linear")), a.set("out_features", hidden);
  r.set("type", std::string("relu"));
  b.set("type", std::string("linear")), b.set("out_features", int64_t{3});
  mc.layers = {a, r, b};
  return nn::build_model(mc, dtype, seed);
}
}  // namespace

TEST(LoadStateDict, CopiesByNameAndConvertsFloatTypes) {
  auto src = mlp(5, DType::F64, 1);
  auto dst = mlp(5, DType::F32, 2);
  ASSERT_NE(find(src->state_dict(), "0.weight").at({0, 0}), static_cast<float>(find(dst->state_dict(), "0.weight").at({0, 0})));
  io::load_state_dict(*dst, src->state_dict(), "src");
  for (const auto& [name, t] : dst->state_dict()) {
    EXPECT_EQ(t.dtype(), DType::F32);
    std::vector<double> want = find(src->state_dict(), name).to_vector(), got = t.to_vector();
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], static_cast<double>(static_cast<float>(want[i]))) << name;
  }
}

TEST(LoadStateDict, ListsEveryMismatchAndChangesNothing) {
  auto model = mlp(5);
  std::vector<double> before = find(model->state_dict(), "0.weight").to_vector();
  nn::NamedTensors given = mlp(6)->state_dict();  // 0.weight [6,4], 0.bias [6], 2.weight [3,6]: three shapes
  given.erase(given.begin() + 3);                 // drop 2.bias
  given.emplace_back("5.weight", ones({2}));      // a tensor the model lacks
  try {
    io::load_state_dict(*model, given, "w.safetensors");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("w.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find("5 mismatches"), std::string::npos) << m;
    EXPECT_NE(m.find("'0.weight' has shape [6, 4] in the file but [5, 4] in the model"), std::string::npos) << m;
    EXPECT_NE(m.find("'2.bias' [3] is missing from the file"), std::string::npos) << m;
    EXPECT_NE(m.find("'5.weight' [2] in the file matches no tensor of the model"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos);
  }
  EXPECT_EQ(find(model->state_dict(), "0.weight").to_vector(), before);
}

TEST(LoadStateDict, LoadWeightsReadsAFileAndRejectsADamagedOne) {
  fs::path d = temp_dir("weights");
  auto src = mlp(5, DType::F32, 3);
  const std::string path = (d / "w.safetensors").string();
  io::save_safetensors(path, src->state_dict());
  auto dst = mlp(5, DType::F32, 4);
  io::load_weights(*dst, path);
  for (const auto& [name, t] : dst->state_dict()) EXPECT_TRUE(same_bits(t, find(src->state_dict(), name))) << name;
  fs::resize_file(path, fs::file_size(path) - 3);
  EXPECT_THROW(io::load_weights(*dst, path), Error);
  fs::remove_all(d);
}

// ---- checkpoints ----------------------------------------------------------------------------

TEST(CheckpointId, NamesParseAndOrder) {
  io::CheckpointId mid{.step = 12, .epoch = 3}, end{.step = 12, .epoch = 3, .epoch_end = true}, later{.step = 13, .epoch = 4};
  EXPECT_EQ(mid.name(), "ckpt-s000000012-e0003");
  EXPECT_EQ(end.name(), "ckpt-s000000012-e0003-end");
  auto parsed = io::CheckpointId::parse(end.name());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->step, 12);
  EXPECT_EQ(parsed->epoch, 3);
  EXPECT_TRUE(parsed->epoch_end);
  EXPECT_FALSE(io::CheckpointId::parse("ckpt-s12-e3"));
  EXPECT_FALSE(io::CheckpointId::parse("final"));
  EXPECT_TRUE(mid < end);
  EXPECT_TRUE(end < later);
  EXPECT_FALSE(end < mid);
}

namespace {
// Saves a checkpoint whose one tensor is filled with its step: content that says where it came from.
// Plain loops, no OpenMP: it also runs in a forked child.
void save_step(io::CheckpointStore& store, int64_t step, int64_t numel = 16) {
  Tensor t = empty({numel});
  float* p = t.data<float>();
  for (int64_t i = 0; i < numel; ++i) p[i] = static_cast<float>(step);
  store.save({.step = step, .epoch = 1}, {{"model.w", t}}, "{\"step\": " + std::to_string(step) + "}");
}
}  // namespace

TEST(CheckpointStore, SavesListsAndLoadsVerified) {
  fs::path d = temp_dir("store");
  io::CheckpointStore store((d / "ck").string());
  EXPECT_TRUE(store.list().empty());
  EXPECT_FALSE(store.load_newest());
  save_step(store, 3);
  save_step(store, 1);
  save_step(store, 2);
  std::vector<io::CheckpointId> ids = store.list();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].step, 3);
  EXPECT_EQ(ids[2].step, 1);
  io::LoadedCheckpoint c = *store.load_newest();
  EXPECT_EQ(c.id.step, 3);
  EXPECT_EQ(c.state_json, "{\"step\":3}");
  EXPECT_EQ(c.tensors[0].second.to_vector(), std::vector<double>(16, 3.0));
  fs::remove_all(d);
}

struct Damage {
  const char* what;
  std::function<void(const fs::path& stem)> apply;
  const char* fragment;
};

TEST(CheckpointStore, DamageIsDetectedAndTheNewestGoodOneIsUsed) {
  auto flip = [](const fs::path& p, std::streamoff at) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(at);
    char c = static_cast<char>(f.get());
    f.seekp(at);
    f.put(static_cast<char>(c ^ 0x01));
  };
  std::vector<Damage> cases = {
      {"flipped tensor byte", [&](const fs::path& s) { flip(s.string() + ".safetensors", 100); }, "SHA-256"},
      {"truncated tensors", [](const fs::path& s) { fs::resize_file(s.string() + ".safetensors", 64); }, "expected"},
      {"missing tensors", [](const fs::path& s) { fs::remove(s.string() + ".safetensors"); }, "missing"},
      {"truncated JSON", [](const fs::path& s) { fs::resize_file(s.string() + ".json", 40); }, "not valid JSON"},
      {"edited JSON", [](const fs::path& s) {
         std::string t = io::read_file(s.string() + ".json");
         t.replace(t.find("\"step\": 2"), 9, "\"step\": 9");
         std::ofstream(s.string() + ".json") << t;
       }, "checksum"},
      {"JSON without checksum", [](const fs::path& s) { std::ofstream(s.string() + ".json") << "{\"format\": 1}"; },
       "missing format or checksum"},
  };
  for (const Damage& dmg : cases) {
    fs::path d = temp_dir("damage");
    io::CheckpointStore store(d.string());
    save_step(store, 1, 1000);
    save_step(store, 2, 1000);
    const fs::path stem = d / io::CheckpointId{.step = 2, .epoch = 1}.name();
    dmg.apply(stem);
    try {
      store.load({.step = 2, .epoch = 1});
      ADD_FAILURE() << dmg.what << ": not detected";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dmg.fragment), std::string::npos) << dmg.what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(stem.filename().string()), std::string::npos) << e.what();
    }
    std::vector<std::string> skipped;
    std::optional<io::LoadedCheckpoint> c = store.load_newest(&skipped);
    ASSERT_TRUE(c) << dmg.what;
    EXPECT_EQ(c->id.step, 1) << dmg.what;
    EXPECT_EQ(skipped.size(), 1u) << dmg.what;
    fs::remove_all(d);
  }
}

TEST(CheckpointStore, PruneKeepsTheLastKAndTheBestAndCleansLeftovers) {
  fs::path d = temp_dir("prune");
  io::CheckpointStore store(d.string());
  for (int64_t s = 1; s <= 6; ++s) save_step(store, s);
  std::ofstream(d / "ckpt-s000000007-e0001.safetensors") << "orphan";  // a writer killed before its JSON
  std::ofstream(d / "ckpt-s000000007-e0001.json.tmp.123") << "{";      // ... or mid-JSON
  std::ofstream(d / "notes.txt") << "mine";                            // not ours: untouched
  store.prune(2, io::CheckpointId{.step = 2, .epoch = 1});
  std::vector<io::CheckpointId> ids = store.list();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].step, 6);
  EXPECT_EQ(ids[1].step, 5);
  EXPECT_EQ(ids[2].step, 2);
  EXPECT_FALSE(fs::exists(d / "ckpt-s000000001-e0001.safetensors"));
  EXPECT_FALSE(fs::exists(d / "ckpt-s000000007-e0001.safetensors"));
  EXPECT_FALSE(fs::exists(d / "ckpt-s000000007-e0001.json.tmp.123"));
  EXPECT_TRUE(fs::exists(d / "notes.txt"));
  fs::remove_all(d);
}

TEST(CheckpointStore, SigkillDuringWritesNeverLosesTheLastGoodCheckpoint) {
  // A child writes 1 MB checkpoints as fast as it can; the parent SIGKILLs it at random moments.
  // Afterwards the newest checkpoint that verifies must exist and hold the content of its step.
  constexpr int64_t kKillNumel = 1 << 18;
  fs::path d = temp_dir("kill");
  {
    io::CheckpointStore first(d.string());
    save_step(first, 0, kKillNumel);
  }
  std::mt19937 rng(12345);
  int64_t next = 1;
  int killed_mid_write = 0;
  for (int trial = 0; trial < 12; ++trial) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      io::CheckpointStore store(d.string());
      for (int64_t s = next;; ++s) {
        save_step(store, s, kKillNumel);
        store.prune(2, std::nullopt);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(5000, 120000)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    for (const auto& e : fs::directory_iterator(d)) killed_mid_write += e.path().string().find(".tmp.") != std::string::npos;
    io::CheckpointStore store(d.string());
    std::optional<io::LoadedCheckpoint> c = store.load_newest();
    ASSERT_TRUE(c) << "trial " << trial;
    EXPECT_GE(c->id.step, next - 1);  // never older than the last good one before this trial
    EXPECT_EQ(c->tensors[0].second.at({0}), static_cast<double>(c->id.step));
    EXPECT_EQ(c->tensors[0].second.at({kKillNumel - 1}), static_cast<double>(c->id.step));
    next = c->id.step + 1;
  }
  EXPECT_GT(next, 3);  // the children did complete checkpoints between kills
  RecordProperty("killed_mid_write", killed_mid_write);
  fs::remove_all(d);
}

// ---- [checkpoint] ---------------------------------------------------------------------------

TEST(CheckpointOptions, DefaultsAndErrorsNameTheKey) {
  Args empty("t.toml: [checkpoint]");
  io::CheckpointOptions o = io::parse_checkpoint_options(empty, false);
  EXPECT_EQ(o.every_steps, 0);
  EXPECT_EQ(o.every_epochs, 1);
  EXPECT_EQ(o.keep_last, 3);
  EXPECT_EQ(o.min_seconds, 10.0);
  EXPECT_TRUE(o.keep_best);
  EXPECT_EQ(o.metric, "train_loss");
  EXPECT_FALSE(o.maximize);
  EXPECT_EQ(io::parse_checkpoint_options(empty, true).metric, "val_loss");
  Args acc("t.toml: [checkpoint]");
  acc.set("metric", std::string("val_acc"));
  EXPECT_TRUE(io::parse_checkpoint_options(acc, true).maximize);  // auto: accuracy is maximized
  struct Bad {
    const char* key;
    ArgValue value;
    const char* fragment;
  };
  std::vector<Bad> bad = {{"keep_last", int64_t{0}, "keep_last must be >= 1"},
                          {"every_steps", int64_t{-1}, "every_steps"},
                          {"min_seconds", -1.0, "min_seconds must be >= 0"},
                          {"metric", std::string("val_loss"), "needs a validation split"},
                          {"metric", std::string("loss"), "is not one of"},
                          {"mode", std::string("up"), "mode must be"},
                          {"evry_steps", int64_t{5}, "every_steps"}};
  for (const Bad& b : bad) {
    Args a("t.toml: [checkpoint]");
    a.set(b.key, b.value);
    try {
      io::parse_checkpoint_options(a, false);
      ADD_FAILURE() << b.key;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("t.toml: [checkpoint]"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(b.fragment), std::string::npos) << e.what();
    }
  }
}
