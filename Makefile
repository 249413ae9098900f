# deltabench - one Makefile: detects the optional parts, builds build/deltabench, the library the tests
# link, the cmocka tests, and drives the experiments.  `make help` lists the targets.

SHELL := /bin/bash
CC ?= gcc
ARCH ?= -march=native
OPT ?= -O3
SHARED_DIR ?= $(abspath ../shared)
BUILD := build
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

PKGS := openblas hdf5 cmocka libcjson expat libzip matio libpng libjpeg
HAVE_PKGS := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) $(ARCH) -g -fopenmp -Wall -Wextra -Wno-unused-parameter \
          -Wno-sign-compare -fno-strict-aliasing -DDB_COMMIT=\"$(COMMIT)\" $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS := $(PKG_LIBS) -fopenmp -lm -lpthread $(EXTRA_LDLIBS)

# Optional parts: CUDA (nvcc + cuBLAS), cuDNN. Detected, printed; the CPU build never needs them.
CUDA_HOME ?= /usr/local/cuda
NVCC := $(shell command -v nvcc 2>/dev/null || ls $(CUDA_HOME)/bin/nvcc 2>/dev/null)
HAVE_CUDNN := $(shell ls $(CUDA_HOME)/include/cudnn.h /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h 2>/dev/null | head -1)
HAVE_TORCH := $(shell /usr/bin/python3 -c 'import torch' 2>/dev/null && echo yes)

LIB_DIRS := core methods datasets metrics experiments
LIB_SRCS := $(shell find $(LIB_DIRS) -name '*.c' -not -path '*/fuzz/*' 2>/dev/null | sort)
CLI_SRCS := $(wildcard cli/*.c)
TEST_SRCS := $(wildcard tests/test_*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
HEADERS := $(shell find $(LIB_DIRS) cli tests -name '*.h' 2>/dev/null)

.PHONY: all deps config test bench clean help fuzz fuzz-build tables plots
all: config $(BUILD)/deltabench

help:
	@echo "make                 build build/deltabench (runs 'make deps' first if libraries are missing)"
	@echo "make deps            install the missing Debian packages"
	@echo "make test            build and run the cmocka suite (reads goldens from SHARED_DIR=$(SHARED_DIR))"
	@echo "make bench           one training step per method, against PyTorch where installed"
	@echo "make reproduce-cls   the classification table (embedded default unless PROFILE=paper)"
	@echo "make fuzz            build the libFuzzer harnesses (datasets/fuzz/fuzz_*.c) with clang and run each for"
	@echo "                     FUZZ_SECONDS=$(FUZZ_SECONDS) s, one after another (FUZZ=name runs only fuzz_<name>)"

config:
ifneq ($(HAVE_PKGS),yes)
	@$(MAKE) --no-print-directory deps
endif
	@echo "deltabench build: commit $(COMMIT), CC=$(CC) $(ARCH)"
	@echo "  optional: nvcc=$(if $(NVCC),$(NVCC),none)  cudnn=$(if $(HAVE_CUDNN),$(HAVE_CUDNN),none)  python3-torch peer=$(if $(HAVE_TORCH),yes,no)"
	@echo "  GPU backend: not built (CPU backend only)"

deps:
	@./scripts/install_deps.sh

$(BUILD)/obj/%.o: %.c $(HEADERS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD):
	@mkdir -p $(BUILD)

$(BUILD)/libdeltabench.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/deltabench: $(CLI_OBJS) $(BUILD)/libdeltabench.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libdeltabench.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test_util.h $(BUILD)/libdeltabench.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libdeltabench.a $(LDLIBS)

test: config $(BUILD)/deltabench $(TEST_BINS)
	@DB_SHARED=$(SHARED_DIR) DB_BIN=$(abspath $(BUILD)/deltabench) ./tests/run_tests.sh $(TEST_BINS)

# Fuzzing: clang + libFuzzer + ASan/UBSan. The library sources the parsers need (core/, datasets/) are rebuilt
# with the sanitizers into build/fuzz; each harness runs for FUZZ_SECONDS, one at a time, starting from the
# committed seeds (datasets/fuzz/seeds/<name>) and keeping its corpus in build/fuzz/corpus_<name>.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
              -fno-omit-frame-pointer -DDB_COMMIT=\"$(COMMIT)\" $(PKG_CFLAGS)
FUZZ_LIB_SRCS := $(shell find core datasets -name '*.c' -not -path '*/fuzz/*' 2>/dev/null | sort)
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_HARNESSES := $(wildcard datasets/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_HARNESSES:datasets/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -c $< -o $@

$(BUILD)/fuzz/%: datasets/fuzz/%.c $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(PKG_LIBS) -lm -lpthread

.SECONDARY: $(FUZZ_LIB_OBJS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@for b in $(FUZZ_BINS); do \
	  name=$${b##*/fuzz_}; \
	  [ -n "$(FUZZ)" ] && [ "$$name" != "$(FUZZ)" ] && continue; \
	  mkdir -p $(BUILD)/fuzz/corpus_$$name; \
	  echo "== fuzz_$$name for $(FUZZ_SECONDS) s"; \
	  $$b -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
	      -artifact_prefix=$(BUILD)/fuzz/crash_$$name- $(BUILD)/fuzz/corpus_$$name datasets/fuzz/seeds/$$name \
	      2>&1 | tee $(BUILD)/fuzz/log_$$name.txt | grep -E '^#[0-9]+ *DONE|ERROR|SUMMARY|Done [0-9]+ runs' ; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || { echo "fuzz_$$name FAILED (see $(BUILD)/fuzz/log_$$name.txt)"; exit 1; }; \
	done

clean:
	rm -rf $(BUILD)
