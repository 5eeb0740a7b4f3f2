/* loadgen -- the load generator of `make bench`: one process, one epoll
 * loop, many connections to one server on loopback.
 *
 *   loadgen conn ADDRESS [-c N] [-d SEC] [-n COUNT] [-e BYTES] [-p PID]
 *       connection per request: connect, read to end of file, close, and
 *       again, on N slots at once; -n stops after COUNT connections (the
 *       run then reports the time the last one took to finish); -e checks
 *       that each connection got exactly BYTES; -l LINES ends it (we
 *       close) once that many lines came: a greeting, for a server that
 *       then waits for a request.
 *   loadgen rr ADDRESS [-c N] [-d SEC] [-s BYTES | -P] [-p PID]
 *       request/response on N persistent connections: send BYTES, read
 *       the same BYTES back (an echo), or with -P a RESP PING and +PONG.
 *       Any other protocol: -q REQUEST (C escapes: \n \r \t \\ \xHH) and
 *       the reply's shape: -r REPLY (exactly these bytes), -l LINES (this
 *       many lines, any text) or -b BYTES (this many, any bytes); -g
 *       first reads the server's greeting line on each connection.  -S:
 *       REQUEST is a script of lines, sent one at a time, each waiting
 *       for its one reply line; the operation is the whole script.
 *   loadgen hold ADDRESS -c N [-d SEC] [-g] [-p PID]
 *       open N connections and keep them; with -g each counts as set up
 *       only once the server's first line came.  With -p, the memory
 *       (proportional set size) the server's process tree gained.
 *   loadgen freeport
 *       a port free on 127.0.0.1 right now (for servers that need one).
 *   loadgen pss PID
 *       the proportional set size of PID and its descendants, in KiB.
 *   loadgen cpu PID
 *       the CPU time of PID's tree so far (as -p counts it), in us: read
 *       before and after a run that is not loadgen's own (wrk's).
 *
 * -d bounds every run in time (default 3 s; hold: how long to keep the
 * connections after they are set up), -t bounds each operation (default
 * 5 s: a slower one is an error).  With -p PID, conn and rr also report
 * the server's CPU time (user + system of PID and every descendant, the
 * reaped ones included) per completed operation.
 *
 * The result is one line of key=value pairs on standard output: counts,
 * errors by kind, the rate, latency percentiles from a histogram, and
 * the server's CPU time or memory.  Only loopback addresses are accepted.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 60000
#define HOLD_CONNECTS_IN_FLIGHT 256 /* a burst beyond this fills backlogs */
#define HOLD_NO_PROGRESS_NS (2 * NS_PER_S)
#define NS_PER_S 1000000000ULL
#define READ_CHUNK 65536

static const char ping_request[] = "*1\r\n$4\r\nPING\r\n";
static const char ping_reply[] = "+PONG\r\n";

/* ---- Options ------------------------------------------------------------ */

typedef enum { MODE_CONN, MODE_RR, MODE_HOLD } load_mode_t;

typedef struct options {
    load_mode_t mode;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int conns;         /* -c */
    double secs;       /* -d */
    long count;        /* -n: conn mode, connections in all (0: no cap) */
    long expect;       /* -e: conn mode, bytes per connection (-1: any) */
    size_t msg_len;    /* -s: rr mode */
    int ping;          /* -P: rr mode speaks RESP */
    int greet;         /* -g: hold mode waits for a first line */
    long pid;          /* -p: the server */
    double op_timeout; /* -t */
    const char *request, *reply;   /* -q, -r: rr's bytes, escaped */
    long reply_lines, reply_bytes; /* -l, -b: the reply's shape */
    int script;                    /* -S: -q is lines, one reply each */
} options_t;

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen conn ADDR [-c N] [-d SEC] [-n COUNT] [-e BYTES]"
            " [-l LINES] [-t SEC] [-p PID]\n"
            "       loadgen rr ADDR [-c N] [-d SEC] [-s BYTES | -P |"
            " -q REQ (-r REPLY | -l LINES | -b BYTES | -S)] [-g] [-t SEC]"
            " [-p PID]\n"
            "       loadgen hold ADDR -c N [-d SEC] [-g] [-p PID]\n"
            "       loadgen freeport\n"
            "       loadgen pss PID | cpu PID\n"
            "ADDR is 127.x.x.x:PORT or [::1]:PORT\n");
    exit(2);
}

