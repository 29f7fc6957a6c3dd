// The communicator helpers every implementation shares, the local stub (rank 0 of 1), world(),
// and the collective error handling (agree, check_same, report_fatal).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "descent/dist.h"
#include "dist/mpi.h"

namespace descent::dist {

void Communicator::broadcast(Tensor& t, int root) {
  broadcast(t.raw_data(), t.numel() * static_cast<int64_t>(dtype_size(t.dtype())), root);
}

void Communicator::broadcast(std::string& s, int root) {
  int64_t n = static_cast<int64_t>(s.size());
  broadcast(&n, sizeof n, root);
  s.resize(static_cast<size_t>(n));
  if (n > 0) broadcast(s.data(), n, root);
}

void Communicator::allreduce(Tensor& t, ReduceOp op) { allreduce(t.raw_data(), t.numel(), t.dtype(), op); }

void Communicator::allreduce(std::vector<double>& values, ReduceOp op) {
  allreduce(values.data(), static_cast<int64_t>(values.size()), DType::F64, op);
}

double Communicator::allreduce(double value, ReduceOp op) {
  allreduce(&value, 1, DType::F64, op);
  return value;
}

namespace {

class DoneRequest : public Request {
 public:
  bool test() override { return true; }
  void wait() override {}
};

// One process: every collective is the identity (a sum over one rank is its value).
class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }
  void barrier() override {}
  void broadcast(void*, int64_t, int) override {}
  void allreduce(void*, int64_t, DType dtype, ReduceOp op) override {
    if (op == ReduceOp::Mean && !is_floating(dtype)) throw Error("dist: the mean of integers is not an integer; reduce with Sum");
  }
  std::unique_ptr<Request> iallreduce(void*, int64_t, DType, ReduceOp op) override {
    if (op == ReduceOp::Mean) throw Error("dist: iallreduce takes Sum, Min or Max (scale the inputs for a mean)");
    return std::make_unique<DoneRequest>();
  }
  std::vector<uint64_t> allgather(uint64_t value) override { return {value}; }
  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
  }
};

std::shared_ptr<Communicator>& world_slot() {
  static std::shared_ptr<Communicator> w = std::make_shared<LocalCommunicator>();
  return w;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

void init(int& argc, char**& argv) {
  if (world_slot()->size() > 1 || !detail::launched_by_mpi()) return;  // done, or a plain run
  if (detail::init_mpi(argc, argv)) {
    world_slot() = detail::make_mpi_world();
    return;
  }
  // Started as one of several processes by a launcher, but unable to talk to the others: each
  // would train alone and all would write the same run directory. Refuse before anything starts.
  if (const int n = detail::launcher_world_size(); n > 1)
    throw Error(fmt::format(
        "dist: started as one of {} processes by an MPI launcher, but this descent was built without MPI "
        "(DESCENT_USE_MPI=OFF): every process would train alone and overwrite the others' run; rebuild with "
        "-DDESCENT_USE_MPI=ON or run a single process",
        n));
}

Communicator& world() { return *world_slot(); }
std::shared_ptr<Communicator> world_handle() { return world_slot(); }
std::shared_ptr<Communicator> local() { return std::make_shared<LocalCommunicator>(); }

bool mpi_built() {
#ifdef DESCENT_WITH_MPI
  return true;
#else
  return false;
#endif
}

void agree(Communicator& comm, const std::function<void()>& fn) {
  if (comm.size() == 1) return fn();
  std::string message;
  int64_t kind = 0;  // 0: fine, 2: descent::Error (user error), 1: anything else (internal)
  try {
    fn();
  } catch (const AgreedError& e) {
    message = e.what(), kind = e.user_error() ? 2 : 1;
  } catch (const Error& e) {
    message = e.what(), kind = 2;
  } catch (const std::exception& e) {
    message = e.what(), kind = 1;
  }
  const double first = comm.allreduce(kind ? comm.rank() : comm.size(), ReduceOp::Min);
  const int failed = static_cast<int>(first);
  if (failed == comm.size()) return;
  comm.broadcast(message, failed);
  comm.broadcast(&kind, sizeof kind, failed);
  throw AgreedError(message, failed, kind == 2);
}

void check_same(Communicator& comm, const std::string& text, const std::string& what) {
  if (comm.size() == 1) return;
  const std::vector<uint64_t> hashes = comm.allgather(fnv1a(text));
  auto odd = std::find_if(hashes.begin(), hashes.end(), [&](uint64_t h) { return h != hashes[0]; });
  if (odd == hashes.end()) return;
  const int r = static_cast<int>(odd - hashes.begin());
  std::string reference = text, message;
  comm.broadcast(reference, 0);
  if (comm.rank() == r) {
    const auto mine = lines_of(text), theirs = lines_of(reference);
    size_t i = 0;
    while (i < mine.size() && i < theirs.size() && mine[i] == theirs[i]) ++i;
    auto quote = [](const std::vector<std::string>& l, size_t k) { return k < l.size() ? "'" + l[k] + "'" : "the end"; };
    message = fmt::format("{} differs between ranks (hash compare): line {} is {} on rank {} but {} on rank 0; start "
                          "every rank with the same file and --set options",
                          what, i + 1, quote(mine, i), r, quote(theirs, i));
  }
  comm.broadcast(message, r);
  throw AgreedError(message, r, true);
}

void report_fatal(Communicator& comm, const std::string& message, int code) {
  if (comm.size() == 1) {
    std::cerr << message << "\n";
    return;
  }
  // When every rank fails at once (e.g. the same NaN in the reduced loss), rank 0 prints and its
  // abort ends the others during this pause: the cause shows once, not P times.
  if (comm.rank() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::cerr << fmt::format("rank {}/{}: {}\n", comm.rank(), comm.size(), message) << std::flush;
  comm.abort(code);
}

}  // namespace descent::dist
