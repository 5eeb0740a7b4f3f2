/* helpers.c -- see helpers.h. */
#include "helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WATCHDOG_S 60

static int watchdog_on(void)
{
    alarm(WATCHDOG_S);
    return 0;
}

static int watchdog_off(void)
{
    alarm(0);
    return 0;
}

CU_pSuite ts_suite(const char *name)
{
    return CU_add_suite_with_setup_and_teardown(name, NULL, NULL,
                                                (CU_SetUpFunc)watchdog_on,
                                                (CU_TearDownFunc)watchdog_off);
}

void ts_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

const char *const ts_modes[TS_NMODES] = {
    "sync",           "fork",  "thread",     "prethread",
    "prethread-lock", "event", "event-poll", "event-select"};

char ts_where[160];

int ts_check(int ok, const char *cond, const char *file, unsigned line)
{
    char msg[400];
    snprintf(msg, sizeof(msg), "[%s] %s", ts_where, cond);
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, line, msg, file, "",
                            CU_FALSE);
    return ok;
}

void ts_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\n    [%s] ", ts_where);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

int ts_quiet(int fd)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    return poll(&pfd, 1, TS_QUIET_MS) == 0;
}

ssize_t ts_recv_dgram(int fd, void *buf, size_t cap)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, TS_IO_TIMEOUT_MS) <= 0)
        return -1;
    return recv(fd, buf, cap, 0);
}

/* At least one send(): on a datagram socket, zero bytes is a message. */
int ts_send_bytes(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    do {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n == 0 && len > 0))
            return -1;
        p += n;
        len -= (size_t)n;
    } while (len > 0);
    return 0;
}

void ts_fill_pattern(unsigned char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)((i & 0xff) + (i >> 8) * 37 + seed);
}

void ts_hang_up(int fd)
{
    shutdown(fd, SHUT_RDWR);
    close(fd);
}

long long ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Servers ----------------------------------------------------------- */

static void *serve_thread(void *arg)
{
    test_server_t *ts = arg;
    ts->serve_rc = ss_server_serve_forever(ts->srv);
    return NULL;
}

int ts_start(test_server_t *ts, const ss_config_t *cfg)
{
    char err[256];
    memset(ts, 0, sizeof(*ts));
    int rc = ss_server_create(&ts->srv, cfg, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "ts_start: %s\n", err);
        return rc;
    }
    snprintf(ts->address, sizeof(ts->address), "%s",
             ss_server_address(ts->srv));
    if (pthread_create(&ts->thread, NULL, serve_thread, ts) != 0) {
        ss_server_close(ts->srv);
        return -EAGAIN;
    }
    return 0;
}

void ts_stop(test_server_t *ts)
{
    ss_server_shutdown(ts->srv);
    pthread_join(ts->thread, NULL);
    ss_server_close(ts->srv);
    ts->srv = NULL;
}

const char *ts_unix_path(char *buf, size_t cap)
{
    static int counter;
    snprintf(buf, cap, "/tmp/ss-test-%ld-%d.sock", (long)getpid(),
             __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST));
    return buf;
}

const char *ts_kind_name(ts_kind_t kind)
{
    static const char *const names[] = {"tcp4", "tcp6", "udp4", "unix",
                                        "unix-dgram"};
    return names[kind];
}

void ts_config(ss_config_t *cfg, ts_kind_t kind, const char *mode,
               const ss_handler_t *handler)
{
    static char paths[16][128];
    static int next;
    ss_config_init(cfg);
    if (strncmp(mode, "event-", 6) == 0) { /* "event-poll": that poller */
        cfg->mode = SS_MODE_EVENT;
        cfg->poller = ss_choice_value(SS_CHOICE_POLLER, mode + 6);
    } else if (strcmp(mode, "prethread-lock") == 0) { /* the design-7 pool */
        cfg->mode = SS_MODE_PRETHREAD;
        cfg->pool_accept = SS_POOL_ACCEPT_LOCK;
    } else {
        cfg->mode = ss_choice_value(SS_CHOICE_MODE, mode);
    }
    cfg->handler = handler;
    cfg->grace_ms = 2000;
    cfg->datagram = kind == TS_UDP4 || kind == TS_UNIX_DGRAM;
    if (kind == TS_TCP4 || kind == TS_UDP4)
        cfg->address = "127.0.0.1:0";
    else if (kind == TS_TCP6)
        cfg->address = "[::1]:0";
    else {
        char path[100];
        ts_unix_path(path, sizeof(path));
        char *slot = paths[next++ % 16];
        snprintf(slot, 128, "unix:%s", path);
        cfg->address = slot;
    }
}

void ts_each_case(const ts_kind_t *kinds, size_t nkinds, ts_case_fn fn,
                  const void *arg)
{
    for (size_t k = 0; k < nkinds; k++)
        for (size_t m = 0; m < TS_NMODES; m++) {
            snprintf(ts_where, sizeof(ts_where), "%s/%s",
                     ts_kind_name(kinds[k]), ts_modes[m]);
            fn(kinds[k], ts_modes[m], arg);
        }
}

