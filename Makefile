# socketserver -- see README.md.
#
#   make             library (.a, .so), the CLI and the examples, in build/
#   make run         the default server: the 10086 bot on 127.0.0.1:8002
#   make test        CUnit suites, plain and then under ASan + UBSan
#   make MODE=fork   a CLI whose default mode is fork (--mode still wins)
#   make HANDLERS="path/to/NAME.c ..."  build/socketserver with those
#                    handlers beside the built-in ones
#   make install PREFIX=/usr/local DESTDIR=
#   make format  clang-format every source in place (format-check: list
#                the files that differ, and fail)

SHELL   := /bin/bash
CC      ?= cc
MODE    ?= thread
BUILD   ?= build
PREFIX  ?= /usr/local
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer

WARN     = -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) $(CFLAGS) \
             $(EXTRA_CFLAGS) -pthread -fPIC -MMD -MP
# Symbols bound at start (-z now), not at first call: a fork mode child
# would otherwise resolve, and copy the page of, every function it calls
# first (about a fifth of its CPU in perf); and the GOT is read-only.
LDLIBS   = -pthread -lm -Wl,-z,relro,-z,now

LIB_SRC  = $(wildcard socketserver/*.c)
HND_SRC  = $(wildcard handlers/*.c)
CLI_SRC  = $(filter-out cli/main.c,$(wildcard cli/*.c))
EX_SRC   = $(wildcard examples/*.c)
TEST_SRC = $(wildcard tests/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ  = $(call obj,$(LIB_SRC))
HND_OBJ  = $(call obj,$(HND_SRC))
CLI_OBJ  = $(call obj,$(CLI_SRC))
TEST_OBJ = $(call obj,$(TEST_SRC))
EXAMPLES = $(patsubst examples/%.c,$(BUILD)/examples/%,$(EX_SRC)) \
           $(BUILD)/examples/kv
# Handlers linked into build/socketserver by `make HANDLERS="a/x.c ..."`:
# each file defines `const ss_handler_t ss_handler_x` (x: its base name).
HANDLERS ?=
EXTRA_HND_OBJ = $(call obj,$(HANDLERS))
# The companion library: ss_main (cli/, the stock binary's command line)
# and the built-in handlers, so that the core library stays free of both.
CLI_LIB = $(BUILD)/libsocketserver-cli.a
$(CLI_OBJ) $(BUILD)/obj/cli/main.o $(EXTRA_HND_OBJ): OBJ_CFLAGS = -Isocketserver -Icli

# The shared library exports only what socketserver.h declares: the
# library's objects are compiled with hidden visibility, and the header
# turns it back on for its declarations.  The static library is built from
# the same objects (hidden symbols still link statically).
LIB_CFLAGS = -fvisibility=hidden -DSS_BUILDING_LIBRARY $(FASTPATHS)
$(LIB_OBJ): OBJ_CFLAGS = $(LIB_CFLAGS)

# Platform fast paths, each behind a probe of this system, each with a
# portable path beside it: NO_FASTPATH=1 builds that one (CI tests it too).
#   accept4   a connection accepted non-blocking and close-on-exec in one
#             call (Linux, the BSDs, POSIX.1-2024): two fcntl calls fewer
#   openat2   the http handler opens a file beneath its root in one call
#             (RESOLVE_BENEATH, Linux 5.6), not one openat per component
#   sendfile  ss_send_file's bytes go from the page cache to the socket,
#             not through a buffer (Linux)
ifeq ($(NO_FASTPATH),)
HAVE_ACCEPT4 := $(shell $(CC) -o /dev/null mk/accept4.c 2>/dev/null && echo 1)
HAVE_OPENAT2 := $(shell $(CC) -o /dev/null mk/openat2.c 2>/dev/null && echo 1)
HAVE_SENDFILE := $(shell $(CC) -o /dev/null mk/sendfile.c 2>/dev/null && echo 1)
endif
FASTPATHS = $(if $(HAVE_ACCEPT4),-DSS_HAVE_ACCEPT4) \
            $(if $(HAVE_SENDFILE),-DSS_HAVE_SENDFILE)
HND_FASTPATHS = $(if $(HAVE_OPENAT2),-DSS_HAVE_OPENAT2)
$(HND_OBJ): OBJ_CFLAGS = $(HND_FASTPATHS)

# libsocketserver.so.VERSION (SS_VERSION in the header), its SONAME
# libsocketserver.so.MAJOR, and the libsocketserver.so a linker looks for.
SO_VERSION := $(shell sed -n 's/^\#define SS_VERSION "\(.*\)"/\1/p' \
                socketserver/socketserver.h)
SO_MAJOR   := $(firstword $(subst ., ,$(SO_VERSION)))
SO_REAL    = libsocketserver.so.$(SO_VERSION)
SO_NAME    = libsocketserver.so.$(SO_MAJOR)

.PHONY: all lib cli examples run bench-switch bench-idle test test-cluster test-tsan test-valgrind fuzz fuzz-bins test-plain test-sanitized cunit \
        install uninstall format format-check clean
all: lib cli examples
lib: $(BUILD)/libsocketserver.a $(BUILD)/libsocketserver.so \
     $(BUILD)/$(SO_NAME) $(CLI_LIB)
cli: $(BUILD)/socketserver
examples: $(EXAMPLES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(OBJ_CFLAGS) -c $< -o $@

# The compiled-in default mode: rebuild options.o when MODE changes.
$(BUILD)/mode.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(MODE)' | cmp -s - $@ || echo '$(MODE)' > $@
$(BUILD)/obj/cli/options.o: EXTRA_CFLAGS += -DSS_DEFAULT_MODE='"$(MODE)"'
$(BUILD)/obj/cli/options.o: $(BUILD)/mode.stamp
FORCE:

$(BUILD)/libsocketserver.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/$(SO_REAL): $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,$(SO_NAME) -o $@ $^ $(LDLIBS)

$(BUILD)/$(SO_NAME) $(BUILD)/libsocketserver.so: $(BUILD)/$(SO_REAL)
	ln -sf $(SO_REAL) $@

$(CLI_LIB): $(CLI_OBJ) $(HND_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# The HANDLERS list as HANDLER(NAME) lines for cli/main.c, rewritten only
# when it changes (main.o is rebuilt then).
$(BUILD)/extra_handlers.h: FORCE
	@mkdir -p $(BUILD)
	@for f in $(HANDLERS); do n=$${f##*/}; echo "HANDLER($${n%.c})"; done \
	  | cmp -s - $@ || \
	  for f in $(HANDLERS); do n=$${f##*/}; echo "HANDLER($${n%.c})"; done > $@
$(BUILD)/obj/cli/main.o: $(BUILD)/extra_handlers.h
$(BUILD)/obj/cli/main.o: EXTRA_CFLAGS += \
  -DSS_EXTRA_HANDLERS='"$(abspath $(BUILD))/extra_handlers.h"'

$(BUILD)/socketserver: $(BUILD)/obj/cli/main.o $(EXTRA_HND_OBJ) $(CLI_LIB) \
                       $(BUILD)/libsocketserver.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libsocketserver.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isocketserver -o $@ $^ $(LDLIBS)

# The tutorial's program: its handler and a main that calls ss_main.
$(BUILD)/examples/kv: examples/kv/main.c examples/kv/kv.c $(CLI_LIB) \
                      $(BUILD)/libsocketserver.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isocketserver -Icli -o $@ $^ $(LDLIBS)

# The stock binary with the tutorial's handler linked in, as
# `make HANDLERS=examples/kv/kv.c` makes it (the tests run it).
$(BUILD)/tests/kv_handlers.h:
	@mkdir -p $(dir $@)
	echo 'HANDLER(kv)' > $@
$(BUILD)/tests/socketserver-kv: cli/main.c examples/kv/kv.c \
                                $(BUILD)/tests/kv_handlers.h $(CLI_LIB) \
                                $(BUILD)/libsocketserver.a
	$(CC) $(ALL_CFLAGS) -Isocketserver -Icli \
	  -DSS_EXTRA_HANDLERS='"$(abspath $(BUILD))/tests/kv_handlers.h"' \
	  -o $@ $(filter-out %.h,$^) $(LDLIBS)

run: cli
	$(BUILD)/socketserver

# ---- Benchmarks ----------------------------------------------------------

# The event mode's coroutine switch against glibc's swapcontext.
$(BUILD)/bench/coro_switch: bench/coro_switch.c $(BUILD)/libsocketserver.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

bench-switch: $(BUILD)/bench/coro_switch
	$(BUILD)/bench/coro_switch

# Resident memory per idle connection, each concurrent mode (N held).
N ?= 10000
$(BUILD)/bench/hold: bench/hold.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $<

bench-idle: cli $(BUILD)/bench/hold
	BUILD=$(BUILD) bench/idle_memory.sh $(N)

# make bench, make bench-deps and their tools live in bench/bench.mk.
-include bench/bench.mk

# ---- Tests ---------------------------------------------------------------

# CUnit comes from Debian's libcunit1-dev: installed here when missing and
# we are root, otherwise the command to run is printed.
cunit:
	@if [ ! -f /usr/include/CUnit/CUnit.h ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing CUnit (libcunit1-dev)"; \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      libcunit1-dev >/dev/null || exit 1; \
	  else \
	    echo "CUnit is missing: run 'sudo apt-get install libcunit1-dev'"; \
	    exit 1; \
	  fi; \
	fi

$(BUILD)/tests/run_tests: $(TEST_OBJ) $(HND_OBJ) $(BUILD)/libsocketserver.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ -lcunit $(LDLIBS)

# Each run is bounded: a hung test fails the run instead of stalling it.
TEST_TIMEOUT ?= 900
test-plain: cunit all $(BUILD)/tests/run_tests $(BUILD)/tests/socketserver-kv
	SS_CLI=$(BUILD)/socketserver timeout -k 10 $(TEST_TIMEOUT) \
	  $(BUILD)/tests/run_tests

# Any sanitizer report fails the run: reports abort the process that made
# them, and the log is searched too, for reports from child processes
# whose exit status a test did not look at.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
          UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
test-sanitized: cunit
	@mkdir -p build/sanitized
	set -o pipefail; $(SAN_ENV) $(MAKE) BUILD=build/sanitized \
	  EXTRA_CFLAGS='$(SAN_FLAGS)' CFLAGS='-O1 -g' test-plain 2>&1 \
	  | tee build/sanitized/test.log
	@! grep -E 'Sanitizer|runtime error' build/sanitized/test.log

# ThreadSanitizer over the suites where threads, pools, coroutines and
# workers meet; any report fails the run.
TSAN_SUITES = request server transports event chat workers limits parked log \
              hostile listeners proxied upgrade
test-tsan: cunit
	@mkdir -p build/tsan
	set -o pipefail; for suite in $(TSAN_SUITES); do \
	  SS_TEST_SUITE=$$suite TSAN_OPTIONS=halt_on_error=1 \
	  $(MAKE) -s BUILD=build/tsan EXTRA_CFLAGS=-fsanitize=thread \
	    CFLAGS='-O1 -g' test-plain || exit 1; \
	done 2>&1 | tee build/tsan/test.log
	@! grep -E 'ThreadSanitizer' build/tsan/test.log

# Valgrind's memcheck over a representative subset, one run per suite:
# request I/O, the server core, every mode and transport, the event mode's
# coroutines, pre-forked workers, the menu and HTTP handlers, and the CLI.
# No sanitizers; -DSS_VALGRIND registers the coroutine stacks.  Children
# are followed, forked (fork mode, workers) and exec'd (the CLI), each
# into its own log in build/valgrind/logs/SUITE/.  The run fails on a
# failing test, or on any memcheck error or definite or indirect leak in
# any process.  Descriptors are not tracked: the suites count them, and
# fork children hold their parent's by design.  No suppressions.
VG_SUITES  = request server parked transports event workers handlers http cli \
             listeners proxied errors
VG_BUILD   = build/valgrind
VG_TIMEOUT ?= 600
VALGRIND   = valgrind --leak-check=full --show-leak-kinds=definite,indirect \
             --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
             --trace-children=yes --fair-sched=yes
# Per suite: processes, errors and leaked bytes summed over its logs, and
# the logs with a report printed.  A report is a stack trace (a process
# killed by a signal writes no summary, but its reports are there), except
# the one for a process ended by a signal (tests kill workers on purpose).
VG_SUM = FNR == 1 { n++ } \
         /ERROR SUMMARY:/ { gsub(",", "", $$4); e += $$4 } \
         /ERROR SUMMARY: [1-9]/ { bad[FILENAME] = 1 } \
         /definitely lost:/ { gsub(",", "", $$4); d += $$4 } \
         /indirectly lost:/ { gsub(",", "", $$4); i += $$4 } \
         / at 0x/ && prev !~ /Process terminating/ { bad[FILENAME] = 1 } \
         { prev = $$0 } \
         END { for (f in bad) { nbad++; while ((getline l < f) > 0) print l } \
               printf "%s: %d processes, %d errors, lost: %d bytes " \
                      "definitely, %d indirectly; %d s\n", \
                      suite, n, e, d, i, secs; exit (e + d + i + nbad > 0) }
test-valgrind: cunit
	@command -v valgrind >/dev/null || \
	  { echo "valgrind is missing: run 'sudo apt-get install valgrind'"; exit 1; }
	$(MAKE) -s BUILD=$(VG_BUILD) EXTRA_CFLAGS=-DSS_VALGRIND CFLAGS='-O1 -g' \
	  all $(VG_BUILD)/tests/run_tests
	@for suite in $(VG_SUITES); do \
	  logs=$(VG_BUILD)/logs/$$suite; rm -rf $$logs; mkdir -p $$logs; \
	  start=$$SECONDS; \
	  SS_CLI=$(VG_BUILD)/socketserver SS_TEST_SUITE=$$suite \
	    timeout -k 10 $(VG_TIMEOUT) $(VALGRIND) --log-file=$$logs/%p.log \
	    $(VG_BUILD)/tests/run_tests; rc=$$?; \
	  awk -v suite=$$suite -v secs=$$((SECONDS - start)) '$(VG_SUM)' \
	    $$logs/*.log || rc=$$((rc ? rc : 1)); \
	  [ $$rc = 0 ] || { echo "$$suite: failed (exit $$rc), logs in $$logs"; exit 1; }; \
	done

test: test-plain test-sanitized

# A multi-host test in Linux network namespaces: three backends behind
# Debian's HAProxy, clients on two more hosts, under load through graceful
# stops, restarts, upgrades, kill -9 and SIGSTOP (tests/cluster/run.sh).
# Needs root, ip netns and haproxy; says SKIPPED (and passes) without them.
$(BUILD)/cluster_client: tests/cluster/client.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

# The script bounds itself (timeout, CLUSTER_TIMEOUT seconds), so that
# its EXIT trap tears the network down after a timeout too.
CLUSTER_TIMEOUT ?= 600
test-cluster: cli $(BUILD)/cluster_client
	BUILD=$(BUILD) CLUSTER_TIMEOUT=$(CLUSTER_TIMEOUT) tests/cluster/run.sh

# ---- Fuzzing (clang's libFuzzer) -------------------------------------------

# make fuzz runs each target for FUZZ_SECONDS, starting from its seeds in
# tests/fuzz/corpus/ (and what earlier runs found, kept in build/fuzz/).
FUZZ_TARGETS = addr http lines menu proxy
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -fsanitize=fuzzer-no-link,address,undefined \
             -fno-sanitize-recover=all
FUZZ_BIN = $(patsubst %,$(BUILD)/fuzz_%,$(FUZZ_TARGETS))

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_request.c $(HND_OBJ) \
                 $(BUILD)/libsocketserver.a
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-bins: $(FUZZ_BIN)

fuzz:
	$(MAKE) -s CC=clang BUILD=build/fuzz EXTRA_CFLAGS='$(FUZZ_FLAGS)' \
	  CFLAGS='-O1 -g' fuzz-bins
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t && \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -print_final_stats=1 build/fuzz/corpus/$$t tests/fuzz/corpus/$$t \
	    $$( [ $$t = http ] && echo tests/http_corpus ) 2>&1 \
	    | grep -E '^(stat::number_of_executed_units|INFO: seed|==|SUMMARY)' \
	    ; [ $${PIPESTATUS[0]} -eq 0 ] || exit 1; \
	done

# ---- Install -------------------------------------------------------------

install: lib cli
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libsocketserver.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/$(SO_REAL) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(SO_REAL) $(DESTDIR)$(PREFIX)/lib/$(SO_NAME)
	ln -sf $(SO_REAL) $(DESTDIR)$(PREFIX)/lib/libsocketserver.so
	install -m 644 $(CLI_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 socketserver/socketserver.h socketserver/socketserver_log.h \
	  socketserver/socketserver_choices.h cli/socketserver_cli.h \
	  $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/socketserver $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 deploy/socketserver.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(SO_VERSION)|' \
	  socketserver/socketserver.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/socketserver.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libsocketserver.a \
	  $(DESTDIR)$(PREFIX)/lib/libsocketserver-cli.a \
	  $(DESTDIR)$(PREFIX)/include/socketserver_cli.h \
	  $(DESTDIR)$(PREFIX)/lib/libsocketserver.so \
	  $(DESTDIR)$(PREFIX)/lib/$(SO_NAME) \
	  $(DESTDIR)$(PREFIX)/lib/$(SO_REAL) \
	  $(DESTDIR)$(PREFIX)/include/socketserver.h \
	  $(DESTDIR)$(PREFIX)/include/socketserver_log.h \
	  $(DESTDIR)$(PREFIX)/include/socketserver_choices.h \
	  $(DESTDIR)$(PREFIX)/bin/socketserver \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/socketserver.pc \
	  $(DESTDIR)$(PREFIX)/share/man/man1/socketserver.1

# ---- Formatting (the repository's .clang-format) -------------------------

FORMAT_SRC = $(shell find socketserver handlers cli tests examples \
               -name '*.[ch]' | sort) $(wildcard bench/*.c)
CLANG_FORMAT ?= clang-format

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRC)

# Lists each file clang-format would change; fails when there is one.
format-check:
	@command -v $(CLANG_FORMAT) >/dev/null || \
	  { echo "$(CLANG_FORMAT) is missing: run 'sudo apt-get install clang-format'"; exit 1; }
	@bad=0; for f in $(FORMAT_SRC); do \
	  $(CLANG_FORMAT) --dry-run --Werror "$$f" >/dev/null 2>&1 || \
	    { echo "$$f"; bad=1; }; \
	done; \
	[ $$bad = 0 ] || { echo "not formatted: run 'make format'"; exit 1; }

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