/* Only loopback: a load generator must never aim at another machine. */
static int parse_address(const char *text, options_t *o)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || colon - text >= (long)sizeof(host))
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    int port = atoi(colon + 1);
    if (port <= 0 || port > 65535)
        return -1;
    memset(&o->addr, 0, sizeof(o->addr));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&o->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&o->addr;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        o->addr_len = sizeof(*in4);
        return (ntohl(in4->sin_addr.s_addr) >> 24) == 127 ? 0 : -1;
    }
    size_t n = strlen(host);
    if (n < 3 || host[0] != '[' || host[n - 1] != ']')
        return -1;
    host[n - 1] = '\0';
    if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
        return -1;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    o->addr_len = sizeof(*in6);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ? 0 : -1;
}

static void parse_options(int argc, char **argv, options_t *o)
{
    int c;
    *o = (options_t){
        .conns = 32, .secs = 3, .expect = -1, .msg_len = 64, .op_timeout = 5};
    if (argc < 3)
        usage();
    if (strcmp(argv[1], "conn") == 0)
        o->mode = MODE_CONN;
    else if (strcmp(argv[1], "rr") == 0)
        o->mode = MODE_RR;
    else if (strcmp(argv[1], "hold") == 0)
        o->mode = MODE_HOLD;
    else
        usage();
    if (parse_address(argv[2], o) < 0) {
        fprintf(stderr, "loadgen: %s: not a loopback HOST:PORT\n", argv[2]);
        exit(2);
    }
    optind = 3;
    while ((c = getopt(argc, argv, "c:d:n:e:s:Pgp:t:q:r:l:b:S")) != -1) {
        switch (c) {
        case 'c':
            o->conns = atoi(optarg);
            break;
        case 'd':
            o->secs = atof(optarg);
            break;
        case 'n':
            o->count = atol(optarg);
            break;
        case 'e':
            o->expect = atol(optarg);
            break;
        case 's':
            o->msg_len = (size_t)atol(optarg);
            break;
        case 'P':
            o->ping = 1;
            break;
        case 'g':
            o->greet = 1;
            break;
        case 'p':
            o->pid = atol(optarg);
            break;
        case 't':
            o->op_timeout = atof(optarg);
            break;
        case 'q':
            o->request = optarg;
            break;
        case 'r':
            o->reply = optarg;
            break;
        case 'l':
            o->reply_lines = atol(optarg);
            break;
        case 'b':
            o->reply_bytes = atol(optarg);
            break;
        case 'S':
            o->script = 1;
            o->reply_lines = 1; /* per line of the script */
            break;
        default:
            usage();
        }
    }
    if (o->conns < 1 || o->conns > MAX_CONNS || o->secs < 0 ||
        o->op_timeout <= 0 || o->msg_len < 1 || o->msg_len > READ_CHUNK ||
        o->reply_lines < 0 || o->reply_bytes < 0 ||
        (o->mode == MODE_RR && o->request &&
         !!o->reply + !!o->reply_lines + !!o->reply_bytes != 1))
        usage();
}

/* ---- Time and the latency histogram ------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Log-linear buckets, as HdrHistogram: 64 per power of two, so a value is
 * known within 1.6% whatever its size, in a few KiB of counters. */
#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define HIST_BUCKETS (SUB * 40)
static uint64_t hist[HIST_BUCKETS];
static uint64_t hist_total;

