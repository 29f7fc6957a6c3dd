// descent/descent.h — the umbrella header: everything a C++ user of descent needs.
//
//   #include <descent/descent.h>
//   descent::nn::Sequential net;  net.push_back(std::make_shared<descent::nn::Linear>(784, 10));
#pragma once
#include "descent/autograd.h"
#include "descent/config.h"
#include "descent/data.h"
#include "descent/error.h"
#include "descent/gradcheck.h"
#include "descent/init.h"
#include "descent/loss.h"
#include "descent/nn.h"
#include "descent/ops.h"
#include "descent/optim.h"
#include "descent/regularize.h"
#include "descent/sched.h"
#include "descent/tensor.h"
#include "descent/train.h"
