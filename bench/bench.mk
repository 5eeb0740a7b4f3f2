# bench/bench.mk -- `make bench`, `make bench-deps` and the bench tools;
# included by the top Makefile.
#
#   make bench-deps     the peers and tools, from Debian (as root)
#   make bench          every mode beside the peers: build/bench/results.md
#   make bench QUICK=1  the same, shorter (under 2 minutes)
#   make bench ONLY='thread nginx'   only these rows of bench/servers.conf
#   make bench-attack   only the attack workloads (bench/attack.sh)
#   make bench-handler  any handler in every mode (bench/handler_bench.sh):
#                       by default the tutorial's kv; QUICK=1 takes seconds

.PHONY: bench bench-deps bench-attack bench-handler

# The load generator: one process, one epoll loop (Linux).
$(BUILD)/bench/loadgen: bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

# The attack workloads' client: a small page every 200 ms, its latency.
$(BUILD)/bench/probe: bench/probe.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

QUICK ?= 0
bench: cli $(BUILD)/bench/loadgen $(BUILD)/bench/probe
	BUILD=$(BUILD) QUICK=$(QUICK) ONLY='$(ONLY)' CC=$(CC) bench/run_bench.sh

bench-attack: cli $(BUILD)/bench/loadgen $(BUILD)/bench/probe
	BUILD=$(BUILD) bench/attack.sh

# The tutorial's handler, its script (a SET and a GET, each answered
# with one line, after the greeting line); HANDLER_BENCH replaces it.
HANDLER_BENCH ?= --server $(BUILD)/examples/kv --handler kv --greet \
                 --script 'SET k v\nGET k\n'
bench-handler: $(BUILD)/examples/kv $(BUILD)/bench/loadgen
	BUILD=$(BUILD) QUICK=$(QUICK) bench/handler_bench.sh $(HANDLER_BENCH)

# Each peer is skipped with a note when missing, so this is optional;
# nginx-light's stream module is a separate package.
BENCH_DEBS = wrk apache2-utils nginx-light libnginx-mod-stream \
             redis-server python3 slowhttptest
bench-deps:
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "run as root, or: sudo apt-get install $(BENCH_DEBS)"; exit 1; \
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BENCH_DEBS)
