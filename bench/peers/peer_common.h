// Shared by the LibTorch peers (libtorch_mlp.cpp, libtorch_cnn.cpp): Fashion-MNIST IDX reading,
// per-epoch bookkeeping and the one RESULT line bench/compare.sh parses. Kept free of torch so the
// protocol (what is timed, which epochs count) is written once and reads the same as
// bench/bench_descent_epoch.cpp and bench/peers/pytorch_peer.py.
#pragma once
#include <link.h>
#include <sys/resource.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace peer {

// Debian's dataset-fashion-mnist; DESCENT_DATA_DIR overrides it as descent's own loader allows.
inline std::string data_dir() {
  const char* d = std::getenv("DESCENT_DATA_DIR");
  return d && *d ? std::string(d) + "/fashion-mnist" : "/usr/share/datasets/fashion-mnist";
}

// Whole IDX file (gzip or raw: gzread passes raw files through) after its header.
// Returns the payload and the dims; throws on a bad magic or a short file.
inline std::vector<uint8_t> read_idx(const std::string& path, int rank, std::vector<int64_t>& dims) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  auto read_exact = [&](void* p, unsigned n) {
    if (gzread(f, p, n) != static_cast<int>(n)) {
      gzclose(f);
      throw std::runtime_error("truncated " + path);
    }
  };
  auto be32 = [&] {
    unsigned char b[4];
    read_exact(b, 4);
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
  };
  const uint32_t magic = be32();
  if (magic != 0x800u + static_cast<uint32_t>(rank)) throw std::runtime_error("bad IDX magic in " + path);
  dims.clear();
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) dims.push_back(be32()), n *= dims.back();
  std::vector<uint8_t> out(static_cast<size_t>(n));
  for (size_t off = 0; off < out.size();) {  // gzread takes at most UINT_MAX bytes per call
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(out.size() - off, 1u << 30));
    read_exact(out.data() + off, chunk);
    off += chunk;
  }
  gzclose(f);
  return out;
}

// One split: uint8 pixels [n, 28*28] and labels [n].
struct Split {
  std::vector<uint8_t> pixels, labels;
  int64_t n = 0;
};

inline Split load_split(const std::string& prefix) {
  std::vector<int64_t> di, dl;
  Split s;
  s.pixels = read_idx(data_dir() + "/" + prefix + "-images-idx3-ubyte.gz", 3, di);
  s.labels = read_idx(data_dir() + "/" + prefix + "-labels-idx1-ubyte.gz", 1, dl);
  if (di[0] != dl[0] || di[1] != 28 || di[2] != 28) throw std::runtime_error("unexpected Fashion-MNIST shapes");
  s.n = di[0];
  return s;
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The BLAS library the process actually loaded (libblas.so.3 is a Debian alternative, and
// LD_LIBRARY_PATH may swap it), so a table row says which GEMM it measured.
inline std::string loaded_blas() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("blas") != std::string::npos) {
          char* real = realpath(name.c_str(), nullptr);
          auto& s = *static_cast<std::string*>(out);
          s += (s.empty() ? "" : ",") + std::string(real ? real : name.c_str());
          std::free(real);
        }
        return 0;
      },
      &found);
  return found.empty() ? "none" : found;
}

using Clock = std::chrono::steady_clock;

// Wall and CPU time and minor faults of each epoch; the summary follows the protocol: median and
// min over epochs 2..min(epochs, 5) (the MLP's 2-5, the CNN's 2-3), the first epoch being warm-up.
class EpochLog {
 public:
  void begin() {
    t0_ = Clock::now();
    getrusage(RUSAGE_SELF, &r0_);
  }
  void end(int epoch, int64_t samples, double loss) {
    const double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
    rusage r1{};
    getrusage(RUSAGE_SELF, &r1);
    const double cpu = seconds(r1.ru_utime) + seconds(r1.ru_stime) - seconds(r0_.ru_utime) - seconds(r0_.ru_stime);
    const long flt = r1.ru_minflt - r0_.ru_minflt;
    std::printf("epoch %d: %.3f s  (%.0f samples/s)  cpu %.3f s  minflt %ld  loss %.4f\n", epoch + 1, secs,
                samples / secs, cpu, flt, loss);
    std::fflush(stdout);
    if (epoch >= 1 && epoch <= 4) times_.push_back(secs), cpus_.push_back(cpu), faults_.push_back(double(flt));
  }
  void result(const char* impl, const char* model, int threads, int epochs, int64_t samples, double acc) const {
    const double med = median(times_);
    const double mn = times_.empty() ? 0.0 : *std::min_element(times_.begin(), times_.end());
    std::printf(
        "RESULT impl=%s model=%s threads=%d epochs=%d median_s=%.4f min_s=%.4f samples_per_s=%.0f cpu_s=%.4f "
        "minflt_per_epoch=%.0f test_acc=%.4f blas=%s\n",
        impl, model, threads, epochs, med, mn, med > 0 ? samples / med : 0.0, median(cpus_), median(faults_), acc,
        loaded_blas().c_str());
  }

 private:
  static double seconds(const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); }
  Clock::time_point t0_;
  rusage r0_{};
  std::vector<double> times_, cpus_, faults_;
};

}  // namespace peer
