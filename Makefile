# smolbot: the one build file.
#
#   make            build/smolbot (optimised, runs on any x86-64 / aarch64)
#   make test       sanitizer build (ASan + UBSan), unit, parity and CLI tests
#   make run        build, then answer PROMPT with MODEL (see README)
#   make bench      prompt/decode speed vs the memory roofline (BENCH_MODEL)
#   make clean      remove build/
#
# Objects live in build/<flavour>/, with -MMD dependency files. The engine
# (src/base + src/engine) is a static library both flavours link.

CC      ?= cc
PKGS    := libutf8proc libcjson sqlite3 libcurl libcrypto libedit libmicrohttpd
TESTPKGS:= cmocka

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wvla -Wformat=2 -Werror
INC     := -Isrc/base -Isrc/engine -Isrc/store -Isrc/net -Isrc/server
CFLAGS_COMMON := -std=c17 -D_GNU_SOURCE $(WARN) $(INC) -MMD -MP \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS_COMMON := $(shell pkg-config --libs $(PKGS)) -lm -lpthread

REL_CFLAGS  := -O2 -g $(CFLAGS_COMMON)
ASAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_CFLAGS := -O1 -g $(ASAN_FLAGS) $(CFLAGS_COMMON)

LIB_SRCS  := $(wildcard src/base/*.c) $(wildcard src/engine/*.c)
CLI_SRCS  := $(wildcard src/cli/*.c)
# The store (SQLite), the network code (libcurl) and the HTTP server
# (libmicrohttpd): a second library, linked before the engine's; the
# engine never includes them.
APP_SRCS  := $(wildcard src/store/*.c) $(wildcard src/net/*.c) $(wildcard src/server/*.c)
TEST_SRCS := $(wildcard tests/unit/test_*.c) $(wildcard tests/parity/test_*.c)
TEST_HELP := tests/testutil.c

REL := build/rel
ASN := build/asan

REL_LIB_OBJS  := $(LIB_SRCS:%.c=$(REL)/%.o)
ASAN_LIB_OBJS := $(LIB_SRCS:%.c=$(ASN)/%.o)
TEST_BINS     := $(patsubst %.c,$(ASN)/%,$(TEST_SRCS))

.PHONY: all test run bench clean help
all: build/smolbot

build/smolbot: $(CLI_SRCS:%.c=$(REL)/%.o) $(REL)/libsmolapp.a $(REL)/libsmol.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(LDLIBS_COMMON)

$(REL)/libsmol.a: $(REL_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(ASN)/libsmol.a: $(ASAN_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(REL)/libsmolapp.a: $(APP_SRCS:%.c=$(REL)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(ASN)/libsmolapp.a: $(APP_SRCS:%.c=$(ASN)/%.o)
	@rm -f $@
	ar rcs $@ $^

# Per-ISA kernel files are built with their own -m flags; the rest of the
# binary targets baseline x86-64 and picks a kernel table at run time.
ISA_avx2   := -mavx2 -mfma -mf16c
ISA_avx512 := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c
ISA_FLAGS   = $(if $(findstring kernels_avx512,$<),$(ISA_avx512),$(if $(findstring kernels_avx2,$<),$(ISA_avx2)))

$(REL)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(REL_CFLAGS) $(ISA_FLAGS) -c -o $@ $<

$(ASN)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(ISA_FLAGS) $(shell pkg-config --cflags $(TESTPKGS)) -Itests -c -o $@ $<

# The CLI built with sanitizers: the CLI tests drive this one.
$(ASN)/smolbot: $(CLI_SRCS:%.c=$(ASN)/%.o) $(ASN)/libsmolapp.a $(ASN)/libsmol.a
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(LDLIBS_COMMON)

$(ASN)/tests/%: $(ASN)/tests/%.o $(ASN)/tests/testutil.o $(ASN)/libsmolapp.a $(ASN)/libsmol.a
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(shell pkg-config --libs $(TESTPKGS)) $(LDLIBS_COMMON)

test: $(TEST_BINS) $(ASN)/smolbot
	@SMOLBOT=$(ASN)/smolbot bash tests/run.sh $(TEST_BINS)

MODEL  ?= $(HOME)/.local/share/smolbot/models/SmolLM3-3B-Q4_K_M.gguf
PROMPT ?= Tell me about yourself.
run: build/smolbot
	@test -f "$(MODEL)" || { echo "smolbot: no model at $(MODEL); run 'make run MODEL=path/to/model.gguf'" >&2; exit 1; }
	build/smolbot run -m "$(MODEL)" -p "$(PROMPT)"

# `make bench`: speed against this machine's memory roofline (README,
# Performance), on BENCH_MODEL: by default a synthetic SmolLM3-3B Q4_K_M
# written once into build/ (the real vocabulary when the fixtures are there).
FIXTURES    ?= $(or $(SMOL_FIXTURES),../shared/fixtures)
BENCH_MODEL ?= build/synth-3b-q4_k_m.gguf
BENCH_ARGS  ?= -p 512 -n 128 -r 3
bench: build/smolbot $(BENCH_MODEL)
	build/smolbot bench -m "$(BENCH_MODEL)" $(BENCH_ARGS)

build/synth-3b-q4_k_m.gguf: | build/smolbot
	build/smolbot synth $@ --shape 3b --type Q4_K_M \
	  $(if $(wildcard $(FIXTURES)/vocab-smollm3.gguf),--vocab $(FIXTURES)/vocab-smollm3.gguf)

clean:
	rm -rf build

help:
	@sed -n '3,9p' Makefile

.SECONDARY:
-include $(shell find build -name '*.d' 2>/dev/null)