static unsigned bucket_of(uint64_t ns)
{
    unsigned e = 0;
    while ((ns >> e) >= 2 * SUB)
        e++;
    unsigned b = SUB * e + (unsigned)(ns >> e);
    return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/* The middle of the values that land in bucket b. */
static double bucket_value(unsigned b)
{
    unsigned e = b < 2 * SUB ? 0 : b / SUB - 1;
    uint64_t low = (uint64_t)(b - SUB * e) << e;
    return (double)low + ((1ull << e) - 1) / 2.0;
}

static void hist_record(uint64_t ns)
{
    hist[bucket_of(ns)]++;
    hist_total++;
}

static double hist_percentile_us(double q)
{
    uint64_t rank = (uint64_t)(q * (double)hist_total + 0.999999), seen = 0;
    if (hist_total == 0)
        return 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        seen += hist[b];
        if (seen >= rank && hist[b])
            return bucket_value(b) / 1000.0;
    }
    return bucket_value(HIST_BUCKETS - 1) / 1000.0;
}

/* ---- The server's process tree, from /proc ------------------------------ */

typedef struct proc_info {
    long pid, ppid;
    unsigned long long ticks; /* utime + stime + cutime + cstime */
    int in_tree;
} proc_info_t;

/* One process from /proc/PID/stat; the command name may hold spaces and
 * parentheses, so the fields are read after its last ')'. */
static int read_proc(long pid, proc_info_t *p)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    unsigned long ut, st;
    long cut, cst;
    if (!rp || sscanf(rp + 1,
                      " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u"
                      " %lu %lu %ld %ld",
                      &p->ppid, &ut, &st, &cut, &cst) != 5)
        return -1;
    p->pid = pid;
    p->ticks = (unsigned long long)ut + st + (unsigned long long)cut + cst;
    p->in_tree = 0;
    return 0;
}

/* Every process on the machine; *n set to how many.  Caller frees. */
static proc_info_t *read_all_procs(size_t *n)
{
    size_t cap = 1024;
    proc_info_t *all = malloc(cap * sizeof(*all));
    DIR *d = opendir("/proc");
    struct dirent *e;
    *n = 0;
    while (all && d && (e = readdir(d))) {
        long pid = atol(e->d_name);
        if (pid <= 0)
            continue;
        if (*n == cap) {
            proc_info_t *bigger = realloc(all, 2 * cap * sizeof(*all));
            if (!bigger)
                break;
            all = bigger;
            cap *= 2;
        }
        if (read_proc(pid, &all[*n]) == 0)
            (*n)++;
    }
    if (d)
        closedir(d);
    return all;
}

/* Mark root and its descendants, at any depth (a master's workers' own
 * children too); returns how many there are. */
static size_t mark_tree(proc_info_t *all, size_t n, long root)
{
    size_t marked = 0;
    int grew = 1;
    for (size_t i = 0; i < n; i++)
        if ((all[i].in_tree = all[i].pid == root))
            marked++;
    while (grew) {
        grew = 0;
        for (size_t i = 0; i < n; i++) {
            if (all[i].in_tree)
                continue;
            for (size_t j = 0; j < n; j++) {
                if (all[j].in_tree && all[j].pid == all[i].ppid) {
                    all[i].in_tree = grew = 1;
                    marked++;
                    break;
                }
            }
        }
    }
    return marked;
}

/* CPU time of the server: every live process of its tree, plus what the
 * children it has reaped used (cutime, cstime).  In microseconds. */