int ts_start_case(test_server_t *ts, ts_kind_t kind, const char *mode,
                  const ss_handler_t *handler)
{
    ss_config_t cfg;
    ts_config(&cfg, kind, mode, handler);
    return CHECK(ts_start(ts, &cfg) == 0);
}

/* ---- Clients ----------------------------------------------------------- */

static void set_io_timeouts(int fd)
{
    struct timeval tv = {TS_IO_TIMEOUT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Parse a server address into a sockaddr: numeric loopback only. */
static int to_sockaddr(const char *address, struct sockaddr_storage *ss,
                       socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (strncmp(address, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof(un->sun_path), "%s", address + 5);
        *len = sizeof(*un);
        return 0;
    }
    char host[128];
    const char *colon = strrchr(address, ':');
    if (!colon)
        return -1;
    int port = atoi(colon + 1);
    if (address[0] == '[') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - address - 2),
                 address + 1);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((unsigned short)port);
        *len = sizeof(*in6);
        return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - address), address);
    in->sin_family = AF_INET;
    in->sin_port = htons((unsigned short)port);
    *len = sizeof(*in);
    return inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -1;
}

int ts_connect(const char *address, int datagram)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (to_sockaddr(address, &ss, &len) < 0)
        return -1;
    int fd = socket(ss.ss_family, datagram ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (datagram && ss.ss_family == AF_UNIX) {
        /* Linux autobind: an abstract name the server can reply to.  The
         * whole (zeroed) address, though only its family is passed:
         * valgrind reads sun_path whatever the length says. */
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        bind(fd, (struct sockaddr *)&un, sizeof(sa_family_t));
    }
    set_io_timeouts(fd);
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int ts_send_str(int fd, const char *s)
{
    size_t len = strlen(s);
    return send(fd, s, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int ends_with(const char *buf, size_t n, const char *tail)
{
    size_t t = strlen(tail);
    return n >= t && memcmp(buf + n - t, tail, t) == 0;
}

ssize_t ts_read_until(int fd, char *buf, size_t cap, const char *until,
                      int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    size_t n = 0;
    while (n + 1 < cap) {
        if (until && ends_with(buf, n, until))
            break;
        long long left = deadline - ts_now_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1;
        ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1; /* a reset is not an end of file */
        if (k == 0)
            break;
        n += (size_t)k;
        buf[n] = '\0';
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

ssize_t ts_read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    return ts_read_until(fd, buf, cap, NULL, timeout_ms);
}

int ts_expect_eof(int fd, int timeout_ms)
{
    char c;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return 0;
    ssize_t k = recv(fd, &c, 1, 0);
    return k == 0 || (k < 0 && errno == ECONNRESET);
}

/* The client's own address as the server sees it: "127.0.0.1:PORT",
 * "[::1]:PORT", or "unix:" for an unnamed Unix socket. */
void ts_client_name(int fd, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    snprintf(buf, cap, "?");
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(buf, cap, "%s:%u", host, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(buf, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, cap, "unix:");
    }
}

/* ---- Process state ----------------------------------------------------- */

int ts_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* Walk /proc for processes whose parent is us. */
int ts_count_children(int *zombies)
{
    DIR *d = opendir("/proc");
    int n = 0, z = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t k = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[k] = '\0';
        char *rp = strrchr(buf, ')'); /* the name may hold spaces */
        char state;
        long ppid;
        if (rp && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 &&
            ppid == (long)getpid()) {
            n++;
            z += state == 'Z';
        }
    }
    if (d)
        closedir(d);
    if (zombies)
        *zombies = z;
    return n;
}

int ts_wait_no_children(int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    int n;
    while ((n = ts_count_children(NULL)) > 0 && ts_now_ms() < deadline)
        ts_sleep_ms(10);
    return n;
}

/* ---- Both directions at once ------------------------------------------- */

typedef struct writer {
    int fd;
    const unsigned char *buf;
    size_t len;
    int rc;
} writer_t;

/* Send everything, 64 KiB at a time, then half-close: an echo's cue to
 * finish. */
static void *write_then_eof(void *arg)
{
    writer_t *w = arg;
    for (size_t off = 0; off < w->len && w->rc == 0;) {
        size_t n = w->len - off < 65536 ? w->len - off : 65536;
        ssize_t k = send(w->fd, w->buf + off, n, MSG_NOSIGNAL);
        if (k > 0)
            off += (size_t)k;
        else if (!(k < 0 && errno == EINTR))
            w->rc = -1; /* includes SO_SNDTIMEO running out */
    }
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

void ts_echo_check(int fd, const unsigned char *out, size_t len, int timeout_ms)
{
    unsigned char *in = malloc(len + 2);
    writer_t w = {fd, out, len, 0};
    pthread_t tid;
    if (!CHECK(in != NULL) ||
        !CHECK(pthread_create(&tid, NULL, write_then_eof, &w) == 0)) {
        free(in);
        return;
    }
    ssize_t n = ts_read_all(fd, (char *)in, len + 2, timeout_ms);
    pthread_join(tid, NULL);
    CHECK(w.rc == 0);
    if (!CHECK(n == (ssize_t)len && memcmp(in, out, len) == 0)) {
        size_t i = 0;
        while (n > 0 && i < (size_t)n && i < len && in[i] == out[i])
            i++;
        ts_note("got %zd of %zu bytes back, first difference at %zu", n, len,
                i);
    }
    free(in);
}

/* ---- The CLI ----------------------------------------------------------- */

const char *ts_cli_path(void)
{
    const char *p = getenv("SS_CLI");
    return p && *p ? p : "build/socketserver";
}

/* Read one line from fd within timeout_ms (byte by byte: what follows the
 * line must stay in the pipe). */
static int read_line_fd(int fd, char *buf, size_t cap, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    size_t n = 0;
    while (n + 1 < cap) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long long left = deadline - ts_now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1;
        if (read(fd, buf + n, 1) != 1)
            return -1;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return 0;
}

int ts_cli_read_line(cli_proc_t *p, char *buf, size_t cap, int timeout_ms)
{
    return read_line_fd(p->out, buf, cap, timeout_ms);
}

int ts_cli_start(cli_proc_t *p, const char *const *args, int wait_listening)
{
    return ts_proc_start(p, ts_cli_path(), args, wait_listening);
}

const char *ts_example_path(char *buf, size_t cap, const char *name)
{
    const char *cli = ts_cli_path();
    const char *slash = strrchr(cli, '/');
    int dir = slash ? (int)(slash - cli) : 1;
    snprintf(buf, cap, "%.*s/examples/%s", dir, slash ? cli : ".", name);
    return buf;
}

int ts_fork_start(cli_proc_t *p, void (*child)(void *arg), void *arg,
                  int wait_listening)
{
    int out[2], err[2];
    memset(p, 0, sizeof(*p));
    if (pipe(out) < 0)
        return -1;
    if (pipe(err) < 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    fflush(NULL); /* else the child could repeat what stdio holds */
    pid_t parent = getpid();
    p->pid = fork();
    if (p->pid == 0) {
        /* Should the tests die (the watchdog's SIGALRM), so does the
         * server: nothing is left running (Linux; kept across exec, not
         * across --user's change of user). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        child(arg);
        _exit(127); /* child should not return */
    }
    close(out[1]);
    close(err[1]);
    p->out = out[0];
    p->err = err[0];
    if (p->pid < 0 || !wait_listening)
        return p->pid < 0 ? -1 : 0;
    char line[300];
    if (read_line_fd(p->out, line, sizeof(line), 5000) < 0 ||
        strncmp(line, "listening on ", 13) != 0) {
        kill(p->pid, SIGKILL);
        ts_cli_wait(p, 1000);
        return -1;
    }
    snprintf(p->address, sizeof(p->address), "%.200s", line + 13);
    return 0;
}

/* ts_fork_start's child for ts_proc_start: argv[0] is the program. */
static void exec_program(void *arg)
{
    const char *const *argv = arg;
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    execv(argv[0], (char *const *)argv);
}

int ts_proc_start(cli_proc_t *p, const char *path, const char *const *args,
                  int wait_listening)
{
    const char *argv[64] = {path};
    for (int i = 0; args[i] && i < 62; i++)
        argv[i + 1] = args[i];
    return ts_fork_start(p, exec_program, argv, wait_listening);
}

static void collect(int fd, char *text, size_t *len, size_t cap)
{
    char junk[512];
    ssize_t k;
    if (*len + 1 < cap)
        k = read(fd, text + *len, cap - 1 - *len);
    else
        k = read(fd, junk, sizeof(junk));
    if (k > 0 && *len + 1 < cap) {
        *len += (size_t)k;
        text[*len] = '\0';
    }
}

int ts_cli_wait(cli_proc_t *p, int timeout_ms)
{
    long long deadline = ts_now_ms() + timeout_ms;
    int status = -1, exited = 0;
    while (!exited) {
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            exited = 1;
            break;
        }
        long long left = deadline - ts_now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd[2] = {{p->out, POLLIN, 0}, {p->err, POLLIN, 0}};
        if (poll(pfd, 2, left < 20 ? (int)left : 20) > 0) {
            if (pfd[0].revents)
                collect(p->out, p->outtext, &p->outlen, sizeof(p->outtext));
            if (pfd[1].revents)
                collect(p->err, p->errtext, &p->errlen, sizeof(p->errtext));
        }
    }
    if (!exited) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    /* What is still in the pipes once it has exited. */
    fcntl(p->out, F_SETFL, O_NONBLOCK);
    fcntl(p->err, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 64; i++) {
        collect(p->out, p->outtext, &p->outlen, sizeof(p->outtext));
        collect(p->err, p->errtext, &p->errlen, sizeof(p->errtext));
    }
    close(p->out);
    close(p->err);
    if (!exited)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int ts_hold_handle(ss_request_t *req)
{
    char line[64];
    int rc = ss_send_all(req, "hi\n", 3);
    ssize_t n = rc < 0 ? rc : ss_read_line(req, line, sizeof(line));
    return n <= 0 ? (int)n : ss_send_all(req, "ok\n", 3);
}

const ss_handler_t ts_hold = {.name = "hold", .handle = ts_hold_handle};
