// descent/dist.h — data-parallel training over MPI, from one laptop to a cluster.
//
// `mpirun -n P descent train CONFIG` runs P copies of the same training. Every rank starts from
// rank 0's parameters, walks the same permutation of the data, and computes its own disjoint
// shard of each global batch ([train] batch_size stays the global batch). The gradients are
// summed over ranks, each weighted by its share of the batch, in fixed-size buckets that start
// while the rest of backward still runs; so a P-rank run takes the steps a one-process run with
// the same batch takes, up to float rounding. Without MPI in the build (or without a launcher)
// world() is a stub: rank 0 of world size 1. See docs/DISTRIBUTED.md.
//
//   descent::dist::init(argc, argv);                      // MPI_Init_thread when launched by mpirun
//   descent::dist::Communicator& comm = descent::dist::world();
//   descent::Tensor g = descent::ones({3});
//   comm.allreduce(g, descent::dist::ReduceOp::Mean);    // the same values on every rank
//   if (comm.rank() == 0) std::cout << g << "\n";
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "descent/config.h"
#include "descent/data.h"
#include "descent/error.h"
#include "descent/nn.h"
#include "descent/tensor.h"

namespace descent::dist {

/// How values from every rank are combined.
enum class ReduceOp : uint8_t { Sum, Mean, Min, Max, Count };

/// A nonblocking collective in flight; the buffer it was given must stay alive until wait().
class Request {
 public:
  virtual ~Request() = default;
  /// Lets the operation progress; true once it is complete.
  virtual bool test() = 0;
  /// Blocks until the operation is complete.
  virtual void wait() = 0;
};

/// The processes of a run. Every collective must be called by all ranks in the same order.
class Communicator {
 public:
  virtual ~Communicator() = default;
  /// This process's index in [0, size()).
  virtual int rank() const = 0;
  /// Number of processes.
  virtual int size() const = 0;
  /// "MPI" or "local", for messages and manifests.
  virtual std::string name() const = 0;
  /// Returns when every rank has called it.
  virtual void barrier() = 0;
  /// Copies `bytes` bytes at `data` from rank `root` to every rank.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  /// Combines n values of dtype (F32, F64, I64) in place on every rank.
  virtual void allreduce(void* data, int64_t n, DType dtype, ReduceOp op) = 0;
  /// Starts a nonblocking in-place all-reduce (Sum, Min or Max).
  virtual std::unique_ptr<Request> iallreduce(void* data, int64_t n, DType dtype, ReduceOp op) = 0;
  /// Every rank's `value`, indexed by rank.
  virtual std::vector<uint64_t> allgather(uint64_t value) = 0;
  /// Ends every process of the run with `code` (the cause must be printed before).
  [[noreturn]] virtual void abort(int code) = 0;

  /// Copies a tensor's values from rank `root` (same shape and dtype on every rank).
  void broadcast(Tensor& t, int root = 0);
  /// Copies a string from rank `root`.
  void broadcast(std::string& s, int root = 0);
  /// Combines a tensor in place (Mean = Sum / size(), for floating tensors).
  void allreduce(Tensor& t, ReduceOp op = ReduceOp::Sum);
  /// Combines doubles in place.
  void allreduce(std::vector<double>& values, ReduceOp op = ReduceOp::Sum);
  /// Combines one double.
  double allreduce(double value, ReduceOp op = ReduceOp::Sum);
};

/// Starts MPI (MPI_Init_thread, funneled) when descent was built with MPI and the process was
/// launched by mpirun/srun; finalizes at exit. Without a launcher it does nothing. Idempotent.
void init(int& argc, char**& argv);
/// The processes of this run: MPI_COMM_WORLD after init() under mpirun, else the local stub.
Communicator& world();
/// A communicator of this process alone (rank 0 of 1): one-process reference runs, tests.
std::shared_ptr<Communicator> local();
/// world() as a shared handle (for TrainerOptions).
std::shared_ptr<Communicator> world_handle();
/// True when the library was built with MPI (DESCENT_USE_MPI).
bool mpi_built();

/// An error every rank raised together (the same message everywhere): report it on rank 0
/// only and exit normally; no abort is needed.
class AgreedError : public Error {
 public:
  /// `message` as the failing rank wrote it; `rank` is the lowest rank that failed.
  AgreedError(const std::string& message, int rank, bool user_error)
      : Error(message), rank_(rank), user_error_(user_error) {}
  /// The lowest rank that failed.
  int rank() const { return rank_; }
  /// True when the cause was a descent::Error (exit code 2), false for an internal error (1).
  bool user_error() const { return user_error_; }