static double tree_cpu_us(long root)
{
    size_t n;
    proc_info_t *all = read_all_procs(&n);
    unsigned long long ticks = 0;
    if (all) {
        mark_tree(all, n, root);
        for (size_t i = 0; i < n; i++)
            if (all[i].in_tree)
                ticks += all[i].ticks;
    }
    free(all);
    return (double)ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* Proportional set size of one process in KiB: its private pages and its
 * share of shared ones (plain RSS would count a forked child's pages
 * shared with its parent once per child). */
static long pss_kib(long pid)
{
    char path[64], line[256];
    long kib = 0;
    snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "Pss: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static long tree_pss_kib(long root, size_t *procs)
{
    size_t n;
    long kib = 0;
    proc_info_t *all = read_all_procs(&n);
    *procs = 0;
    if (all) {
        *procs = mark_tree(all, n, root);
        for (size_t i = 0; i < n; i++)
            if (all[i].in_tree)
                kib += pss_kib(all[i].pid);
    }
    free(all);
    return kib;
}

/* ---- Connections -------------------------------------------------------- */

typedef enum {
    ST_FREE,
    ST_CONNECTING,
    ST_SENDING,
    ST_READING,
    ST_IDLE
} state_t;

typedef struct conn {
    int fd;
    state_t state;
    uint32_t events;   /* what epoll watches for on fd */
    uint64_t op_start; /* when the current operation began */
    size_t sent, got;  /* bytes of the current operation */
    size_t step_end;   /* rr: where the request's current step ends */
    long lines;        /* lines of it, when the reply is counted in lines */
    int greeted;       /* rr -g: the greeting came */
    unsigned long ops; /* operations it completed */
} conn_t;

typedef struct run {
    options_t *o;
    int ep;
    conn_t *conns;
    char *msg; /* rr: what each request sends */
    size_t msg_len, reply_len;
    const char *reply; /* rr: what each reply must be */
    uint64_t start, end, op_timeout;
    long started, done, errors, in_flight;
    long err_connect, err_reset, err_short, err_long, err_timeout, err_bad;
    uint64_t last_done;     /* when the last operation completed */
    uint64_t last_progress; /* hold: when a connection last got set up */
} run_t;

static char rbuf[READ_CHUNK];

static void conn_close(run_t *r, conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    if (c->state != ST_FREE && c->state != ST_IDLE)
        r->in_flight--;
    c->fd = -1;
    c->state = ST_FREE;
}

/* Watch c's descriptor for events (a change only when they differ). */
static void conn_watch(run_t *r, conn_t *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (op == EPOLL_CTL_MOD && c->events == events)
        return;
    if (epoll_ctl(r->ep, op, c->fd, &ev) < 0) {
        perror("loadgen: epoll_ctl");
        exit(1);
    }
    c->events = events;
}

/* Start a nonblocking connect on slot c; EPOLLOUT says it finished. */
static int conn_open(run_t *r, conn_t *c)
{
    int one = 1;
    c->fd = socket(r->o->addr.ss_family, SOCK_STREAM, 0);
    if (c->fd < 0) {
        r->err_connect++;
        r->errors++;
        return -1;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->op_start = now_ns();
    c->sent = c->got = 0;
    c->lines = 0;
    c->greeted = !(r->o->mode == MODE_RR && r->o->greet);
    c->state = ST_CONNECTING;
    r->in_flight++;
    r->started++;
    if (connect(c->fd, (struct sockaddr *)&r->o->addr, r->o->addr_len) < 0 &&
        errno != EINPROGRESS) {
        r->err_connect++;
        r->errors++;
        conn_close(r, c);
        return -1;
    }
    conn_watch(r, c, EPOLLOUT, EPOLL_CTL_ADD);
    return 0;
}

/* An operation that failed: count it by kind, close its connection. */
static void conn_fail(run_t *r, conn_t *c, long *kind)
{
    (*kind)++;
    r->errors++;
    conn_close(r, c);
}

/* A finished operation: its latency into the histogram. */
static void op_done(run_t *r, conn_t *c)
{
    uint64_t t = now_ns();
    hist_record(t - c->op_start);
    c->ops++;
    r->done++;
    r->last_done = t;
}

/* rr: send the request's step (what of it has not gone yet): the whole
 * request, or the script's next line. */
static void rr_send(run_t *r, conn_t *c)
{
    while (c->sent < c->step_end) {
        ssize_t n =
            send(c->fd, r->msg + c->sent, c->step_end - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            conn_watch(r, c, EPOLLOUT, EPOLL_CTL_MOD);
            c->state = ST_SENDING;
            return;
        }
        if (n < 0) {
            conn_fail(r, c, &r->err_reset);
            return;
        }
        c->sent += (size_t)n;
    }
    conn_watch(r, c, EPOLLIN, EPOLL_CTL_MOD);
    c->state = ST_READING;
}

/* Where the step starting at c->sent ends: the whole request, or with
 * -S the end of its next line. */
static size_t step_end(const run_t *r, const conn_t *c)
{
    const char *nl = r->o->script
                         ? memchr(r->msg + c->sent, '\n', r->msg_len - c->sent)
                         : NULL;
    return nl ? (size_t)(nl - r->msg) + 1 : r->msg_len;
}

static void rr_begin(run_t *r, conn_t *c)
{
    c->op_start = now_ns();
    c->sent = c->got = 0;
    c->lines = 0;
    c->step_end = step_end(r, c);
    rr_send(r, c);
}

/* How much of data (n bytes) the greeting takes: through its first
 * newline (marking c greeted), or all of it. */
static size_t take_greeting(conn_t *c, const char *data, size_t n)
{
    const char *nl = memchr(data, '\n', n);
    if (!nl)
        return n;
    c->greeted = 1;
    return (size_t)(nl - data) + 1;
}

/* n more reply bytes: 1 when the reply is whole, 0 when more is due,
 * or -1 with *kind set (too long, or not the bytes expected). */
static int rr_take(run_t *r, conn_t *c, const char *data, size_t n, long **kind)
{
    options_t *o = r->o;
    if (o->reply_lines > 0) {
        for (size_t i = 0; i < n; i++)
            if (data[i] == '\n' && ++c->lines == o->reply_lines) {
                *kind = &r->err_long;
                return i + 1 == n ? 1 : -1; /* nothing may follow it */
            }
        return 0;
    }
    size_t want = o->reply_bytes > 0 ? (size_t)o->reply_bytes : r->reply_len;
    if (c->got + n > want) {
        *kind = &r->err_long;
        return -1;
    }
    if (o->reply_bytes == 0 && memcmp(data, r->reply + c->got, n) != 0) {
        *kind = &r->err_bad;
        return -1;
    }
    c->got += n;
    return c->got == want;
}

/* rr: reply bytes came; a whole reply of the shape wanted ends the
 * operation (and, with -g, the greeting comes first). */
static void rr_read(run_t *r, conn_t *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, rbuf, sizeof(rbuf), 0);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            conn_fail(r, c, n == 0 ? &r->err_short : &r->err_reset);
            return;
        }
        size_t skip = c->greeted ? 0 : take_greeting(c, rbuf, (size_t)n);
        long *kind = NULL;
        int done = skip == (size_t)n ? 0
                   : skip > 0        ? (kind = &r->err_long, -1)
                                     : rr_take(r, c, rbuf, (size_t)n, &kind);
        if (done < 0) {
            conn_fail(r, c, kind);
            return;
        }
        if (skip > 0 && c->greeted) { /* the greeting: now the request */
            rr_begin(r, c);
            return;
        }
        if (done && c->sent < r->msg_len) { /* the script's next line */
            c->lines = 0;
            c->step_end = step_end(r, c);
            rr_send(r, c);
            return;
        }
        if (done) {
            op_done(r, c);
            if (now_ns() >= r->end) {
                conn_close(r, c);
                c->state = ST_IDLE;
            } else {
                rr_begin(r, c);
            }
            return;
        }
    }
}

