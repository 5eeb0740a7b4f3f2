/* helpers.h -- shared by the CUnit suites: servers on loopback in a
 * background thread, clients, descriptor and child counts, and the CLI as
 * a real process.  Every wait here is bounded. */
#ifndef SS_TEST_HELPERS_H
#define SS_TEST_HELPERS_H

#include "../handlers/handlers.h"
#include "../socketserver/socketserver.h"

#include <CUnit/CUnit.h>
#include <pthread.h>
#include <sys/types.h>

#define TS_IO_TIMEOUT_MS 5000 /* any single client read or write */

/* A suite whose every test runs under a watchdog (SIGALRM after 60 s). */
CU_pSuite ts_suite(const char *name);

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Every mode, as ts_config names them: each concurrent design and poller. */
extern const char *const ts_modes[];
#define TS_NMODES 8

/* Checks that say which case failed: set ts_where to the running case
 * ("tcp4/fork, long line") and use CHECK(cond) instead of CU_ASSERT; it
 * returns whether cond held.  ts_note prints a line about the case. */
extern char ts_where[160];
int ts_check(int ok, const char *cond, const char *file, unsigned line);
#define CHECK(cond) ts_check((cond) != 0, #cond, __FILE__, __LINE__)
void ts_note(const char *fmt, ...) SS_PRINTF(1, 2);

/* Client helpers the suites share.  ts_quiet: nothing arrives on fd
 * within TS_QUIET_MS.  ts_recv_dgram: one datagram within
 * TS_IO_TIMEOUT_MS, its length or -1.  ts_send_bytes: all of buf, looping
 * over partial sends (an empty buf is still sent: a datagram): 0 or -1.
 * ts_fill_pattern: bytes that show where a relay dropped, duplicated or
 * reordered some. */
#define TS_QUIET_MS 150
int ts_quiet(int fd);
ssize_t ts_recv_dgram(int fd, void *buf, size_t cap);
int ts_send_bytes(int fd, const void *buf, size_t len);
void ts_fill_pattern(unsigned char *buf, size_t len, unsigned seed);

/* End a client connection.  shutdown() first: in fork mode every child
 * inherits this process's descriptors, client ends included, so close()
 * alone would not end the connection while a child holds a copy. */
void ts_hang_up(int fd);

/* ---- A server serving in a background thread --------------------------- */
typedef struct test_server {
    ss_server_t *srv;
    pthread_t thread;
    int serve_rc;
    char address[256];
} test_server_t;

/* Create the server from cfg and serve it in a thread: 0, or -errno with
 * the reason printed. */
int ts_start(test_server_t *ts, const ss_config_t *cfg);
/* ss_server_shutdown from this thread, join the serving thread, close. */
void ts_stop(test_server_t *ts);

/* A config for handler on a loopback ephemeral port of the given kind.
 * mode may also be "event-poll" or "event-select" (event mode with that
 * poller; plain "event" uses the default, epoll), or "prethread-lock" (the
 * pool whose threads accept; plain "prethread" queues). */
typedef enum { TS_TCP4, TS_TCP6, TS_UDP4, TS_UNIX, TS_UNIX_DGRAM } ts_kind_t;
void ts_config(ss_config_t *cfg, ts_kind_t kind, const char *mode,
               const ss_handler_t *handler);
const char *ts_kind_name(ts_kind_t kind);

/* Run fn(kind, mode, arg) for every kind given and every mode in
 * ts_modes, with ts_where naming each case. */
typedef void (*ts_case_fn)(ts_kind_t kind, const char *mode, const void *arg);
void ts_each_case(const ts_kind_t *kinds, size_t nkinds, ts_case_fn fn,
                  const void *arg);
/* ts_config + ts_start, CHECKed: 1 when the server runs. */
int ts_start_case(test_server_t *ts, ts_kind_t kind, const char *mode,
                  const ss_handler_t *handler);

