#include "descent/gradcheck.h"

#include <fmt/format.h>

#include <cmath>

#include "descent/autograd.h"
#include "descent/ops.h"

namespace descent {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].requires_grad() && inputs[i].dtype() != DType::F64)
      throw Error(fmt::format("gradcheck: input {} is {}; gradients are checked in float64", i,
                              dtype_name(inputs[i].dtype())));

  // Fixed random projection of the output: one backward checks every output element.
  Tensor out0;
  {
    NoGradGuard off;
    out0 = fn(inputs);
  }
  Generator gen(opt.seed);
  const Tensor w = normal(out0.shape(), 0.0, 1.0, gen, out0.dtype());
  auto objective = [&](const std::vector<Tensor>& in) { return ops::sum(fn(in) * w); };

  for (const Tensor& t : inputs)
    if (t.requires_grad()) t.set_grad(Tensor());
  objective(inputs).backward();

  GradcheckResult res;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor x = inputs[i];
    if (!x.requires_grad()) continue;
    Tensor analytic = x.grad();
    double* px = x.data<double>();
    for (int64_t k = 0; k < x.numel(); ++k) {
      const double saved = px[k];
      double fp = 0.0, fm = 0.0;
      {
        NoGradGuard off;
        px[k] = saved + opt.eps;
        fp = objective(inputs).item();
        px[k] = saved - opt.eps;
        fm = objective(inputs).item();
        px[k] = saved;
      }
      const double numeric = (fp - fm) / (2.0 * opt.eps);
      const double a = analytic.defined() ? analytic.data<double>()[k] : 0.0;
      res.checked++;
      if (!(std::abs(a - numeric) <= opt.atol + opt.rtol * std::abs(numeric))) {
        res.ok = false;
        res.input = static_cast<int64_t>(i);
        res.index = k;
        res.numeric = numeric;
        res.analytic = a;
        res.message = fmt::format("gradcheck: input {} {} element {}: numeric {:.10g} vs analytic {:.10g}", i,
                                  x.shape_str(), k, numeric, a);
        return res;
      }
    }
  }
  return res;
}

}  // namespace descent