/* conn: read to end of file; the whole answer ends the operation. */
static void conn_read(run_t *r, conn_t *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, rbuf, sizeof(rbuf), 0);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            conn_fail(r, c, &r->err_reset);
            return;
        }
        for (ssize_t i = 0; r->o->reply_lines > 0 && i < n; i++)
            if (rbuf[i] == '\n' && ++c->lines == r->o->reply_lines) {
                op_done(r, c); /* the lines wanted: we hang up */
                conn_close(r, c);
                return;
            }
        if (n == 0) {
            long expect = r->o->expect;
            if (expect >= 0 && (long)c->got != expect) {
                conn_fail(r, c,
                          (long)c->got < expect ? &r->err_short : &r->err_long);
                return;
            }
            op_done(r, c);
            conn_close(r, c);
            return;
        }
        c->got += (size_t)n;
    }
}

/* hold: the first line (or, without -g, the connect) sets a connection up;
 * after that, anything but silence means the server dropped it. */
static void hold_read(run_t *r, conn_t *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, rbuf, sizeof(rbuf), 0);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            if (c->state == ST_IDLE) /* set up, then dropped */
                r->done--;
            conn_fail(r, c, n == 0 ? &r->err_short : &r->err_reset);
            return;
        }
        if (c->state == ST_READING && memchr(rbuf, '\n', (size_t)n)) {
            op_done(r, c);
            r->in_flight--;
            c->state = ST_IDLE;
            r->last_progress = now_ns();
        }
    }
}

