# smolbot: the one build file.
#
#   make            build/smolbot (optimised, runs on any x86-64 / aarch64)
#   make test       sanitizer build (ASan + UBSan), unit, parity and CLI tests
#   make run        build, get the model if missing, chat at http://localhost:3000
#   make bench      prompt/decode speed vs the memory roofline (BENCH_MODEL)
#   make fuzz       libFuzzer targets in build/fuzz (clang; tests/fuzz/README.md)
#   make soak       load and soak test, 30 min by default (SOAK_SECONDS, SOAK_CLIENTS)
#   make clean      remove build/
#
# Objects live in build/<flavour>/, with -MMD dependency files. The engine
# (src/base + src/engine) is a static library both flavours link.

CC      ?= cc
PKGS    := libutf8proc libcjson sqlite3 libcurl libcrypto libedit libmicrohttpd md4c
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

.PHONY: all test fuzz soak run bench clean help FORCE
all: build/smolbot

build/smolbot: $(CLI_SRCS:%.c=$(REL)/%.o) $(REL)/libsmolapp.a $(REL)/libsmol.a
	$(CC) $(REL_CFLAGS) -o $@ $^ $(LDLIBS_COMMON)

$(REL)/libsmol.a: $(REL_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(ASN)/libsmol.a: $(ASAN_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(REL)/libsmolapp.a: $(APP_SRCS:%.c=$(REL)/%.o) $(REL)/gen/assets.o
	@rm -f $@
	ar rcs $@ $^

$(ASN)/libsmolapp.a: $(APP_SRCS:%.c=$(ASN)/%.o) $(ASN)/gen/assets.o
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

# `make test` replays the fuzz corpora and regression inputs through the
# targets built with gcc's sanitizers (tests/fuzz/replay.c), and, when
# clang with libFuzzer is here (scripts/deps.sh installs it), also fuzzes
# each target briefly (tests/fuzz/run.sh); else run.sh says it skipped.
REPLAY_BINS := $(patsubst tests/fuzz/fuzz_%.c,$(ASN)/tests/fuzz/replay_%,$(wildcard tests/fuzz/fuzz_*.c))
test: $(TEST_BINS) $(ASN)/smolbot $(REPLAY_BINS)
	@$(if $(FUZZ_OK),$(MAKE) --no-print-directory fuzz,echo "fuzz: $(FUZZ_CC) with libFuzzer not found: the fuzz pass is skipped")
	@SMOLBOT=$(ASN)/smolbot FUZZ_REPLAY=$(ASN)/tests/fuzz FUZZ_BIN=$(if $(FUZZ_OK),$(FUZ)) \
	  bash tests/run.sh $(TEST_BINS)

$(ASN)/tests/fuzz/replay_%: $(ASN)/tests/fuzz/fuzz_%.o $(ASN)/tests/fuzz/fuzzutil.o \
                            $(ASN)/tests/fuzz/replay.o $(ASN)/libsmolapp.a $(ASN)/libsmol.a
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(LDLIBS_COMMON)

# `make soak`: a crowd of clients against the release build on the
# scripted models for SOAK_SECONDS (default 1800; 20 for a quick one),
# then the report and its checks (tests/soak/soak.mjs). Not in `make test`.
soak: build/smolbot
	SMOLBOT=$(or $(SMOLBOT),build/smolbot) node tests/soak/soak.mjs

# `make fuzz`: one libFuzzer binary per tests/fuzz/fuzz_*.c, in build/fuzz,
# built with clang's -fsanitize=fuzzer,address,undefined against the engine
# and server compiled with the same sanitizers (their own objects, never
# mixed with gcc's). tests/fuzz/README.md says how to run them long.
FUZZ_CC    ?= clang
FUZ        := build/fuzz
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(CFLAGS_COMMON) -Itests/fuzz
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,$(FUZ)/%,$(wildcard tests/fuzz/fuzz_*.c))
# Probed once, and only when `make test` asks, so plain builds never pay for it.
FUZZ_OK     = $(eval FUZZ_OK := $(shell echo 'int LLVMFuzzerTestOneInput(const char *d, long n) \
                { return 0; }' | $(FUZZ_CC) -fsanitize=fuzzer -x c -o /dev/null - 2>/dev/null \
                && echo 1))$(FUZZ_OK)

fuzz: $(FUZZ_BINS)

$(FUZ)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(ISA_FLAGS) -c -o $@ $<

$(FUZ)/libsmol.a: $(LIB_SRCS:%.c=$(FUZ)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(FUZ)/libsmolapp.a: $(APP_SRCS:%.c=$(FUZ)/%.o) $(FUZ)/gen/assets.o
	@rm -f $@
	ar rcs $@ $^

$(FUZ)/gen/assets.o: build/gen/assets.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZ)/fuzz_%: $(FUZ)/tests/fuzz/fuzz_%.o $(FUZ)/tests/fuzz/fuzzutil.o $(FUZ)/libsmolapp.a $(FUZ)/libsmol.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_COMMON)

