# The two commands of the README, plus a few conveniences.
#   make demo   install missing packages, build (Release), train the MLP on Fashion-MNIST
#   make test   install missing packages (also the interop tests' Python ones), build, run the whole test suite (ctest)
BUILD    ?= build
JOBS     ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@$(BUILD)/descent train examples/fashion_mlp.toml

# The interop tests (ctest -L interop) check exported models with Debian's Python torch/onnx/OpenCV.
test: build
	@scripts/install-deps.sh --interop
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: build
	@$(BUILD)/bench/bench_mlp_epoch

clean:
	rm -rf $(BUILD)