/* The connect of c finished (or failed): on to the mode's first step. */
static void conn_connected(run_t *r, conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        conn_fail(r, c, &r->err_connect);
        return;
    }
    if (r->o->mode == MODE_RR && c->greeted) {
        rr_begin(r, c);
        return;
    }
    conn_watch(r, c, EPOLLIN, EPOLL_CTL_MOD);
    c->state = ST_READING;
    if (r->o->mode == MODE_HOLD && !r->o->greet) {
        op_done(r, c);
        r->in_flight--;
        c->state = ST_IDLE;
        r->last_progress = now_ns();
    }
}

static void conn_event(run_t *r, conn_t *c)
{
    if (c->state == ST_CONNECTING)
        conn_connected(r, c);
    else if (c->state == ST_SENDING)
        rr_send(r, c);
    else if (r->o->mode == MODE_RR)
        rr_read(r, c); /* the greeting, or a reply */
    else if (r->o->mode == MODE_CONN)
        conn_read(r, c);
    else
        hold_read(r, c);
}

/* Operations running longer than -t are errors (their connection goes). */
static void expire_slow_ops(run_t *r, uint64_t now)
{
    for (int i = 0; i < r->o->conns; i++) {
        conn_t *c = &r->conns[i];
        if (c->state != ST_FREE && c->state != ST_IDLE &&
            now - c->op_start > r->op_timeout)
            conn_fail(r, c, &r->err_timeout);
    }
}

/* One turn of the loop: wait at most 10 ms, serve what is ready. */
static void poll_once(run_t *r)
{
    struct epoll_event evs[256];
    int n = epoll_wait(r->ep, evs, 256, 10);
    for (int i = 0; i < n; i++)
        conn_event(r, evs[i].data.ptr);
}

/* ---- The three modes ---------------------------------------------------- */

/* conn: keep every slot busy with a fresh connection until the time (or
 * the -n count) is up, then let the ones in flight finish. */
static void run_conn(run_t *r)
{
    long cap = r->o->count > 0 ? r->o->count : -1;
    uint64_t now = now_ns(), last_expire = now;
    while (now < r->end && (cap < 0 || r->done + r->errors < cap)) {
        for (int i = 0; i < r->o->conns; i++)
            if (r->conns[i].state == ST_FREE && (cap < 0 || r->started < cap))
                conn_open(r, &r->conns[i]);
        poll_once(r);
        now = now_ns();
        if (now - last_expire > NS_PER_S / 10) {
            expire_slow_ops(r, now);
            last_expire = now;
        }
    }
}

/* rr: each connection asks again as soon as its reply came, until the
 * time is up; a connection that never got a reply is "stalled". */
