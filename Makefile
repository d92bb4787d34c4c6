# toolhost build. Our flags live in XCFLAGS/XLDFLAGS so that `make CFLAGS=...` adds to them.
# Vary the build with BUILD (output folder), OPT and SAN, never by overriding CFLAGS.

PKGS    := libwebsockets libcurl jansson sqlite3 libuv libsystemd libcrypto
BUILD   ?= build/release
OPT     ?= -O2 -g
CC      ?= cc
WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
           -Wvla -Wimplicit-fallthrough -Wno-unused-parameter
WERROR  ?= -Werror
HARDEN  := -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE
ASAN    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FORTIFY := $(if $(SAN),,-D_FORTIFY_SOURCE=2)
XCFLAGS  = $(OPT) -std=c11 -D_GNU_SOURCE -I. -MMD -MP $(WARN) $(WERROR) $(HARDEN) $(FORTIFY) $(SAN) \
           $(shell pkg-config --cflags $(PKGS)) $(CFLAGS)
XLDFLAGS = -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(SAN) $(LDFLAGS)
LIBS    := $(shell pkg-config --libs $(PKGS)) -lm

LIB_SRC := $(sort $(wildcard api/*.c store/*.c mcpclient/*.c) $(filter-out daemon/main.c,$(wildcard daemon/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
FUZZ    := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
TOOLS   := $(BUILD)/tests/sdlaunch
FUZZ_T  ?= 30

.PHONY: all deps test unit integration valgrind lint format format-check fuzz fuzz-seeds bench run clean
all: $(BUILD)/toolhostd $(BUILD)/toolhost-mcp $(BUILD)/toolhostctl

deps:
	./scripts/setup-debian.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) -c -o $@ $<

# The page's files are compiled into this object (.incbin), which -MMD does not see.
$(BUILD)/api/ui_assets.o: $(wildcard ui/*)

$(BUILD)/libtoolhost.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/toolhostd: $(BUILD)/daemon/main.o $(BUILD)/libtoolhost.a
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/toolhost-mcp: $(BUILD)/cli/toolhost-mcp.o $(BUILD)/libtoolhost.a
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/toolhostctl: $(BUILD)/cli/toolhostctl.o $(BUILD)/cli/ctlwatch.o $(BUILD)/libtoolhost.a
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(BUILD)/libtoolhost.a
	@mkdir -p $(@D)
	$(CC) $(XLDFLAGS) -o $@ $^ $(LIBS)

# The systemd test's launcher (tests/systemd/sdlaunch.c): seccomp, umask, user, /proc, notify socket.
$(BUILD)/tests/sdlaunch: tests/systemd/sdlaunch.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(XLDFLAGS) -o $@ $< -lseccomp

# `make test` is the sanitizer run: unit tests, then the integration tests against the ASan daemon.
test: deps
	$(MAKE) BUILD=build/asan OPT="-O1 -g" SAN="$(ASAN)" build/asan/toolhostd build/asan/toolhost-mcp \
	  build/asan/toolhostctl unit-bins
	TOOLHOSTD=build/asan/toolhostd tests/run.sh $(patsubst $(BUILD)/%,build/asan/%,$(UNIT))

unit-bins: $(UNIT) $(TOOLS)
unit: unit-bins
	tests/run.sh --unit-only $(UNIT)

integration: $(BUILD)/toolhostd
	TOOLHOSTD=$(BUILD)/toolhostd tests/run.sh --integration-only

valgrind: unit-bins $(BUILD)/toolhostd
	RUNNER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	  tests/run.sh --unit-only $(UNIT)

lint:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')
	cppcheck -q --std=c11 --enable=warning,portability --inline-suppr --error-exitcode=1 \
	  -I. -D_GNU_SOURCE --suppress=missingIncludeSystem daemon api store mcpclient cli
	clang-tidy -quiet $$(git ls-files 'daemon/*.c' 'api/*.c' 'store/*.c' 'mcpclient/*.c' 'cli/*.c') -- -std=c11 -D_GNU_SOURCE -I. \
	  $$(pkg-config --cflags $(PKGS))

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

build/fuzz/%: tests/fuzz/%.c $(filter-out daemon/main.c,$(LIB_SRC))
	@mkdir -p $(@D)
	clang -g -O1 -std=c11 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined $(shell pkg-config --cflags $(PKGS)) \
	  -o $@ $^ $(LIBS)

fuzz: $(FUZZ)
	@for f in $(FUZZ); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_T)s"; \
	  $$f -max_total_time=$(FUZZ_T) -print_final_stats=0 -artifact_prefix=build/fuzz/ \
	    build/fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

# Each target over its own seed corpus once, no fuzzing: a harness must accept the seeds it ships.
fuzz-seeds: $(FUZZ)
	@for f in $(FUZZ); do n=$$(basename $$f); echo "fuzz-seeds: $$n"; \
	  $$f -runs=0 -artifact_prefix=build/fuzz/ tests/fuzz/corpus/$$n || exit 1; done

bench: deps
	$(MAKE) BUILD=build/release build/release/toolhostd build/release/toolhost-mcp
	tests/bench/run.sh
	tests/bench/mcp.sh
	tests/bench/mcp-responses.sh
	node tests/bench/approvals.mjs

run: deps $(BUILD)/toolhostd $(BUILD)/toolhost-mcp $(BUILD)/toolhostctl
	./scripts/run-local.sh $(BUILD)/toolhostd

clean:
	rm -rf build

.SECONDARY:
-include $(shell find build -name '*.d' 2>/dev/null)
