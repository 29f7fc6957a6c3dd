// The MPI communicator: thin wrappers over the C API (the C++ bindings are deprecated and skipped).
#include "dist/mpi.h"

#include <cstdio>
#include <cstdlib>

#ifdef DESCENT_WITH_MPI
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <fmt/format.h>
#include <mpi.h>

#include <climits>
#endif

namespace descent::dist::detail {

bool launched_by_mpi() {
  // OpenMPI, PMIx launchers (srun --mpi=pmix, prterun), MPICH/Hydra and Slurm's PMI-1/2.
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

int launcher_world_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"})
    if (const char* s = std::getenv(v); s != nullptr && *s != '\0') return std::atoi(s);
  return 0;
}

#ifdef DESCENT_WITH_MPI
namespace {

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I64: return MPI_INT64_T;
    default: throw Error(fmt::format("dist: cannot reduce {} values", dtype_name(d)));
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Min: return MPI_MIN;
    case ReduceOp::Max: return MPI_MAX;
    default: return MPI_SUM;  // Mean is a sum divided afterwards
  }
}

int mpi_count(int64_t n) {
  if (n < 0 || n > INT_MAX) throw Error(fmt::format("dist: {} elements in one message is more than MPI's int count", n));
  return static_cast<int>(n);
}

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw std::runtime_error(fmt::format("dist: {} failed (MPI error {})", what, rc));
}

template <class T>
void divide(void* data, int64_t n, int size) {
  T* p = static_cast<T*>(data);
  for (int64_t i = 0; i < n; ++i) p[i] /= static_cast<T>(size);
}

class MpiRequest : public Request {
 public:
  explicit MpiRequest(MPI_Request r) : req_(r) {}
  // A nonblocking collective may not be freed while active (MPI 3.1, 5.12): complete it.
  ~MpiRequest() override { if (req_ != MPI_REQUEST_NULL) MPI_Wait(&req_, MPI_STATUS_IGNORE); }
  bool test() override {
    if (req_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    check(MPI_Test(&req_, &done, MPI_STATUS_IGNORE), "MPI_Test");
    return done != 0;
  }
  void wait() override {
    if (req_ != MPI_REQUEST_NULL) check(MPI_Wait(&req_, MPI_STATUS_IGNORE), "MPI_Wait");
  }

 private:
  MPI_Request req_;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "MPI"; }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  void broadcast(void* data, int64_t bytes, int root) override {
    check(MPI_Bcast(data, mpi_count(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  void allreduce(void* data, int64_t n, DType dtype, ReduceOp op) override {
    check(MPI_Allreduce(MPI_IN_PLACE, data, mpi_count(n), mpi_type(dtype), mpi_op(op), MPI_COMM_WORLD), "MPI_Allreduce");
    if (op != ReduceOp::Mean) return;
    if (dtype == DType::F32) divide<float>(data, n, size_);
    else if (dtype == DType::F64) divide<double>(data, n, size_);
    else throw Error("dist: the mean of integers is not an integer; reduce with Sum");
  }
  std::unique_ptr<Request> iallreduce(void* data, int64_t n, DType dtype, ReduceOp op) override {
    if (op == ReduceOp::Mean) throw Error("dist: iallreduce takes Sum, Min or Max (scale the inputs for a mean)");
    MPI_Request r;
    check(MPI_Iallreduce(MPI_IN_PLACE, data, mpi_count(n), mpi_type(dtype), mpi_op(op), MPI_COMM_WORLD, &r),
          "MPI_Iallreduce");
    return std::make_unique<MpiRequest>(r);
  }
  std::vector<uint64_t> allgather(uint64_t value) override {
    std::vector<uint64_t> all(static_cast<size_t>(size_));
    check(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD), "MPI_Allgather");
    return all;
  }
  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; keeps [[noreturn]] honest
  }

 private:
  int rank_ = 0, size_ = 1;
};

void finalize_at_exit() {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

}  // namespace

bool init_mpi(int& argc, char**& argv) {
  int inited = 0;
  MPI_Initialized(&inited);
  if (inited) return true;
  int provided = 0;
  // Funneled: only the main thread calls MPI (OpenMP workers and the prefetch thread never do).
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  std::atexit(finalize_at_exit);
  return true;
}

std::unique_ptr<Communicator> make_mpi_world() { return std::make_unique<MpiCommunicator>(); }

#else

bool init_mpi(int&, char**&) { return false; }
std::unique_ptr<Communicator> make_mpi_world() { return nullptr; }

#endif

}  // namespace descent::dist::detail
