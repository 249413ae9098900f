# deltabench - one Makefile: detects the optional parts, builds build/deltabench, the library the tests
# link, the cmocka tests, and drives the experiments.  `make help` lists the targets.

SHELL := /bin/bash
CC ?= gcc
ARCH ?= -march=native
OPT ?= -O3
SHARED_DIR ?= $(abspath ../shared)
BUILD := build
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

PKGS := hdf5 cmocka libcjson expat libzip matio libpng libjpeg
# OpenBLAS built on OpenMP, so that BLAS and our OpenMP loops share one thread pool (the pthread build's
# pool and OpenMP's spinning workers starve each other: measured 10x slower steps on 2 cores).
BLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-openmp
have_pkgs = $(if $(wildcard $(BLAS_DIR)/libopenblas.so),$(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes))
HAVE_PKGS := $(have_pkgs)
# On a bare machine the libraries are installed before anything is compiled: the compiler flags below come
# from pkg-config, so this happens while the Makefile is read, not in a recipe (make deps does it alone).
ifneq ($(HAVE_PKGS),yes)
  ifeq ($(filter deps help clean,$(MAKECMDGOALS)),)
    $(info deltabench: libraries missing, running scripts/install_deps.sh first (as make deps))
    DEPS_RC := $(shell ./scripts/install_deps.sh >&2; echo $$?)
    HAVE_PKGS := $(have_pkgs)
    ifneq ($(HAVE_PKGS),yes)
      $(error scripts/install_deps.sh (exit $(DEPS_RC)) left libraries missing: pkg-config $(PKGS) and $(BLAS_DIR)/libopenblas.so are needed; install the Debian packages it names (root or sudo), then run make again)
    endif
  endif
endif
PKG_CFLAGS := -I$(BLAS_INC) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) $(ARCH) -g -fopenmp -Wall -Wextra -Wno-unused-parameter \
          -Wno-sign-compare -fno-strict-aliasing -DDB_COMMIT=\"$(COMMIT)\" $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS := $(PKG_LIBS) -fopenmp -lm -lpthread $(EXTRA_LDLIBS)

# Optional parts: CUDA (nvcc + cuBLAS), cuDNN. Detected, printed; the CPU build never needs them.
CUDA_HOME ?= /usr/local/cuda
NVCC := $(shell command -v nvcc 2>/dev/null || ls $(CUDA_HOME)/bin/nvcc 2>/dev/null)
HAVE_CUDNN := $(shell ls $(CUDA_HOME)/include/cudnn.h /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h 2>/dev/null | head -1)
HAVE_TORCH := $(shell /usr/bin/python3 -c 'import torch' 2>/dev/null && echo yes)
# Optional: MPI (Open MPI's libopenmpi-dev) for data-parallel training (core/comm.c). Flags from
# `mpicc --showme:compile/link`, else pkg-config ompi; MPI=0 builds the singleton communicator regardless.
MPI ?= 1
ifeq ($(MPI),1)
  MPICC := $(shell command -v mpicc 2>/dev/null)
  MPI_CFLAGS := $(if $(MPICC),$(shell $(MPICC) --showme:compile 2>/dev/null))
  MPI_LIBS := $(if $(MPICC),$(shell $(MPICC) --showme:link 2>/dev/null))
  ifeq ($(strip $(MPI_LIBS)),)
    MPI_CFLAGS := $(shell pkg-config --cflags ompi 2>/dev/null)
    MPI_LIBS := $(shell pkg-config --libs ompi 2>/dev/null)
  endif
  MPIRUN := $(shell command -v mpirun 2>/dev/null)
endif
HAVE_MPI := $(if $(strip $(MPI_LIBS)),yes)
ifeq ($(HAVE_MPI),yes)
  CFLAGS += -DDB_HAVE_MPI $(MPI_CFLAGS)
  LDLIBS += $(MPI_LIBS)
endif