static void run_rr(run_t *r)
{
    uint64_t now = now_ns(), last_expire = now;
    for (int i = 0; i < r->o->conns; i++)
        conn_open(r, &r->conns[i]);
    while (now < r->end && r->in_flight > 0) {
        poll_once(r);
        now = now_ns();
        if (now - last_expire > NS_PER_S / 10) {
            expire_slow_ops(r, now);
            last_expire = now;
        }
    }
}

/* hold: open the connections a few hundred at a time; give up when none
 * got set up for HOLD_NO_PROGRESS_NS (a server serving one at a time). */
static void run_hold(run_t *r)
{
    int next = 0;
    r->last_progress = now_ns();
    while (r->done < r->o->conns &&
           now_ns() - r->last_progress < HOLD_NO_PROGRESS_NS) {
        while (next < r->o->conns && r->in_flight < HOLD_CONNECTS_IN_FLIGHT) {
            if (conn_open(r, &r->conns[next++]) == 0)
                r->last_progress = now_ns();
        }
        poll_once(r);
        if (next == r->o->conns && r->in_flight == 0)
            break;
    }
}

/* The end of a timed run: operations still in flight are let go. */
static void close_all(run_t *r)
{
    for (int i = 0; i < r->o->conns; i++)
        if (r->conns[i].state != ST_FREE && r->conns[i].fd >= 0)
            conn_close(r, &r->conns[i]);
}

static void keep_holding(run_t *r, double secs)
{
    uint64_t until = now_ns() + (uint64_t)(secs * NS_PER_S);
    while (now_ns() < until)
        poll_once(r);
}

/* ---- Results ------------------------------------------------------------ */

static void print_errors(const run_t *r)
{
    printf(" errors=%ld err_connect=%ld err_reset=%ld err_short=%ld"
           " err_long=%ld err_bad=%ld err_timeout=%ld",
           r->errors, r->err_connect, r->err_reset, r->err_short, r->err_long,
           r->err_bad, r->err_timeout);
}

static void print_latency(void)
{
    printf(" p50_us=%.1f p99_us=%.1f p999_us=%.1f", hist_percentile_us(0.50),
           hist_percentile_us(0.99), hist_percentile_us(0.999));
}

static long count_stalled(const run_t *r)
{
    long stalled = 0;
    for (int i = 0; i < r->o->conns; i++)
        stalled += r->conns[i].ops == 0;
    return stalled;
}

static void report_traffic(run_t *r, uint64_t t0, double cpu0)
{
    uint64_t stop = now_ns();
    double secs = (double)(stop - t0) / 1e9;
    /* With -n the run is the time the last connection took to finish. */
    if (r->o->count > 0 && r->last_done)
        secs = (double)(r->last_done - t0) / 1e9;
    printf("mode=%s ok=%ld secs=%.3f rate=%.1f",
           r->o->mode == MODE_RR ? "rr" : "conn", r->done, secs,
           secs > 0 ? (double)r->done / secs : 0);
    print_errors(r);
    if (r->o->mode == MODE_RR)
        printf(" stalled=%ld", count_stalled(r));
    if (r->o->count > 0)
        printf(" unfinished=%ld", r->o->count - r->done - r->errors);
    print_latency();
    if (r->o->pid > 0) {
        /* Let the server finish and reap what it has in flight. */
        struct timespec settle = {0, 300 * 1000000L};
        nanosleep(&settle, NULL);
        double cpu = tree_cpu_us(r->o->pid) - cpu0;
        printf(" cpu_us=%.0f cpu_us_per_op=%.2f", cpu,
               r->done ? cpu / (double)r->done : 0);
    }
    printf("\n");
}