# The web page's assets, embedded in the binary (tools/embed.c): ours from
# src/web, HTMX, its SSE extension and highlight.js from node_modules (npm
# ci, scripts/deps.sh). Without node_modules the build still works and the
# page says what is missing. highlight.js ships CommonJS modules only: they
# are wrapped into one browser script here, with the languages below.
NM         := node_modules
HLJS_LANGS := bash c cpp csharp css diff go ini java javascript json kotlin lua makefile \
              markdown php plaintext python ruby rust shell sql swift typescript xml yaml
HLJS_SRCS  := $(wildcard $(NM)/highlight.js/lib/core.js $(HLJS_LANGS:%=$(NM)/highlight.js/lib/languages/%.js))
WEB_ASSETS := /index.html=src/web/index.html /assets/app.js=src/web/app.js \
              /assets/app.css=src/web/app.css /assets/favicon.svg=src/web/favicon.svg \
              $(if $(wildcard $(NM)/htmx.org/dist/htmx.min.js),/assets/htmx.min.js=$(NM)/htmx.org/dist/htmx.min.js) \
              $(if $(wildcard $(NM)/htmx-ext-sse/dist/sse.min.js),/assets/sse.js=$(NM)/htmx-ext-sse/dist/sse.min.js) \
              $(if $(HLJS_SRCS),/assets/hljs.js=build/gen/hljs.js \
                /assets/hljs-light.css=$(NM)/highlight.js/styles/github.min.css \
                /assets/hljs-dark.css=$(NM)/highlight.js/styles/github-dark.min.css)

build/tools/embed: tools/embed.c
	@mkdir -p $(@D)
	$(CC) -O1 -std=c17 $(WARN) -o $@ $<

build/gen/hljs.js: $(HLJS_SRCS)
	@mkdir -p $(@D)
	@{ printf '(function(){var module={exports:{}};\n'; cat $(NM)/highlight.js/lib/core.js; \
	   printf '\nwindow.hljs=module.exports;})();\n'; \
	   for l in $(HLJS_LANGS); do printf '(function(){var module={exports:{}};\n'; \
	     cat $(NM)/highlight.js/lib/languages/$$l.js; \
	     printf '\nhljs.registerLanguage("%s",module.exports);})();\n' $$l; done; } > $@.tmp
	@mv $@.tmp $@

# The list of assets is a prerequisite too: npm ci brings files older than
# the last build, so a changed list is what says to embed again.
build/gen/assets.list: FORCE
	@mkdir -p $(@D)
	@echo '$(WEB_ASSETS)' | cmp -s - $@ || echo '$(WEB_ASSETS)' > $@

build/gen/assets.c: build/tools/embed build/gen/assets.list $(foreach a,$(WEB_ASSETS),$(lastword $(subst =, ,$(a))))
	build/tools/embed $@ $(WEB_ASSETS)

$(REL)/gen/assets.o: build/gen/assets.c
	@mkdir -p $(@D)
	$(CC) $(REL_CFLAGS) -c -o $@ $<

$(ASN)/gen/assets.o: build/gen/assets.c
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) -c -o $@ $<

# `make run`: from nothing to a chat. MODEL names a GGUF file; without it
# `smolbot pull` fetches SmolLM3-3B Q4_K_M (once) and prints its path, or
# says in one line why it cannot and how to run with MODEL=path instead.
PORT ?= 3000
run: build/smolbot
	@model="$(MODEL)"; \
	if [ -z "$$model" ]; then \
	  model=$$(build/smolbot pull) || exit 1; \
	fi; \
	test -f "$$model" || { echo "smolbot: no model at $$model; run: MODEL=path/to/model.gguf make run" >&2; exit 1; }; \
	echo "smolbot: starting; the chat will be at http://localhost:$(PORT)/"; \
	exec build/smolbot serve -m "$$model" --port $(PORT) $(SERVE_ARGS)

# `make bench`: speed against this machine's memory roofline (README,
# Performance), on BENCH_MODEL: by default a synthetic SmolLM3-3B Q4_K_M
# written once into build/ (the real vocabulary when the fixtures are there).
FIXTURES    ?= $(or $(SMOL_FIXTURES),../shared/fixtures)
BENCH_MODEL ?= build/synth-3b-q4_k_m.gguf
BENCH_ARGS  ?= -p 512 -n 128 -r 5
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