LIB_DIRS := core models methods conformance datasets metrics experiments
LIB_SRCS := $(shell find $(LIB_DIRS) -name '*.c' -not -path '*/fuzz/*' 2>/dev/null | sort)
CLI_SRCS := $(wildcard cli/*.c)
TEST_SRCS := $(wildcard tests/test_*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
HEADERS := $(shell find $(LIB_DIRS) cli tests -name '*.h' 2>/dev/null)

.PHONY: all deps config test bench bench-retinanet bench-upernet bench-cascade bench-ranks clean help fuzz fuzz-build tables plots reproduce-cls reproduce-voc reproduce-voc-ablations reproduce-ade20k reproduce-coco smoke-paper smoke-paper-voc smoke-paper-ade20k smoke-paper-coco figure1
all: config $(BUILD)/deltabench

help:
	@echo "make                 build build/deltabench (runs 'make deps' first if libraries are missing)"
	@echo "make deps            install the missing Debian packages"
	@echo "make test            build and run the cmocka suite (reads goldens from SHARED_DIR=$(SHARED_DIR))"
	@echo "make bench           one training step per method, against PyTorch (installs python3-torch; PEER=0: none)"
	@echo "make bench-retinanet the same for the VOC RetinaNet step (BENCH_TASK=retinanet; also installs python3-torchvision)"
	@echo "make bench-upernet   the same for the ADE20K UperNet step (BENCH_TASK=upernet)"
	@echo "make bench-cascade   the same for the COCO Cascade R-CNN step (BENCH_TASK=cascade; also installs python3-torchvision)"
	@echo "make bench-ranks     data parallel: bench --ranks on 1 process and under mpirun -np RANKS=2 (needs MPI: yes)"
	@echo "make reproduce-cls   the classification table (embedded default unless PROFILE=paper; SEEDS=N: N seeds per run)"
	@echo "make reproduce-voc   the Pascal VOC RetinaNet column (embedded default unless PROFILE=paper)"
	@echo "make smoke-paper-voc the VOC paper profile's path (Swin-L 1000x600) for 3 iterations on synthetic data"
	@echo "make reproduce-voc-ablations the paper's VOC ablation Tables 5-7 (embedded default unless PROFILE=paper)"
	@echo "make reproduce-ade20k the ADE20K UperNet column (embedded default unless PROFILE=paper)"
	@echo "make smoke-paper-ade20k the ADE20K paper profile's path (Swin-L 512x512) for 3 iterations on synthetic data"
	@echo "make reproduce-coco  the COCO Cascade Mask R-CNN table (embedded default unless PROFILE=paper)"
	@echo "make smoke-paper-coco the COCO paper profile's path (Swin-B, 1333x800) for 3 iterations on synthetic data"
	@echo "make figure1         the paper's Figure 1 (ADE20K mIoU against COCO box AP) from results/ade20k.h5 and coco.h5"
	@echo "make smoke-paper     the paper profile's code path (Swin-L 224) for 3 iterations on synthetic data"
	@echo "make tables          results/\$$TASK.md and .tex from results/\$$TASK.h5 alone (TASK=cls by default)"
	@echo "make plots           plots/\$$TASK_*.png and .svg from results/\$$TASK.h5 alone (gnuplot; data in build/plots)"
	@echo "make fuzz            build the libFuzzer harnesses ({datasets,core}/fuzz/fuzz_*.c) with clang and run each for"
	@echo "                     FUZZ_SECONDS=$(FUZZ_SECONDS) s, one after another (FUZZ=name runs only fuzz_<name>)"

config:
	@echo "deltabench build: commit $(COMMIT), CC=$(CC) $(ARCH), BLAS=$(BLAS_DIR)"
	@echo "  optional: nvcc=$(if $(NVCC),$(NVCC),none)  cudnn=$(if $(HAVE_CUDNN),$(HAVE_CUDNN),none)  python3-torch peer=$(if $(HAVE_TORCH),yes,no)"
	@echo "  GPU backend: not built (CPU backend only)"
	@echo "  MPI: $(if $(HAVE_MPI),yes ($(firstword $(MPI_LIBS) $(MPI_CFLAGS)) ... ; mpirun=$(if $(MPIRUN),$(MPIRUN),none)),no (singleton communicator; apt-get install libopenmpi-dev openmpi-bin, or MPI=0))"

deps:
	@./scripts/install_deps.sh

# the commit baked into every output file: common.o is rebuilt whenever it changes
$(BUILD)/commit.txt: FORCE | $(BUILD)
	@echo '$(COMMIT)' | cmp -s - $@ || echo '$(COMMIT)' > $@
FORCE:
$(BUILD)/obj/core/common.o: $(BUILD)/commit.txt
# the communicator (and everything the tests run under mpirun) follows the MPI choice
$(BUILD)/mpi.txt: FORCE | $(BUILD)
	@echo '$(HAVE_MPI) $(MPI_CFLAGS) $(MPI_LIBS)' | cmp -s - $@ || echo '$(HAVE_MPI) $(MPI_CFLAGS) $(MPI_LIBS)' > $@
$(BUILD)/obj/core/comm.o: $(BUILD)/mpi.txt

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

# Measurement programs (not tests): the memory planner's re-plan cost and savings on RetinaNet steps.
$(BUILD)/memplan_cost: tools/memplan_cost.c $(BUILD)/libdeltabench.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libdeltabench.a $(LDLIBS)

test: config $(BUILD)/deltabench $(TEST_BINS)
	@DB_SHARED=$(SHARED_DIR) DB_BIN=$(abspath $(BUILD)/deltabench) DB_MPIRUN=$(if $(HAVE_MPI),$(MPIRUN)) ./tests/run_tests.sh $(TEST_BINS)

# Tables and figures from a results file alone (never re-runs anything). RESULTS overrides the file.
TASK ?= cls
RESULTS ?= results/$(TASK).h5
tables: all
	./$(BUILD)/deltabench report tables --task $(TASK) --results $(RESULTS) --out results

plots: all
	./$(BUILD)/deltabench report plots --task $(TASK) --results $(RESULTS) --out plots --data $(BUILD)/plots --scripts plots

# The paper's classification table. PROFILE=default (embedded synthetic data and harness-pretrained
# backbone) or PROFILE=paper DATA_ROOT=... PRETRAINED=swin_large_patch4_window7_224_22k.pth.
PROFILE ?= default
REPRO_ARGS ?=
# SEEDS=N: every run with N seeds (deltabench reproduce --seeds N); unset = the recipe's seed alone
SEEDS ?=
reproduce-cls: all
	./$(BUILD)/deltabench reproduce cls --profile $(PROFILE) --shared $(SHARED_DIR) \
	  $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(if $(PRETRAINED),--pretrained $(PRETRAINED)) $(if $(SEEDS),--seeds $(SEEDS)) $(REPRO_ARGS)

# The paper's Pascal VOC detection column (RetinaNet): PROFILE=default (embedded) or PROFILE=paper
# DATA_ROOT=... (DATA_ROOT/VOCdevkit/VOC2007 and VOC2012) PRETRAINED=swin_large_patch4_window7_224_22k.pth.
reproduce-voc: all
	./$(BUILD)/deltabench reproduce voc --profile $(PROFILE) --shared $(SHARED_DIR) \
	  $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(if $(PRETRAINED),--pretrained $(PRETRAINED)) $(if $(SEEDS),--seeds $(SEEDS)) $(REPRO_ARGS)

# The paper's VOC ablations (Tables 5-7: Mona's width, backbone size, scaled LayerNorm and kernels), results/
# voc_ablations.{h5,md,tex}: PROFILE=default (embedded; pretrains the backbone sizes it needs, cached) or PROFILE=paper
# DATA_ROOT=... PRETRAINED=swin_large_patch4_window7_224_22k.pth PRETRAINED_T=swin_tiny_... PRETRAINED_B=swin_base_...
reproduce-voc-ablations: all
	./$(BUILD)/deltabench reproduce voc-ablations --profile $(PROFILE) --shared $(SHARED_DIR) \
	  $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(if $(PRETRAINED),--pretrained $(PRETRAINED)) $(REPRO_ARGS)

# The paper's ADE20K semantic segmentation column (UperNet): PROFILE=default (embedded) or PROFILE=paper
# DATA_ROOT=... (DATA_ROOT/ADEChallengeData2016) PRETRAINED=swin_large_patch4_window7_224_22k.pth.
reproduce-ade20k: all
	./$(BUILD)/deltabench reproduce ade20k --profile $(PROFILE) --shared $(SHARED_DIR) \
	  $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(if $(PRETRAINED),--pretrained $(PRETRAINED)) $(if $(SEEDS),--seeds $(SEEDS)) $(REPRO_ARGS)

reproduce-coco: all
	./$(BUILD)/deltabench reproduce coco --profile $(PROFILE) --shared $(SHARED_DIR) \
	  $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(if $(PRETRAINED),--pretrained $(PRETRAINED)) $(if $(SEEDS),--seeds $(SEEDS)) $(REPRO_ARGS)

# The COCO paper profile's exact path (Swin-B from an official-layout checkpoint, the AutoAugment pipeline with
# its 480-800 x 1333 scales, test at (1333, 800), FPN 256, Cascade Mask R-CNN with 2000 proposals and 512 rois per
# stage) for 3 iterations on the embedded synthetic COCO images, two evaluation images. The paper's batch of 16
# does not fit a small machine; SMOKE_COCO_ARGS (default --batch 1) keeps the path and shrinks the batch.
SMOKE_COCO_CKPT := cache/smoke/swin_base_random_official.safetensors
SMOKE_COCO_ARGS ?= --batch 1
smoke-paper-coco: all
	./$(BUILD)/deltabench pretrain --random-official swin-b $(SMOKE_COCO_CKPT)
	./$(BUILD)/deltabench reproduce coco --profile paper --pretrained $(SMOKE_COCO_CKPT) --data-root cache/data --datasets-from default \
	  --methods mona,full --max-iters 3 --max-eval-batches 2 --restart --no-report --no-control \
	  --results $(BUILD)/smoke/coco_smoke.h5 --runs-dir $(BUILD)/smoke/runs_coco --shared $(SHARED_DIR) $(SMOKE_COCO_ARGS)

# The paper's Figure 1: ADE20K mIoU (x) against COCO box AP (y), one point per method, from both results files
figure1: all
	./$(BUILD)/deltabench report figure1 --ade20k results/ade20k.h5 --coco results/coco.h5 --out plots --data $(BUILD)/plots --scripts plots

# The ADE20K paper profile's exact path (Swin-L, 512x512 crops from the (2048, 512) resize, UperNet 512 + FCN 256,
# poly after warm-up, from an official-layout checkpoint) for 3 iterations on the embedded synthetic ADE20K images,
# two validation images. The paper's batch of 16 Swin-L 512x512 crops needs far more memory than a small machine
# has; SMOKE_ADE20K_ARGS (default --batch 2) keeps the path and shrinks the batch.
SMOKE_ADE20K_ARGS ?= --batch 2
smoke-paper-ade20k: all
	./$(BUILD)/deltabench pretrain --random-official swin-l $(SMOKE_CKPT)
	./$(BUILD)/deltabench reproduce ade20k --profile paper --pretrained $(SMOKE_CKPT) --data-root cache/data --datasets-from default \
	  --methods mona,full --max-iters 3 --max-eval-batches 2 --restart --no-report --no-control \
	  --results $(BUILD)/smoke/ade20k_smoke.h5 --runs-dir $(BUILD)/smoke/runs_ade20k --shared $(SHARED_DIR) $(SMOKE_ADE20K_ARGS)

# The VOC paper profile's exact path (Swin-L, 1000x600, FPN 256 + RetinaHead 256, from an official-layout
# checkpoint) for 3 iterations on the embedded synthetic VOC images, one evaluation batch.
smoke-paper-voc: all
	./$(BUILD)/deltabench pretrain --random-official swin-l $(SMOKE_CKPT)
	./$(BUILD)/deltabench reproduce voc --profile paper --pretrained $(SMOKE_CKPT) --data-root cache/data --datasets-from default \
	  --methods mona,full --max-iters 3 --max-eval-batches 2 --restart --no-report --no-control \
	  --results $(BUILD)/smoke/voc_smoke.h5 --runs-dir $(BUILD)/smoke/runs_voc --shared $(SHARED_DIR)

# The paper profile's exact code path (Swin-L 224 from an official-layout checkpoint, the recipe's AdamW
# groups, schedule and clipping) for 3 iterations on the synthetic data; batch reduced to 2 to fit memory.
SMOKE_CKPT := cache/smoke/swin_large_random_official.safetensors
smoke-paper: all
	./$(BUILD)/deltabench pretrain --random-official swin-l $(SMOKE_CKPT)
	@# DATA_ROOT is required by the paper recipe; its dataset entries are replaced by the default profile's
	./$(BUILD)/deltabench reproduce cls --profile paper --pretrained $(SMOKE_CKPT) --data-root cache/data --datasets-from default \
	  --datasets flowers102 --methods mona,full --max-iters 3 --max-eval-batches 2 --batch 2 --restart --no-report \
	  --results $(BUILD)/smoke/cls_smoke.h5 --runs-dir $(BUILD)/smoke/runs --shared $(SHARED_DIR)

# The PyTorch peer is Debian's python3-torch (and python3-torchvision for the RetinaNet peer), installed here
# when missing (PEER=0: no peer, nothing installed). BENCH_TASK=retinanet (or make bench-retinanet): one RetinaNet
# training step per method instead of the classification step; BENCH_TASK=upernet (or make bench-upernet): one
# UperNet step (UPerHead 512 + FCN aux head, 150 classes); BENCH_TASK=cascade (or make bench-cascade): one Cascade
# R-CNN step (Swin-T 800x512, batch 1, RPN + three box stages, 80 classes; python3-torchvision too).
BENCH_TASK ?= cls
ifeq ($(BENCH_TASK),retinanet)
BENCH_ARGS ?= --task retinanet --backbone swin-t --image-size 512 --batch 2 --threads 2 --steps 5 --warmup 3 --methods all
BENCH_PKGS := python3-torch python3-torchvision
else ifeq ($(BENCH_TASK),cascade)
BENCH_ARGS ?= --task cascade --backbone swin-t --image-size 800x512 --batch 1 --threads 2 --steps 5 --warmup 3 --methods all
BENCH_PKGS := python3-torch python3-torchvision
else ifeq ($(BENCH_TASK),upernet)
BENCH_ARGS ?= --task upernet --backbone swin-t --image-size 512 --batch 2 --threads 2 --steps 5 --warmup 3 --methods all
BENCH_PKGS := python3-torch
else
BENCH_ARGS ?= --backbone swin-t --size 224 --batch 8 --threads 2 --steps 5 --warmup 3 --methods all
BENCH_PKGS := python3-torch
endif
PEER ?= 1
bench: config $(BUILD)/deltabench
ifeq ($(PEER),1)
	@DB_EXTRA_PKGS="$(BENCH_PKGS)" ./scripts/install_deps.sh
	./$(BUILD)/deltabench bench $(BENCH_ARGS)
else
	./$(BUILD)/deltabench bench $(BENCH_ARGS) --no-peer
endif
bench-retinanet:
	@$(MAKE) --no-print-directory bench BENCH_TASK=retinanet
bench-upernet:
	@$(MAKE) --no-print-directory bench BENCH_TASK=upernet
bench-cascade:
	@$(MAKE) --no-print-directory bench BENCH_TASK=cascade
# Data parallel (README "Data-parallel training over MPI"): bytes all-reduced and step times on 1 and RANKS ranks.
RANKS ?= 2
bench-ranks: config $(BUILD)/deltabench
	@[ -n "$(HAVE_MPI)" ] || { echo "make bench-ranks: this build has no MPI (make deps installs Open MPI)"; exit 1; }
	DB_BIN=$(BUILD)/deltabench ./scripts/bench_ranks.sh $(RANKS) $(RANKS_ARGS)
# Fuzzing: clang + libFuzzer + ASan/UBSan. The library sources the parsers need (core/, datasets/) are rebuilt
# with the sanitizers into build/fuzz; each harness runs for FUZZ_SECONDS, one at a time, starting from the
# committed seeds (datasets/fuzz/seeds/<name> or core/fuzz/seeds/<name>) and keeping its corpus in build/fuzz/corpus_<name>.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
              -fno-omit-frame-pointer -DDB_COMMIT=\"$(COMMIT)\" $(PKG_CFLAGS)
FUZZ_LIB_SRCS := $(shell find core models datasets methods -name '*.c' -not -path '*/fuzz/*' 2>/dev/null | sort)
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_HARNESSES := $(wildcard datasets/fuzz/fuzz_*.c core/fuzz/fuzz_*.c)
FUZZ_BINS := $(addprefix $(BUILD)/fuzz/,$(basename $(notdir $(FUZZ_HARNESSES))))

$(BUILD)/fuzz/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -c $< -o $@

$(BUILD)/fuzz/%: datasets/fuzz/%.c $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(PKG_LIBS) -lgomp -lm -lpthread

$(BUILD)/fuzz/%: core/fuzz/%.c $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(PKG_LIBS) -lgomp -lm -lpthread

.SECONDARY: $(FUZZ_LIB_OBJS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@for b in $(FUZZ_BINS); do \
	  name=$${b##*/fuzz_}; \
	  [ -n "$(FUZZ)" ] && [ "$$name" != "$(FUZZ)" ] && continue; \
	  mkdir -p $(BUILD)/fuzz/corpus_$$name; \
	  echo "== fuzz_$$name for $(FUZZ_SECONDS) s"; \
	  $$b -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
	      -artifact_prefix=$(BUILD)/fuzz/crash_$$name- $(BUILD)/fuzz/corpus_$$name \
	      $$(ls -d datasets/fuzz/seeds/$$name core/fuzz/seeds/$$name 2>/dev/null) \
	      2>&1 | tee $(BUILD)/fuzz/log_$$name.txt | grep -E '^#[0-9]+ *DONE|ERROR|SUMMARY|Done [0-9]+ runs' ; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || { echo "fuzz_$$name FAILED (see $(BUILD)/fuzz/log_$$name.txt)"; exit 1; }; \
	done

clean:
	rm -rf $(BUILD)