static void report_hold(run_t *r, long before_kib)
{
    printf("mode=hold want=%d held=%ld", r->o->conns, r->done);
    print_errors(r);
    printf(" unfinished=%ld", r->o->conns - r->done - r->errors);
    print_latency();
    if (r->o->pid > 0) {
        struct timespec settle = {0, 500 * 1000000L};
        nanosleep(&settle, NULL);
        size_t procs;
        long after_kib = tree_pss_kib(r->o->pid, &procs);
        printf(" procs=%zu pss_before_kib=%ld pss_after_kib=%ld"
               " bytes_per_conn=%.0f",
               procs, before_kib, after_kib,
               r->done
                   ? (double)(after_kib - before_kib) * 1024.0 / (double)r->done
                   : 0);
    }
    printf("\n");
}

/* ---- Main --------------------------------------------------------------- */

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("loadgen: freeport");
        return 1;
    }
    printf("%d\n", ntohs(sa.sin_port));
    close(fd);
    return 0;
}

/* text with its C escapes (\n \r \t \\ \xHH) turned into bytes, in a
 * new allocation; *len its length. */
static char *unescape(const char *text, size_t *len)
{
    char *out = malloc(strlen(text) + 1), *w = out;
    if (!out)
        exit(1);
    for (const char *p = text; *p; p++) {
        if (*p != '\\' || !p[1]) {
            *w++ = *p;
            continue;
        }
        p++;
        if (*p == 'x' && p[1] && p[2]) {
            char hex[3] = {p[1], p[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *w++ = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p;
        }
    }
    *len = (size_t)(w - out);
    return out;
}

/* The request (and expected reply) of rr mode: a RESP PING, the bytes
 * given (-q, and -r), or msg_len printable bytes for an echo. */
static void make_messages(run_t *r)
{
    options_t *o = r->o;
    if (o->ping) {
        r->msg = (char *)ping_request;
        r->msg_len = sizeof(ping_request) - 1;
        r->reply = ping_reply;
        r->reply_len = sizeof(ping_reply) - 1;
        return;
    }
    if (o->request) {
        r->msg = unescape(o->request, &r->msg_len);
        r->reply = o->reply ? unescape(o->reply, &r->reply_len) : NULL;
        return;
    }
    r->msg = malloc(o->msg_len);
    if (!r->msg)
        exit(1);
    for (size_t i = 0; i < o->msg_len; i++)
        r->msg[i] = (char)('a' + i % 26);
    r->msg_len = r->reply_len = o->msg_len;
    r->reply = r->msg;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    options_t o;
    run_t r = {0};
    if (argc == 2 && strcmp(argv[1], "freeport") == 0)
        return free_port();
    if (argc == 3 && strcmp(argv[1], "cpu") == 0) {
        printf("%.0f\n", tree_cpu_us(atol(argv[2])));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "pss") == 0) {
        size_t procs;
        printf("%ld\n", tree_pss_kib(atol(argv[2]), &procs));
        return 0;
    }
    parse_options(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    r.o = &o;
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    r.conns = calloc((size_t)o.conns, sizeof(conn_t));
    if (r.ep < 0 || !r.conns) {
        perror("loadgen");
        return 1;
    }
    for (int i = 0; i < o.conns; i++)
        r.conns[i].fd = -1;
    r.op_timeout = (uint64_t)(o.op_timeout * NS_PER_S);
    if (o.mode == MODE_RR)
        make_messages(&r);

    if (o.mode == MODE_HOLD) {
        size_t procs;
        long before = o.pid > 0 ? tree_pss_kib(o.pid, &procs) : 0;
        run_hold(&r);
        report_hold(&r, before);
        fflush(stdout);
        keep_holding(&r, o.secs);
    } else {
        double cpu0 = o.pid > 0 ? tree_cpu_us(o.pid) : 0;
        r.start = now_ns();
        r.end = r.start + (uint64_t)(o.secs * NS_PER_S);
        if (o.mode == MODE_CONN)
            run_conn(&r);
        else
            run_rr(&r);
        close_all(&r);
        report_traffic(&r, r.start, cpu0);
    }
    close_all(&r);
    close(r.ep);
    free(r.conns);
    if (!o.ping)
        free(r.msg);
    if (o.request && o.reply)
        free((char *)r.reply);
    return 0;
}