 private:
  int rank_;
  bool user_error_;
};

/// Runs `fn` on every rank, then agrees: when it threw anywhere, every rank throws AgreedError
/// carrying the lowest failing rank's message. Keeps setup errors from hanging the healthy ranks.
void agree(Communicator& comm, const std::function<void()>& fn);

/// Throws AgreedError on every rank when `text` differs between ranks, naming the first line
/// that differs from rank 0's; `what` says what the text is ("config").
void check_same(Communicator& comm, const std::string& text, const std::string& what);

/// Prints `message` (prefixed with the rank when size > 1) to stderr and, with more than one
/// rank, ends the whole run with `code` (MPI_Abort) so no rank waits forever; else returns.
void report_fatal(Communicator& comm, const std::string& message, int code);

// ---- data-parallel training -------------------------------------------------------------

/// The [distributed] section.
struct DistributedOptions {
  double bucket_mb = 1.0;       ///< gradient bytes per all-reduce bucket (MiB, > 0)
  bool sync_batchnorm = false;  ///< batch-norm statistics over the global batch instead of per rank
  bool overlap = true;          ///< start a bucket's all-reduce during backward (false: after it)
};

/// Reads the [distributed] keys (bucket_mb, sync_batchnorm, overlap); throws on bad values.
DistributedOptions parse_distributed(const Args& section);

/// Rows [begin, end) of a global batch of n samples that `rank` of `size` computes: contiguous,
/// disjoint, sizes differing by at most one.
std::pair<int64_t, int64_t> shard_range(int64_t n, int rank, int size);

/// What the forward of one rank's shard gives back to DataParallel::step.
struct ShardOutput {
  Tensor loss;           ///< the shard's scalar loss (as the loss reduces it)
  double correct = 0.0;  ///< samples of the shard whose argmax is the label (0 when not classifying)
  Tensor shared = {};    ///< a term every rank computes alike (weight penalty): joins the global loss once
};

/// The loss and accuracy of a global batch, the same on every rank.
struct StepStats {
  double loss = 0.0;     ///< the global batch's loss (without ShardOutput::shared), as one process computes it
  double correct = 0.0;  ///< correct samples over all ranks
  int64_t samples = 0;   ///< samples over all ranks (the global batch size)
};

/// Drives one model's data-parallel steps: sharding, the bucketed gradient all-reduce that
/// overlaps backward, sync batch norm, and keeping the ranks' models equal.
class DataParallel {
 public:
  /// `loss_spec` is the [loss] table: its reduction and class weights decide each rank's share.
  DataParallel(std::shared_ptr<Communicator> comm, nn::Module& model, const Args& loss_spec,
               const DistributedOptions& options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  /// Copies rank 0's parameters and buffers to every rank (start, resume).
  void broadcast_parameters();
  /// Averages floating buffers (batch-norm running statistics) over ranks.
  void average_buffers();
  /// Throws AgreedError on every rank when the ranks' parameters are not bitwise equal.
  void check_parameters_equal();
  /// Forward of this rank's shard of `global` (through `forward`, skipped for an empty shard)
  /// and backward; on return every parameter's .grad() holds the global batch's gradient.
  /// Parameters' gradients must be zero or undefined before.
  StepStats step(const data::Batch& global, const std::function<ShardOutput(const data::Batch&)>& forward);
  /// This rank's share of the global batch's loss (what its gradient is scaled by).
  double shard_weight(const Tensor& global_target, int64_t begin, int64_t end) const;
  /// The communicator.
  Communicator& comm();
  /// Bucket layout: parameter indices (into model.parameters()) of each bucket, in launch order.
  const std::vector<std::vector<size_t>>& buckets() const;
  /// Buckets of the last step whose all-reduce started while backward was still running.
  size_t buckets_started_during_backward() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The rows [begin, end) of a batch (a copy).
data::Batch slice_batch(const data::Batch& batch, int64_t begin, int64_t end);

/// Reseeds every Dropout generator of ranks > 0 from (its seed, rank), so shards draw
/// independent masks (rank 0 keeps the one-process stream).
void decorrelate_dropout(nn::Module& model, int rank);

}  // namespace descent::dist