/* A unique socket path under /tmp; static storage per call site is not
 * needed: it writes into buf. */
const char *ts_unix_path(char *buf, size_t cap);

/* ---- Clients ------------------------------------------------------------ */
/* Connect to a server address ("127.0.0.1:P", "[::1]:P", "unix:/p"); a
 * datagram client on Unix is autobound so it can receive replies.  Read
 * and write timeouts are TS_IO_TIMEOUT_MS.  Returns the fd or -1. */
int ts_connect(const char *address, int datagram);
int ts_send_str(int fd, const char *s);
/* Read until EOF, cap - 1 bytes or timeout_ms; NUL-terminates.  Returns
 * the byte count, or -1 on a timeout or an error (a reset) before EOF. */
ssize_t ts_read_all(int fd, char *buf, size_t cap, int timeout_ms);
/* Read until buf ends with `until` (or holds n bytes when until is NULL). */
ssize_t ts_read_until(int fd, char *buf, size_t cap, const char *until,
                      int timeout_ms);
/* 1 when the peer closes (EOF or reset) within timeout_ms with no data. */
int ts_expect_eof(int fd, int timeout_ms);
/* The client's own address as the server names its peer: "127.0.0.1:P",
 * "[::1]:P", or "unix:" for an unnamed Unix socket; "?" on failure. */
void ts_client_name(int fd, char *buf, size_t cap);

/* Send len bytes of out on a writer thread, then half-close, while this
 * thread reads everything back to end of file: an echo or a relay busy
 * both ways at once.  CHECKs that all was sent and came back byte for
 * byte, and notes where it first differed. */
void ts_echo_check(int fd, const unsigned char *out, size_t len,
                   int timeout_ms);

/* ---- Process state ------------------------------------------------------ */
int ts_count_fds(void);
/* Children of this process, and how many of them are zombies. */
int ts_count_children(int *zombies);
/* Poll until there are no children (or timeout); returns the count left. */
int ts_wait_no_children(int timeout_ms);
long long ts_now_ms(void);
void ts_sleep_ms(int ms);

/* ---- The CLI as a process ----------------------------------------------- */
typedef struct cli_proc {
    pid_t pid;
    int out, err; /* its stdout and stderr */
    char address[256];
    char outtext[8192], errtext[8192]; /* collected by ts_cli_wait */
    size_t outlen, errlen;
} cli_proc_t;

/* Start $SS_CLI (default build/socketserver) with args (NULL-terminated,
 * without argv[0]).  When wait_listening, wait for and parse the
 * "listening on ADDRESS" line; returns 0, or -1 (the process is reaped). */
int ts_cli_start(cli_proc_t *p, const char *const *args, int wait_listening);
/* The same for a function run in a forked child, its standard output and
 * error piped as a program's would be; child must _exit. */
int ts_fork_start(cli_proc_t *p, void (*child)(void *arg), void *arg,
                  int wait_listening);
/* The same for any program: path, e.g. ts_example_path's. */
int ts_proc_start(cli_proc_t *p, const char *path, const char *const *args,
                  int wait_listening);
/* build/.../examples/NAME, beside the CLI under test. */
const char *ts_example_path(char *buf, size_t cap, const char *name);
/* Wait up to timeout_ms for exit, collecting what it prints into outtext
 * and errtext: the exit status, 128+signal, or -1 after killing it on
 * timeout.  Closes its pipes. */
int ts_cli_wait(cli_proc_t *p, int timeout_ms);
const char *ts_cli_path(void);
/* The next line the process prints on standard output, within
 * timeout_ms: 0, or -1. */
int ts_cli_read_line(cli_proc_t *p, char *buf, size_t cap, int timeout_ms);

/* A handler that greets "hi\n", then waits for one line and answers
 * "ok\n": a connection held for as long as a test likes. */
int ts_hold_handle(ss_request_t *req);
extern const ss_handler_t ts_hold;

#endif
