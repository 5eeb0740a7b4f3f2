/* test_http.c -- the http handler and its request parser.  The parser is
 * called directly (fields, exact limits, malformed, random and mutated
 * bytes under ASan); the handler runs over real sockets in sync, fork and
 * thread mode against a tree made under /tmp for each test: status codes,
 * exact heads, keep-alive and pipelining, HEAD, HTTP/1.0, listings, and
 * every way out of the root we could think of.  tests/http_corpus/ holds
 * malformed heads, each named after the answer it must get. */
#include "../handlers/http.h"
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define T TS_IO_TIMEOUT_MS
#define QUIET_MS 150                /* "nothing more" means none in this */
#define BIG_SIZE (300 * 1024 + 123) /* many 16 KiB chunks, and a tail */
#define CONN_CAP (BIG_SIZE + 65536) /* a client's receive buffer */
#define HEAD_CAP 16384              /* a response head, Location included */
#define SECRET "TOP-SECRET-4711"    /* in files outside the root */
#define PASSWD "root:x:0:0"         /* /etc/passwd's first line */
#define CORPUS_DIR "tests/http_corpus"

/* ---- Checks that say which case failed --------------------------------- */

/* xorshift32: the same "random" bytes on every run. */
static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* ====================================================================== *
 * The parser, called directly                                            *
 * ====================================================================== */

/* Parse a copy of the bytes in a buffer of exactly that size, so ASan
 * sees any read past the end. */
static int parse_exact(const char *bytes, size_t len, http_request_t *r)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, bytes, len);
    int rc = http_parse_request(copy, len, r);
    /* The views must point into the copy: rebase them onto bytes. */
    const char **views[] = {&r->method.ptr, &r->target.ptr, &r->host.ptr};
    for (size_t i = 0; i < COUNT(views); i++)
        if (*views[i])
            *views[i] = bytes + (*views[i] - copy);
    free(copy);
    return rc;
}

static int parse_str(const char *s, http_request_t *r)
{
    return parse_exact(s, strlen(s), r);
}

static int view_is(http_str_t v, const char *want)
{
    return v.ptr && v.len == strlen(want) && memcmp(v.ptr, want, v.len) == 0;
}

static void test_parser_fields(void)
{
    snprintf(ts_where, sizeof(ts_where), "parser");
    http_request_t r;
    const char *get = "GET /x%20y?q=1 HTTP/1.1\r\nHost: example.com \r\n"
                      "Connection: Keep-Alive\r\nAccept: */*\r\n\r\n";
    CHECK(parse_str(get, &r) == HTTP_PARSE_COMPLETE);
    CHECK(view_is(r.method, "GET") && view_is(r.target, "/x%20y?q=1"));
    CHECK(r.version_minor == 1 && view_is(r.host, "example.com"));
    CHECK(r.connection_keep_alive && !r.connection_close);
    CHECK(r.content_length == -1 && !r.transfer_encoding);
    CHECK(r.header_count == 3 && r.head_length == strlen(get));

    CHECK(parse_str("HEAD / HTTP/1.0\r\n\r\n", &r) == HTTP_PARSE_COMPLETE);
    CHECK(r.version_minor == 0 && !r.host.ptr && r.header_count == 0);

    CHECK(parse_str("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE ,"
                    "bar\r\nconnection: keep-alive\r\n\r\n",
                    &r) == HTTP_PARSE_COMPLETE);
    CHECK(r.connection_close && r.connection_keep_alive);

    CHECK(parse_str("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  42 \r\n"
                    "content-length: 42\r\n\r\nbody",
                    &r) == HTTP_PARSE_COMPLETE);
    CHECK(r.content_length == 42 && view_is(r.method, "POST"));

    /* Field values may hold obs-text and be empty (not Host: an empty one
     * is refused, as nginx does; see test_parser_malformed). */
    CHECK(parse_str("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\nY:\r\n\r\n",
                    &r) == HTTP_PARSE_COMPLETE);
    CHECK(r.host.ptr && r.host.len == 1 && r.header_count == 3);
}

/* Bare LF ends lines as CRLF does (RFC 9112 2.2 allows it; so does
 * Python's http.server); pipelined requests end where the first head
 * does. */
static void test_parser_line_ends(void)
{
    snprintf(ts_where, sizeof(ts_where), "parser");
    http_request_t r;
    const char *lf = "GET /a HTTP/1.1\nHost: a\n\n";
    CHECK(parse_str(lf, &r) == HTTP_PARSE_COMPLETE);
    CHECK(r.head_length == strlen(lf) && view_is(r.host, "a"));
    const char *mixed = "GET /a HTTP/1.1\r\nHost: a\nX: 1\r\n\n";
    CHECK(parse_str(mixed, &r) == HTTP_PARSE_COMPLETE);
    CHECK(r.head_length == strlen(mixed) && r.header_count == 2);

    const char *first = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
    char two[128];
    snprintf(two, sizeof(two), "%sGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", first);
    CHECK(parse_str(two, &r) == HTTP_PARSE_COMPLETE);
    CHECK(r.head_length == strlen(first) && view_is(r.target, "/1"));
    CHECK(parse_str(two + r.head_length, &r) == HTTP_PARSE_COMPLETE);
    CHECK(view_is(r.target, "/2"));
}

/* Every proper prefix of a valid head is "read more", never an error. */
static void test_parser_prefixes(void)
{
    static const char *const heads[] = {
        ("GET /a%2Fb?x=%20 HTTP/1.1\r\nHost: h:80\r\nConnection: close\r\n"
         "User-Agent: t/1.0\r\nContent-Length: 0\r\n\r\n"),
        "HEAD / HTTP/1.0\n\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\nX:\r\n\r\n",
    };
    for (size_t h = 0; h < COUNT(heads); h++) {
        size_t len = strlen(heads[h]);
        snprintf(ts_where, sizeof(ts_where), "parser, head %zu", h);
        http_request_t r;
        for (size_t n = 0; n < len; n++) {
            int rc = parse_exact(heads[h], n, &r);
            if (!CHECK(rc == HTTP_PARSE_INCOMPLETE)) {
                ts_note("prefix of %zu bytes gave %d", n, rc);
                break;
            }
        }
        CHECK(parse_exact(heads[h], len, &r) == HTTP_PARSE_COMPLETE);
        CHECK(r.head_length == len);
    }
}

typedef struct parse_case {
    const char *input;
    int status;
} parse_case_t;

/* Hosts as RFC 9110 7.2 has them: names, addresses, IP literals, ports. */
static void test_parser_good_hosts(void)
{
    static const char *const hosts[] = {
        "a",     "example.com", "example.com:8080",      "127.0.0.1:80",
        "[::1]", "[::1]:8000",  "xn--bcher-kva.example", "a-b_c~d",
        "%41",   "host:"};
    for (size_t i = 0; i < COUNT(hosts); i++) {
        char head[128];
        http_request_t r;
        snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n",
                 hosts[i]);
        snprintf(ts_where, sizeof(ts_where), "Host: %s", hosts[i]);
        CHECK(parse_exact(head, strlen(head), &r) == HTTP_PARSE_COMPLETE);
    }
    http_request_t r;
    const char *chunked = "POST / HTTP/1.1\r\nHost: a\r\n"
                          "Transfer-Encoding: Chunked\r\n\r\n";
    CHECK(parse_exact(chunked, strlen(chunked), &r) == HTTP_PARSE_COMPLETE);
}

static void test_parser_malformed(void)
{
    static const parse_case_t cases[] = {
        {"\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400}, /* HTTP/1.1 needs a Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400}, /* empty, as nginx */
        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: []\r\n\r\n", 400},
        {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked"
         "\r\n\r\n",
         501},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/0.9\r\n\r\n", 505},
        {"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/11\r\nHost: a\r\n\r\n", 400},
        {"GET / http/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
        {"GET /\r\n\r\n", 400},
        {"GET\r\n\r\n", 400},
        {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: "
         "1234567890123456789\r\n\r\n",
         400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
         "Content-Length: 4\r\n\r\n",
         400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         400},
        /* Unfinished lines: binary or a stray CR is an error at once. */
        {"\x16\x03\x01\x02\x00\x01", 400},
        {"GET / HTTP/1.1\rHost", 400},
        {"GET /\x01", 400},
        {"GET / HTTP/1.1\r", HTTP_PARSE_INCOMPLETE},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r", HTTP_PARSE_INCOMPLETE},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        snprintf(ts_where, sizeof(ts_where), "parser, case %zu \"%.40s\"", i,
                 cases[i].input);
        http_request_t r;
        int rc = parse_str(cases[i].input, &r);
        if (!CHECK(rc == cases[i].status))
            ts_note("expected %d, got %d", cases[i].status, rc);
    }
    /* NUL bytes, which strlen-based cases cannot hold. */
    static const char nul_target[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char nul_field[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
    http_request_t r;
    snprintf(ts_where, sizeof(ts_where), "parser, NUL bytes");
    CHECK(parse_exact(nul_target, sizeof(nul_target) - 1, &r) == 400);
    CHECK(parse_exact(nul_field, sizeof(nul_field) - 1, &r) == 400);
}

/* "GET /aaa...a HTTP/1.1": a request line of exactly len bytes. */
static char *request_line_of(size_t len)
{
    char *s = malloc(len + 64);
    if (!s)
        return NULL;
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', len - 5 - 9);
    memcpy(s + len - 9, " HTTP/1.1", 9);
    strcpy(s + len, "\r\nHost: a\r\n\r\n");
    return s;
}

/* A head whose header section (Host, one filler field, the empty line) is
 * exactly section bytes long. */
static char *header_section_of(size_t section)
{
    static const char line[] = "GET / HTTP/1.1\r\n";
    char *s = malloc(sizeof(line) + section + 1);
    if (!s)
        return NULL;
    size_t fill = section - strlen("Host: a\r\nX: \r\n\r\n");
    strcpy(s, line);
    strcat(s, "Host: a\r\nX: ");
    size_t n = strlen(s);
    memset(s + n, 'b', fill);
    strcpy(s + n + fill, "\r\n\r\n");
    return s;
}

/* A head with Host plus extra - 1 more fields: extra fields in all. */
static char *fields_of(size_t fields)
{
    char *s = malloc(64 + fields * 16);
    if (!s)
        return NULL;
    size_t n = (size_t)sprintf(s, "GET /a.txt HTTP/1.1\r\nHost: a\r\n");
    for (size_t i = 1; i < fields; i++)
        n += (size_t)sprintf(s + n, "X-%zu: v\r\n", i);
    strcpy(s + n, "\r\n");
    return s;
}

static void check_generated(char *head, int want, const char *what)
{
    snprintf(ts_where, sizeof(ts_where), "parser, %s", what);
    http_request_t r;
    int rc = head ? parse_str(head, &r) : -1;
    if (!CHECK(rc == want))
        ts_note("expected %d, got %d", want, rc);
    free(head);
}

static void test_parser_limits(void)
{
    check_generated(request_line_of(HTTP_MAX_REQUEST_LINE), HTTP_PARSE_COMPLETE,
                    "8192-byte request line");
    check_generated(request_line_of(HTTP_MAX_REQUEST_LINE + 1), 414,
                    "8193-byte request line");
    check_generated(header_section_of(HTTP_MAX_HEADER_BYTES),
                    HTTP_PARSE_COMPLETE, "16384-byte header section");
    check_generated(header_section_of(HTTP_MAX_HEADER_BYTES + 1), 431,
                    "16385-byte header section");
    check_generated(fields_of(HTTP_MAX_HEADERS), HTTP_PARSE_COMPLETE,
                    "100 fields");
    check_generated(fields_of(HTTP_MAX_HEADERS + 1), 431, "101 fields");

    /* An unfinished line learns its fate once it cannot fit any more. */
    char *line = malloc(HTTP_MAX_REQUEST_LINE + 2);
    if (!CHECK(line != NULL))
        return;
    memset(line, 'a', HTTP_MAX_REQUEST_LINE + 2);
    http_request_t r;
    snprintf(ts_where, sizeof(ts_where), "parser, unfinished request line");
    CHECK(parse_exact(line, HTTP_MAX_REQUEST_LINE + 1, &r) ==
          HTTP_PARSE_INCOMPLETE); /* 8192 bytes and a CR may still come */
    CHECK(parse_exact(line, HTTP_MAX_REQUEST_LINE + 2, &r) == 414);
    free(line);
}

/* Fill buf with a valid 8192-byte request line, then field lines, never
 * an empty line: the longest input that could still be going somewhere. */
static void fill_worst_case(char *buf, size_t len)
{
    char *head = request_line_of(HTTP_MAX_REQUEST_LINE);
    size_t n = head ? HTTP_MAX_REQUEST_LINE + 2 : 0;
    if (head)
        memcpy(buf, head, n);
    free(head);
    for (; n < len; n++)
        buf[n] = "Xx: yyyyyyyyyyy\r\n"[n % 17];
}

/* The promise the handler's buffer size rests on: at
 * HTTP_MAX_REQUEST_BYTES the answer is never "read more". */
static void test_parser_bounded(void)
{
    size_t len = HTTP_MAX_REQUEST_BYTES;
    char *buf = malloc(len);
    if (!CHECK(buf != NULL))
        return;
    http_request_t r;
    snprintf(ts_where, sizeof(ts_where), "parser, worst case at the bound");
    fill_worst_case(buf, len);
    int rc = parse_exact(buf, len, &r);
    if (!CHECK(rc == 431))
        ts_note("got %d", rc);
    uint32_t seed = 12345;
    for (int i = 0; i < 200; i++) { /* printable, lines of random length */
        for (size_t k = 0; k < len; k++) {
            uint32_t x = next_random(&seed);
            buf[k] = x % 97 == 0 ? '\n' : (char)(' ' + x % 95);
        }
        snprintf(ts_where, sizeof(ts_where), "parser, random line ends %d", i);
        rc = parse_exact(buf, len, &r);
        if (!CHECK(rc != HTTP_PARSE_INCOMPLETE))
            break;
    }
    free(buf);
}

/* What any result must satisfy, whatever the input. */
static int result_sane(const char *buf, size_t len, int rc,
                       const http_request_t *r)
{
    if (rc == HTTP_PARSE_INCOMPLETE)
        return len < HTTP_MAX_REQUEST_BYTES;
    if (rc != HTTP_PARSE_COMPLETE)
        return rc == 400 || rc == 414 || rc == 431 || rc == 501 || rc == 505;
    const char *end = buf + r->head_length;
    http_request_t again;
    return r->head_length > 0 && r->head_length <= len &&
           r->method.ptr >= buf && r->method.ptr + r->method.len < end &&
           r->target.ptr > buf && r->target.ptr + r->target.len < end &&
           r->version_minor >= 0 && r->version_minor <= 1 &&
           r->header_count <= HTTP_MAX_HEADERS &&
           parse_exact(buf, r->head_length, &again) == HTTP_PARSE_COMPLETE &&
           again.head_length == r->head_length;
}

static int fuzz_one(const char *buf, size_t len)
{
    http_request_t r;
    int rc = parse_exact(buf, len, &r);
    if (result_sane(buf, len, rc, &r))
        return 1;
    ts_note("result %d for %zu bytes \"%.*s\"", rc, len, (int)len, buf);
    return 0;
}

/* Random bytes, then random edits of a valid head with the bytes that
 * matter to HTTP: every result must be sane, and ASan must stay quiet. */
static void test_parser_random(void)
{
    static const char base[] =
        "GET /a%20b?x=1 HTTP/1.1\r\nHost: example\r\nConnection: keep-alive, "
        "close\r\nContent-Length: 12\r\n\r\n";
    static const char spice[] = "\r\n :\t\0%/.\xff"
                                "0123456789";
    char buf[1024];
    uint32_t seed = 2463534242u;
    int ok = 1;
    snprintf(ts_where, sizeof(ts_where), "parser, random bytes");
    for (int i = 0; ok && i < 20000; i++) {
        size_t len = next_random(&seed) % 512;
        for (size_t k = 0; k < len; k++)
            buf[k] = (char)next_random(&seed);
        ok = fuzz_one(buf, len);
    }
    snprintf(ts_where, sizeof(ts_where), "parser, mutated heads");
    for (int i = 0; ok && i < 100000; i++) {
        size_t len = sizeof(base) - 1;
        memcpy(buf, base, len);
        for (int m = 1 + (int)(next_random(&seed) % 4); m > 0; m--) {
            uint32_t x = next_random(&seed);
            size_t at = x % (len + 1), op = (x >> 16) % 3;
            char c = spice[(x >> 8) % (sizeof(spice) - 1)];
            if (op == 0 && at < len) /* replace */
                buf[at] = c;
            else if (op == 1 && len + 1 < sizeof(buf)) { /* insert */
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = c;
                len++;
            } else if (at < len) { /* delete */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
        }
        ok = fuzz_one(buf, len);
    }
    CHECK(ok);
}

/* ---- The corpus ---------------------------------------------------------- */

typedef struct corpus_file {
    char name[128];
    char *data;
    size_t len;
} corpus_file_t;

static int read_corpus_file(const char *name, corpus_file_t *f)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%.100s", CORPUS_DIR, name);
    snprintf(f->name, sizeof(f->name), "%.100s", name);
    FILE *fp = fopen(path, "rb");
    f->data = malloc(4096);
    f->len = fp && f->data ? fread(f->data, 1, 4096, fp) : 0;
    int ok = fp && f->data && !ferror(fp) && f->len < 4096;
    if (fp)
        fclose(fp);
    return ok ? 0 : -1;
}

/* Every corpus file whose name says what it expects ("400-..."). */
static size_t load_corpus(corpus_file_t *files, size_t cap)
{
    DIR *d = opendir(CORPUS_DIR);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        if (strncmp(e->d_name, "close-", 6) != 0 &&
            !(strlen(e->d_name) > 4 && e->d_name[3] == '-'))
            continue;
        if (read_corpus_file(e->d_name, &files[n]) == 0)
            n++;
        else
            free(files[n].data);
    }
    closedir(d);
    return n;
}

static void free_corpus(corpus_file_t *files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(files[i].data);
}

static void test_parser_corpus(void)
{
    corpus_file_t files[64];
    size_t n = load_corpus(files, COUNT(files));
    snprintf(ts_where, sizeof(ts_where), "parser, corpus");
    CHECK(n >= 30);
    for (size_t i = 0; i < n; i++) {
        snprintf(ts_where, sizeof(ts_where), "parser, corpus %.100s",
                 files[i].name);
        for (size_t len = 0; len <= files[i].len; len++)
            if (!CHECK(fuzz_one(files[i].data, len)))
                break;
    }
    free_corpus(files, n);
}

/* ====================================================================== *
 * The handler over sockets                                               *
 * ====================================================================== */

/* ---- A tree under /tmp ---------------------------------------------------
 * Entries with text are files, with link symlinks, with neither
 * directories; removed in reverse order. */

typedef struct entry {
    const char *path, *text, *link;
} entry_t;

static const entry_t tree[] = {
    {"www", NULL, NULL},
    {"www/a.txt", "hello\n", NULL},
    {"www/empty.txt", "", NULL},
    {"www/plain", NULL, NULL},
    {"www/plain/<a&b>\"'.txt", "escaped\n", NULL},
    {"www/plain/b.txt", "b\n", NULL},
    {"www/plain/sub dir", NULL, NULL},
    {"www/site", NULL, NULL},
    {"www/site/index.html", "<h1>site</h1>\n", NULL},
    {"www/types", NULL, NULL},
    {"www/types/x.html", "x", NULL},
    {"www/types/x.htm", "x", NULL},
    {"www/types/x.txt", "x", NULL},
    {"www/types/x.css", "x", NULL},
    {"www/types/x.js", "x", NULL},
    {"www/types/x.json", "x", NULL},
    {"www/types/x.png", "x", NULL},
    {"www/types/X.PNG", "x", NULL},
    {"www/types/x.jpg", "x", NULL},
    {"www/types/x.jpeg", "x", NULL},
    {"www/types/x.gif", "x", NULL},
    {"www/types/x.svg", "x", NULL},
    {"www/types/x.ico", "x", NULL},
    {"www/types/x.pdf", "x", NULL},
    {"www/types/x.wasm", "x", NULL},
    {"www/types/x.tar.gz", "x", NULL},
    {"www/types/noext", "x", NULL},
    {"www/types/x.mjs", "x", NULL},
    {"www/types/x.webp", "x", NULL},
    {"www/types/x.avif", "x", NULL},
    {"www/types/x.xml", "x", NULL},
    {"www/types/x.mp4", "x", NULL},
    {"www/types/x.webm", "x", NULL},
    {"www/types/x.mp3", "x", NULL},
    {"www/types/x.woff", "x", NULL},
    {"www/types/x.woff2", "x", NULL},
    {"www/types/x.csv", "x", NULL},
    {"www/types/x.zip", "x", NULL},
    {"www/types/x.gz", "x", NULL},
    {"www/types/x.md", "x", NULL},
    {"www/types/x.map", "x", NULL},
    {"www/links", NULL, NULL},
    {"www/links/up", NULL, "../a.txt"},      /* climbs, stays inside */
    {"www/links/dir", NULL, "../plain"},     /* a directory inside */
    {"www/links/via", NULL, "dir/../a.txt"}, /* ".." after a symlink */
    {"www/links/out", NULL, "../../secret.txt"},
    {"www/links/abs", NULL, "/etc/passwd"},
    {"www/links/loop", NULL, "loop"},
    {"www/inner", NULL, "a.txt"},  /* a symlink inside: fine */
    {"www/etclink", NULL, "/etc"}, /* symlinks out: refused */
    {"www/secretlink", NULL, "../secret.txt"},
    {"www/sibling", NULL, "../www-secret"},
    {"secret.txt", SECRET "\n", NULL},
    {"www-secret", NULL, NULL}, /* shares the root's prefix "www" */
    {"www-secret/s.txt", SECRET "\n", NULL},
};

typedef struct site {
    char dir[64];              /* /tmp/ss-http-XXXXXX */
    char root[96];             /* dir/www */
    ss_option_value_t opts[2]; /* --root root */
    unsigned char *big;        /* BIG_SIZE bytes, also www/big.bin */
} site_t;

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int make_entry(const site_t *s, const entry_t *e)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", s->dir, e->path);
    if (e->text)
        return write_file(path, e->text, strlen(e->text));
    if (e->link)
        return symlink(e->link, path);
    return mkdir(path, 0755);
}

static void remove_entry(const site_t *s, const entry_t *e)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", s->dir, e->path);
    if (e->text || e->link)
        unlink(path);
    else
        rmdir(path);
}

static void site_remove(site_t *s)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/big.bin", s->root);
    unlink(path);
    for (size_t i = COUNT(tree); i-- > 0;)
        remove_entry(s, &tree[i]);
    rmdir(s->dir);
    free(s->big);
}

static int site_create(site_t *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/ss-http-XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->root, sizeof(s->root), "%s/www", s->dir);
    s->opts[0] = (ss_option_value_t){"root", s->root};
    s->opts[1] = (ss_option_value_t){NULL, NULL};
    for (size_t i = 0; i < COUNT(tree); i++)
        if (make_entry(s, &tree[i]) < 0)
            return -1;
    if (!(s->big = malloc(BIG_SIZE)))
        return -1;
    for (size_t i = 0; i < BIG_SIZE; i++) /* a block out of place shows */
        s->big[i] = (unsigned char)((i & 0xff) + (i >> 8) * 37);
    char path[256];
    snprintf(path, sizeof(path), "%s/big.bin", s->root);
    return write_file(path, s->big, BIG_SIZE);
}

/* ---- Running a case in every mode ---------------------------------------- */

typedef void (*case_fn)(const char *address, const site_t *site);

static int start(test_server_t *ts, const char *mode, const site_t *site,
                 int timeout_ms)
{
    ss_config_t cfg;
    ts_config(&cfg, TS_TCP4, mode, &ss_handler_http);
    cfg.options = site->opts;
    cfg.timeout_ms = timeout_ms;
    return CHECK(ts_start(ts, &cfg) == 0);
}

/* A fresh tree, then fn against a server in each mode. */
static void each_mode(case_fn fn)
{
    site_t site;
    snprintf(ts_where, sizeof(ts_where), "creating the tree");
    if (CHECK(site_create(&site) == 0)) {
        for (size_t m = 0; m < TS_NMODES; m++) {
            test_server_t ts;
            snprintf(ts_where, sizeof(ts_where), "%s", ts_modes[m]);
            if (!start(&ts, ts_modes[m], &site, 0))
                continue;
            fn(ts.address, &site);
            ts_stop(&ts);
        }
    }
    site_remove(&site);
}

/* ts_where = "mode, detail" for the steps of one case. */
static void detail(const char *fmt, ...) SS_PRINTF(1, 2);
static void detail(const char *fmt, ...)
{
    char *comma = strchr(ts_where, ',');
    if (comma)
        *comma = '\0';
    size_t n = strlen(ts_where);
    snprintf(ts_where + n, sizeof(ts_where) - n, ", ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ts_where + n + 2, sizeof(ts_where) - n - 2, fmt, ap);
    va_end(ap);
}

/* ---- A client connection that reads whole responses ---------------------- */

typedef struct conn {
    int fd;
    char *buf;
    size_t len;  /* bytes in buf */
    size_t used; /* ...of which the last response took these */
} conn_t;

typedef struct response {
    int status;
    char head[HEAD_CAP]; /* status line and fields, through the empty line */
    const char *body;    /* in the connection's buffer, until its next read */
    size_t body_len;
} response_t;

static int conn_open(conn_t *c, const char *address)
{
    c->fd = ts_connect(address, 0);
    c->buf = malloc(CONN_CAP);
    c->len = c->used = 0;
    return CHECK(c->fd >= 0 && c->buf != NULL) ? 0 : -1;
}

/* shutdown() first: fork-mode children hold copies of this descriptor. */
static void conn_close(conn_t *c)
{
    if (c->fd >= 0) {
        shutdown(c->fd, SHUT_RDWR);
        close(c->fd);
    }
    free(c->buf);
    c->fd = -1;
    c->buf = NULL;
}

static int conn_send(conn_t *c, const void *data, size_t len)
{
    return send(c->fd, data, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int conn_send_str(conn_t *c, const char *s)
{
    return conn_send(c, s, strlen(s));
}

/* One more receive within T: >0 bytes, 0 at EOF, -1 timeout or error. */
static ssize_t conn_fill(conn_t *c)
{
    if (c->len >= CONN_CAP)
        return -1;
    struct pollfd pfd = {c->fd, POLLIN, 0};
    if (poll(&pfd, 1, T) <= 0)
        return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, CONN_CAP - c->len, 0);
    if (n > 0)
        c->len += (size_t)n;
    return n < 0 ? -1 : n;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

/* The value of field name in a response head: 1 and value, or 0. */
static int header(const response_t *r, const char *name, char *value,
                  size_t cap)
{
    size_t n = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2] != '\r';
         line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, n) == 0 && start[n] == ':') {
            const char *v = start + n + 1 + (start[n + 1] == ' ');
            snprintf(value, cap, "%.*s", (int)(strstr(v, "\r\n") - v), v);
            return 1;
        }
    }
    return 0;
}

/* The next response: 0, or -1 (EOF or timeout first, or a head without
 * Content-Length).  A reply to HEAD, and a 304, have no body whatever
 * their length. */
static int conn_response(conn_t *c, response_t *r, int head_only)
{
    c->len -= c->used;
    memmove(c->buf, c->buf + c->used, c->len);
    c->used = 0;
    const char *end;
    while (!(end = find_bytes(c->buf, c->len, "\r\n\r\n")))
        if (conn_fill(c) <= 0)
            return -1;
    size_t head_len = (size_t)(end + 4 - c->buf);
    char length[32];
    if (head_len >= sizeof(r->head))
        return -1;
    memcpy(r->head, c->buf, head_len);
    r->head[head_len] = '\0';
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
        return -1;
    if (r->status == 304) /* no body, and no Content-Length for one */
        head_only = 1;
    else if (!header(r, "Content-Length", length, sizeof(length)))
        return -1;
    r->body_len = head_only ? 0 : strtoul(length, NULL, 10);
    while (c->len < head_len + r->body_len)
        if (conn_fill(c) <= 0)
            return -1;
    r->body = c->buf + head_len;
    c->used = head_len + r->body_len;
    return 0;
}

/* Nothing beyond the last response, and the server closes. */
static int conn_eof(conn_t *c)
{
    return c->len == c->used && conn_fill(c) == 0;
}

/* Nothing beyond the last response, and the connection stays open. */
static int conn_quiet(conn_t *c)
{
    struct pollfd pfd = {c->fd, POLLIN, 0};
    return c->len == c->used && poll(&pfd, 1, QUIET_MS) == 0;
}

static int header_is(const response_t *r, const char *name, const char *want)
{
    char value[HEAD_CAP];
    if (header(r, name, value, sizeof(value)) && strcmp(value, want) == 0)
        return 1;
    ts_note("%s: expected \"%s\" in\n%s", name, want, r->head);
    return 0;
}

static int body_is(const response_t *r, const char *want)
{
    if (r->body_len == strlen(want) && memcmp(r->body, want, r->body_len) == 0)
        return 1;
    ts_note("expected body \"%s\", got %zu bytes \"%.*s\"", want, r->body_len,
            (int)(r->body_len < 400 ? r->body_len : 400), r->body);
    return 0;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7). */
static int date_ok(const char *date)
{
    char day[4], mon[4], gmt[4];
    int d, y, h, m, s, end = 0;
    if (sscanf(date, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3s%n", day,
               &d, mon, &y, &h, &m, &s, gmt, &end) != 8)
        return 0;
    return strlen(date) == 29 && end == 29 && strcmp(gmt, "GMT") == 0 &&
           strstr("SunMonTueWedThuFriSat", day) &&
           strstr("JanFebMarAprMayJunJulAugSepOctNovDec", mon) && y >= 2024;
}

/* The whole head, field for field, in the order the handler promises;
 * extra is any Location or Allow line. */
static int head_is(const response_t *r, const char *status_line,
                   const char *type, size_t length, const char *extra,
                   const char *connection)
{
    char date[64], want[HEAD_CAP];
    if (!header(r, "Date", date, sizeof(date)) || !date_ok(date)) {
        ts_note("no valid Date in\n%s", r->head);
        return 0;
    }
    snprintf(want, sizeof(want),
             "HTTP/1.1 %s\r\nServer: socketserver/%s\r\nDate: %s\r\n"
             "Content-Type: %s\r\nContent-Length: %zu\r\n%sConnection: "
             "%s\r\n\r\n",
             status_line, SS_VERSION, date, type, length, extra, connection);
    if (strcmp(r->head, want) == 0)
        return 1;
    ts_note("expected head\n%s\ngot\n%s", want, r->head);
    return 0;
}

#define HTML "text/html; charset=utf-8"
#define TEXT "text/plain; charset=utf-8"
#define GET(path) "GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"
#define HEAD(path) "HEAD " path " HTTP/1.1\r\nHost: t\r\n\r\n"

/* What a file's 200, 206 and 304 carry after Content-Length (and
 * Content-Range): Last-Modified (the mtime), the ETag (mtime in seconds
 * and nanoseconds, and size, in hex) and Accept-Ranges, from stat of
 * rel under the root.  "" when rel cannot be stat'ed. */
static const char *validators(const site_t *site, const char *rel, char *out,
                              size_t cap)
{
    char path[512], date[64];
    struct stat st;
    struct tm tm;
    snprintf(path, sizeof(path), "%s/%s", site->root, rel);
    out[0] = '\0';
    if (stat(path, &st) < 0 || !gmtime_r(&st.st_mtim.tv_sec, &tm))
        return out;
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(out, cap,
             "Last-Modified: %s\r\nETag: \"%llx.%lx-%llx\"\r\n"
             "Accept-Ranges: bytes\r\n",
             date, (unsigned long long)st.st_mtim.tv_sec,
             (unsigned long)st.st_mtim.tv_nsec, (unsigned long long)st.st_size);
    return out;
}

/* The small page an error or redirect carries. */
static const char *status_page(char *buf, size_t cap, const char *status)
{
    snprintf(buf, cap,
             "<!DOCTYPE html>\n<html><head><title>%s</title></head>\n"
             "<body><h1>%s</h1></body></html>\n",
             status, status);
    return buf;
}

/* Send request on a new connection and half-close; its one response,
 * then EOF. */
static int exchange(const char *address, const char *request, size_t len,
                    conn_t *c, response_t *r, int head_only)
{
    if (conn_open(c, address) < 0)
        return -1;
    if (!CHECK(conn_send(c, request, len) == 0))
        return -1;
    shutdown(c->fd, SHUT_WR);
    if (!CHECK(conn_response(c, r, head_only) == 0))
        return -1;
    return CHECK(conn_eof(c)) ? 0 : -1;
}

/* ---- GET, keep-alive, HEAD, close, HTTP/1.0 -------------------------------
 */

static void get_file_case(const char *address, const site_t *site)
{
    conn_t c;
    response_t r;
    char v[512];
    detail("GET /a.txt");
    if (exchange(address, GET("/a.txt"), strlen(GET("/a.txt")), &c, &r, 0) ==
        0) {
        CHECK(head_is(&r, "200 OK", TEXT, 6,
                      validators(site, "a.txt", v, sizeof(v)), "keep-alive"));
        CHECK(body_is(&r, "hello\n"));
    }
    conn_close(&c);
    detail("GET /empty.txt");
    if (exchange(address, GET("/empty.txt"), strlen(GET("/empty.txt")), &c, &r,
                 0) == 0)
        CHECK(head_is(&r, "200 OK", TEXT, 0,
                      validators(site, "empty.txt", v, sizeof(v)),
                      "keep-alive"));
    conn_close(&c);
    detail("GET /inner (a symlink to a.txt, inside the root)");
    if (exchange(address, GET("/inner"), strlen(GET("/inner")), &c, &r, 0) ==
        0) {
        CHECK(r.status == 200);
        CHECK(body_is(&r, "hello\n"));
    }
    conn_close(&c);
}

static void test_get_file(void)
{
    each_mode(get_file_case);
}

/* Send request, read one response with the given status and body. */
static int step(conn_t *c, const char *request, int head_only, int status,
                const char *body)
{
    response_t r;
    if (request && !CHECK(conn_send_str(c, request) == 0))
        return 0;
    if (!CHECK(conn_response(c, &r, head_only) == 0))
        return 0;
    if (!CHECK(r.status == status))
        ts_note("expected %d, got\n%s", status, r.head);
    return r.status == status && (!body || CHECK(body_is(&r, body)));
}

static void keep_alive_case(const char *address, const site_t *site)
{
    (void)site;
    conn_t c;
    if (conn_open(&c, address) < 0) {
        conn_close(&c);
        return;
    }
    detail("two requests on one connection");
    int ok = step(&c, GET("/a.txt"), 0, 200, "hello\n") &&
             step(&c, GET("/site/"), 0, 200, "<h1>site</h1>\n") &&
             CHECK(conn_quiet(&c));
    detail("four pipelined in one send");
    ok = ok && CHECK(conn_send_str(&c, GET("/a.txt") HEAD("/a.txt") GET(
                                           "/missing") GET("/empty.txt")) == 0);
    ok = ok && step(&c, NULL, 0, 200, "hello\n") &&
         step(&c, NULL, 1, 200, NULL) && step(&c, NULL, 0, 404, NULL) &&
         step(&c, NULL, 0, 200, "") && CHECK(conn_quiet(&c));
    detail("a request split across sends");
    static const char *const parts[] = {"GET /a.t", "xt HTTP/1.1\r\nHo",
                                        "st: t\r\n\r", "\n"};
    for (size_t i = 0; ok && i < COUNT(parts); i++) {
        ok = CHECK(conn_send_str(&c, parts[i]) == 0);
        ok = ok && (i + 1 == COUNT(parts) || CHECK(conn_quiet(&c)));
    }
    ok = ok && step(&c, NULL, 0, 200, "hello\n");
    detail("then Connection: close");
    ok = ok && step(&c,
                    "GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close"
                    "\r\n\r\n",
                    0, 200, "hello\n");
    if (ok)
        CHECK(conn_eof(&c));
    conn_close(&c);
}

static void test_keep_alive(void)
{
    each_mode(keep_alive_case);
}

/* HEAD: the head GET would have, Content-Length included, and no body
 * (the next bytes are the next response). */
static void head_case(const char *address, const site_t *site)
{
    (void)site;
    static const char *const paths[] = {"/a.txt", "/missing", "/plain/",
                                        "/plain", "/big.bin"};
    conn_t c;
    if (conn_open(&c, address) < 0) {
        conn_close(&c);
        return;
    }
    for (size_t i = 0; i < COUNT(paths); i++) {
        char get[128], head[128], length[32], head_length[32];
        response_t g, h;
        detail("HEAD %s", paths[i]);
        snprintf(get, sizeof(get), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n",
                 paths[i]);
        snprintf(head, sizeof(head), "HEAD %s HTTP/1.1\r\nHost: t\r\n\r\n",
                 paths[i]);
        if (!CHECK(conn_send_str(&c, get) == 0 &&
                   conn_response(&c, &g, 0) == 0))
            break;
        header(&g, "Content-Length", length, sizeof(length));
        if (!CHECK(conn_send_str(&c, head) == 0 &&
                   conn_response(&c, &h, 1) == 0))
            break;
        CHECK(h.status == g.status);
        CHECK(header(&h, "Content-Length", head_length, sizeof(head_length)));
        CHECK(strcmp(length, head_length) == 0 && g.body_len > 0);
        CHECK(conn_quiet(&c)); /* no body bytes follow */
    }
    conn_close(&c);
}

static void test_head(void)
{
    each_mode(head_case);
}

/* Send request, expect one response with that Connection value, then
 * (close) EOF or (keep-alive) an open, quiet connection. */
static void connection_step(conn_t *c, const char *request,
                            const char *connection)
{
    response_t r;
    if (!CHECK(conn_send_str(c, request) == 0 && conn_response(c, &r, 0) == 0))
        return;
    CHECK(r.status == 200 && body_is(&r, "hello\n"));
    CHECK(header_is(&r, "Connection", connection));
    if (strcmp(connection, "close") == 0)
        CHECK(conn_eof(c));
    else
        CHECK(conn_quiet(c));
}

static void connection_case(const char *address, const site_t *site)
{
    (void)site;
    static const struct {
        const char *what, *first, *then; /* then: on the same connection */
        const char *first_conn, *then_conn;
    } cases[] = {
        {"HTTP/1.1 Connection: close",
         "GET /a.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", NULL,
         "close", NULL},
        {"HTTP/1.1 connection: Upgrade, CLOSE",
         "GET /a.txt HTTP/1.1\r\nHost: t\r\nconnection: Upgrade, CLOSE\r\n\r\n",
         NULL, "close", NULL},
        {"HTTP/1.0, no Host", "GET /a.txt HTTP/1.0\r\n\r\n", NULL, "close",
         NULL},
        {"HTTP/1.0 keep-alive, then plain HTTP/1.0",
         "GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
         "GET /a.txt HTTP/1.0\r\n\r\n", "keep-alive", "close"},
        {"bare LF line ends", "GET /a.txt HTTP/1.1\nHost: t\n\n",
         "GET /a.txt HTTP/1.1\nHost: t\nConnection: close\n\n", "keep-alive",
         "close"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        conn_t c;
        detail("%s", cases[i].what);
        if (conn_open(&c, address) == 0) {
            connection_step(&c, cases[i].first, cases[i].first_conn);
            if (cases[i].then)
                connection_step(&c, cases[i].then, cases[i].then_conn);
        }
        conn_close(&c);
    }
}

static void test_connection(void)
{
    each_mode(connection_case);
}

/* ---- Status codes -------------------------------------------------------- */

typedef struct status_case {
    const char *what;
    const char *request; /* NULL: made by make */
    char *(*make)(void);
    const char *status_line;
    const char *extra; /* exact extra field lines */
    const char *connection;
} status_case_t;

static char *long_target(void)
{
    return request_line_of(9000);
}

static char *exact_target(void)
{
    return request_line_of(HTTP_MAX_REQUEST_LINE);
}

static char *many_fields(void)
{
    return fields_of(HTTP_MAX_HEADERS + 1);
}

static char *enough_fields(void)
{
    return fields_of(HTTP_MAX_HEADERS);
}

static char *huge_field(void)
{
    return header_section_of(17000);
}

static const status_case_t status_cases[] = {
    {"404", GET("/missing"), NULL, "404 Not Found", "", "keep-alive"},
    {"404 for a file with a slash", GET("/a.txt/"), NULL, "404 Not Found", "",
     "keep-alive"},
    {"405 DELETE", "DELETE /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", NULL,
     "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "keep-alive"},
    /* Methods are case-sensitive: "get" is a method we do not know. */
    {"501 lower-case get", "get /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", NULL,
     "501 Not Implemented", "", "keep-alive"},
    {"405 POST with a body (unread: the connection ends)",
     "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", NULL,
     "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "close"},
    {"501 an unknown method", "FOO /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", NULL,
     "501 Not Implemented", "", "keep-alive"},
    {"501 GETs", "GETs /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", NULL,
     "501 Not Implemented", "", "keep-alive"},
    {"405 PUT", "PUT /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", NULL,
     "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "keep-alive"},
    {"405 OPTIONS", "OPTIONS /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", NULL,
     "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "keep-alive"},
    {"301 keeps the query", GET("/plain?x=1&y=%20"), NULL,
     "301 Moved Permanently", "Location: /plain/?x=1&y=%20\r\n", "keep-alive"},
    {"301 keeps the query, not the fragment", GET("/plain?x=1#top"), NULL,
     "301 Moved Permanently", "Location: /plain/?x=1\r\n", "keep-alive"},
    {"301 after dot segments", GET("/site/../plain"), NULL,
     "301 Moved Permanently", "Location: /plain/\r\n", "keep-alive"},
    {"301 to the slash", GET("/plain"), NULL, "301 Moved Permanently",
     "Location: /plain/\r\n", "keep-alive"},
    {"301 keeps its escapes", GET("/plain/sub%20dir"), NULL,
     "301 Moved Permanently", "Location: /plain/sub%20dir/\r\n", "keep-alive"},
    {"301 never off-site", GET("//plain"), NULL, "301 Moved Permanently",
     "Location: /plain/\r\n", "keep-alive"},
    {"400 no Host", "GET /a.txt HTTP/1.1\r\n\r\n", NULL, "400 Bad Request", "",
     "close"},
    {"400 bad escape", GET("/a%2.txt"), NULL, "400 Bad Request", "",
     "keep-alive"},
    {"400 asterisk", GET("*"), NULL, "400 Bad Request", "", "keep-alive"},
    {"400 HTTP/0.9", "GET /a.txt\r\n\r\n", NULL, "400 Bad Request", "",
     "close"},
    {"505 HTTP/2.0", "GET /a.txt HTTP/2.0\r\nHost: t\r\n\r\n", NULL,
     "505 HTTP Version Not Supported", "", "close"},
    {"414 a 9000-byte request line", NULL, long_target, "414 URI Too Long", "",
     "close"},
    {"404, not 414, at exactly 8192 bytes", NULL, exact_target, "404 Not Found",
     "", "keep-alive"},
    {"431 101 fields", NULL, many_fields, "431 Request Header Fields Too Large",
     "", "close"},
    {"431 a 17000-byte field", NULL, huge_field,
     "431 Request Header Fields Too Large", "", "close"},
};

static void status_case(const char *address, const site_t *site)
{
    (void)site;
    for (size_t i = 0; i < COUNT(status_cases); i++) {
        const status_case_t *sc = &status_cases[i];
        char *made = sc->make ? sc->make() : NULL;
        const char *request = sc->make ? made : sc->request;
        conn_t c;
        response_t r;
        char page[512];
        detail("%s", sc->what);
        if (CHECK(request != NULL) &&
            exchange(address, request, strlen(request), &c, &r, 0) == 0) {
            status_page(page, sizeof(page), sc->status_line);
            CHECK(head_is(&r, sc->status_line, HTML, strlen(page), sc->extra,
                          sc->connection));
            CHECK(body_is(&r, page));
        }
        conn_close(&c);
        free(made);
    }
    conn_t c;
    detail("exactly 100 fields");
    char *hundred = enough_fields();
    if (CHECK(hundred != NULL) && conn_open(&c, address) == 0)
        step(&c, hundred, 0, 200, "hello\n");
    conn_close(&c);
    free(hundred);
}

static void test_status_codes(void)
{
    each_mode(status_case);
}

/* ---- Directories and types ----------------------------------------------- */

static const char plain_listing[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of "
    "/plain/</title></head>\n<body><h1>Index of /plain/</h1>\n<ul>\n"
    "<li><a href=\"%3Ca%26b%3E%22%27.txt\">&lt;a&amp;b&gt;&quot;&#39;.txt"
    "</a></li>\n"
    "<li><a href=\"b.txt\">b.txt</a></li>\n"
    "<li><a href=\"sub%20dir/\">sub dir/</a></li>\n"
    "</ul>\n</body></html>\n";

static void directory_case(const char *address, const site_t *site)
{
    conn_t c;
    response_t r;
    char v[512];
    detail("listing /plain/");
    if (exchange(address, GET("/plain/"), strlen(GET("/plain/")), &c, &r, 0) ==
        0) {
        CHECK(head_is(&r, "200 OK", HTML, strlen(plain_listing), "",
                      "keep-alive"));
        CHECK(body_is(&r, plain_listing));
    }
    conn_close(&c);
    detail("listing / marks directories, symlinks followed");
    if (exchange(address, GET("/"), strlen(GET("/")), &c, &r, 0) == 0) {
        CHECK(r.status == 200);
        CHECK(find_bytes(r.body, r.body_len,
                         "<li><a href=\"a.txt\">a.txt</a></li>\n"));
        CHECK(find_bytes(r.body, r.body_len,
                         "<li><a href=\"site/\">site/</a></li>\n"));
        CHECK(!find_bytes(r.body, r.body_len, "href=\"..") &&
              !find_bytes(r.body, r.body_len, "href=\".\""));
    }
    conn_close(&c);
    detail("empty listing of /plain/sub%%20dir/");
    if (exchange(address, GET("/plain/sub%20dir/"),
                 strlen(GET("/plain/sub%20dir/")), &c, &r, 0) == 0) {
        CHECK(r.status == 200);
        CHECK(find_bytes(r.body, r.body_len, "Index of /plain/sub dir/<"));
        CHECK(find_bytes(r.body, r.body_len, "<ul>\n</ul>"));
    }
    conn_close(&c);
    detail("index.html of /site/");
    if (exchange(address, GET("/site/"), strlen(GET("/site/")), &c, &r, 0) ==
        0) {
        CHECK(head_is(&r, "200 OK", HTML, 14,
                      validators(site, "site/index.html", v, sizeof(v)),
                      "keep-alive"));
        CHECK(body_is(&r, "<h1>site</h1>\n"));
    }
    conn_close(&c);
}

static void test_directories(void)
{
    each_mode(directory_case);
}

static void types_case(const char *address, const site_t *site)
{
    (void)site;
    static const struct {
        const char *file, *type;
    } types[] = {
        {"x.html", HTML},
        {"x.htm", HTML},
        {"x.txt", TEXT},
        {"x.css", "text/css; charset=utf-8"},
        {"x.js", "text/javascript; charset=utf-8"},
        {"x.json", "application/json"},
        {"x.png", "image/png"},
        {"X.PNG", "image/png"},
        {"x.jpg", "image/jpeg"},
        {"x.jpeg", "image/jpeg"},
        {"x.gif", "image/gif"},
        {"x.svg", "image/svg+xml"},
        {"x.ico", "image/x-icon"},
        {"x.pdf", "application/pdf"},
        {"x.wasm", "application/wasm"},
        {"x.tar.gz", "application/gzip"},
        {"x.mjs", "text/javascript; charset=utf-8"},
        {"x.webp", "image/webp"},
        {"x.avif", "image/avif"},
        {"x.xml", "text/xml; charset=utf-8"},
        {"x.mp4", "video/mp4"},
        {"x.webm", "video/webm"},
        {"x.mp3", "audio/mpeg"},
        {"x.woff", "font/woff"},
        {"x.woff2", "font/woff2"},
        {"x.csv", "text/csv; charset=utf-8"},
        {"x.zip", "application/zip"},
        {"x.gz", "application/gzip"},
        {"x.md", "text/markdown; charset=utf-8"},
        {"x.map", "application/json"},
        {"noext", "application/octet-stream"},
    };
    conn_t c;
    if (conn_open(&c, address) < 0) {
        conn_close(&c);
        return;
    }
    for (size_t i = 0; i < COUNT(types); i++) {
        char request[128];
        response_t r;
        detail("type of %s", types[i].file);
        snprintf(request, sizeof(request),
                 "GET /types/%s HTTP/1.1\r\nHost: t\r\n\r\n", types[i].file);
        if (!CHECK(conn_send_str(&c, request) == 0 &&
                   conn_response(&c, &r, 0) == 0))
            break;
        CHECK(r.status == 200 && header_is(&r, "Content-Type", types[i].type));
    }
    conn_close(&c);
}

static void test_types(void)
{
    each_mode(types_case);
}

/* 300 KiB and a bit, byte for byte, and the connection goes on. */
static void big_file_case(const char *address, const site_t *site)
{
    conn_t c;
    response_t r;
    detail("GET /big.bin");
    if (conn_open(&c, address) == 0 &&
        CHECK(conn_send_str(&c, GET("/big.bin")) == 0) &&
        CHECK(conn_response(&c, &r, 0) == 0)) {
        char v[512];
        CHECK(head_is(&r, "200 OK", "application/octet-stream", BIG_SIZE,
                      validators(site, "big.bin", v, sizeof(v)), "keep-alive"));
        CHECK(r.body_len == BIG_SIZE &&
              memcmp(r.body, site->big, BIG_SIZE) == 0);
        step(&c, GET("/a.txt"), 0, 200, "hello\n");
    }
    conn_close(&c);
}

static void test_big_file(void)
{
    each_mode(big_file_case);
}

/* ---- Traversal ----------------------------------------------------------- */

typedef struct escape {
    const char *target;
    int status;
} escape_t;

static const escape_t escapes[] = {
    {"/../secret.txt", 400},
    {"/../../../../../../etc/passwd", 400},
    {"/%2e%2e/secret.txt", 400},
    {"/%2E%2E/%2E%2E/etc/passwd", 400},
    {"/%2e%2e%2fsecret.txt", 400},
    {"/..%2fsecret.txt", 400},
    {"/..%2f..%2f..%2fetc%2fpasswd", 400},
    {"/plain/../../secret.txt", 400},
    {"/./../secret.txt", 400},
    {"//../secret.txt", 400},
    {"/plain/%2e%2e/%2e%2e/secret.txt", 400},
    {"http://t/../secret.txt", 400},
    {"/..%5csecret.txt", 400},
    {"/..\\secret.txt", 400},
    {"/%2e%2e%5csecret.txt", 400},
    {"/a.txt%00.html", 400},
    {"/%00", 400},
    {"/%00../secret.txt", 400},
    {"/%252e%252e/secret.txt", 404}, /* decoded once: a name, "%2e%2e" */
    {"/%252e%252e%252fsecret.txt", 404},
    {"/%25252e%25252e/secret.txt", 404},
    {"/etclink/passwd", 404}, /* symlinks resolving outside */
    {"/etclink/", 404},
    {"/etclink", 404},
    {"/secretlink", 404},
    {"/sibling/s.txt", 404}, /* "www-secret" starts with "www" */
    {"/sibling/", 404},
};

/* Nothing from outside the root in the whole byte stream. */
static int leaks(const conn_t *c)
{
    return find_bytes(c->buf, c->len, SECRET) ||
           find_bytes(c->buf, c->len, PASSWD);
}

static void traversal_case(const char *address, const site_t *site)
{
    (void)site;
    for (size_t i = 0; i < COUNT(escapes); i++) {
        char request[256];
        conn_t c;
        response_t r;
        detail("GET %s", escapes[i].target);
        snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n",
                 escapes[i].target);
        if (exchange(address, request, strlen(request), &c, &r, 0) == 0 &&
            !CHECK(r.status == escapes[i].status))
            ts_note("expected %d, got\n%s", escapes[i].status, r.head);
        CHECK(!leaks(&c));
        conn_close(&c);
    }
}

static void test_traversal(void)
{
    each_mode(traversal_case);
}

/* ---- Conditional requests and ranges ---------------------------------------
 * Fields may name the file's own validators: {E} its ETag, {L} its
 * Last-Modified, replaced before sending. */

typedef struct cond_case {
    const char *method, *fields;
    int status;
    const char *body;  /* NULL: not checked (a status page) */
    const char *range; /* the Content-Range wanted; NULL: none */
} cond_case_t;

static const cond_case_t cond_cases[] = {
    {"GET", "If-Modified-Since: {L}\r\n", 304, "", NULL},
    {"GET", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n", 304, "",
     NULL},
    {"GET", "If-Modified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n", 200,
     "hello\n", NULL},
    {"GET", "If-Modified-Since: Friday, 01-Jan-99 00:00:00 GMT\r\n", 200,
     "hello\n", NULL},
    {"GET", "If-Modified-Since: Fri Jan  1 00:00:00 2100\r\n", 304, "", NULL},
    {"GET", "If-Modified-Since: yesterday\r\n", 200, "hello\n", NULL},
    {"GET", "If-None-Match: {E}\r\n", 304, "", NULL},
    {"GET", "If-None-Match: \"x\", W/{E}\r\n", 304, "", NULL},
    {"GET", "If-None-Match: *\r\n", 304, "", NULL},
    {"GET", "If-None-Match: \"other\"\r\n", 200, "hello\n", NULL},
    /* RFC 9110 13.2.2: If-None-Match wins over If-Modified-Since. */
    {"GET",
     "If-None-Match: \"other\"\r\n"
     "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n",
     200, "hello\n", NULL},
    {"GET",
     "If-None-Match: {E}\r\n"
     "If-Modified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n",
     304, "", NULL},
    {"HEAD", "If-None-Match: {E}\r\n", 304, "", NULL},
    {"GET", "Range: bytes=0-2\r\n", 206, "hel", "bytes 0-2/6"},
    {"GET", "Range: bytes=3-\r\n", 206, "lo\n", "bytes 3-5/6"},
    {"GET", "Range: bytes=-2\r\n", 206, "o\n", "bytes 4-5/6"},
    {"GET", "Range: bytes=2-100\r\n", 206, "llo\n", "bytes 2-5/6"},
    {"GET", "Range: bytes=-100\r\n", 206, "hello\n", "bytes 0-5/6"},
    {"GET", "Range: bytes=6-\r\n", 416, NULL, "bytes */6"},
    {"GET", "Range: bytes=-0\r\n", 416, NULL, "bytes */6"},
    {"GET", "Range: bytes=0-0,2-2\r\n", 200, "hello\n", NULL}, /* whole */
    {"GET", "Range: bytes=5-1\r\n", 200, "hello\n", NULL},     /* ignored */
    {"GET", "Range: items=0-1\r\n", 200, "hello\n", NULL},
    {"HEAD", "Range: bytes=0-2\r\n", 200, "", NULL},
    {"GET", "Range: bytes=0-2\r\nIf-Range: {E}\r\n", 206, "hel", "bytes 0-2/6"},
    {"GET", "Range: bytes=0-2\r\nIf-Range: {L}\r\n", 206, "hel", "bytes 0-2/6"},
    {"GET", "Range: bytes=0-2\r\nIf-Range: \"other\"\r\n", 200, "hello\n",
     NULL},
    {"GET", "Range: bytes=0-2\r\nIf-Range: Mon, 01 Jan 1990 00:00:00 GMT\r\n",
     200, "hello\n", NULL},
    {"GET", "Range: bytes=0-2\r\nIf-None-Match: {E}\r\n", 304, "", NULL},
};

/* fields with {E} and {L} replaced by etag and date. */
static void expand(char *out, size_t cap, const char *fields, const char *etag,
                   const char *date)
{
    size_t n = 0;
    for (const char *p = fields; *p && n + 1 < cap; p++) {
        const char *with = strncmp(p, "{E}", 3) == 0   ? etag
                           : strncmp(p, "{L}", 3) == 0 ? date
                                                       : NULL;
        if (with) {
            n += (size_t)snprintf(out + n, cap - n, "%s", with);
            p += 2;
        } else {
            out[n++] = *p;
        }
        if (n >= cap)
            n = cap - 1;
    }
    out[n] = '\0';
}

/* One case on the open connection c: its status, body and fields. */
static int cond_one(conn_t *c, const cond_case_t *cc, const char *etag,
                    const char *date)
{
    char fields[512], request[1024], value[128];
    response_t r;
    expand(fields, sizeof(fields), cc->fields, etag, date);
    snprintf(request, sizeof(request),
             "%s /a.txt HTTP/1.1\r\nHost: t\r\n%s\r\n", cc->method, fields);
    int head_only = strcmp(cc->method, "HEAD") == 0;
    if (!CHECK(conn_send_str(c, request) == 0) ||
        !CHECK(conn_response(c, &r, head_only) == 0))
        return 0;
    if (!CHECK(r.status == cc->status))
        ts_note("expected %d, got\n%s", cc->status, r.head);
    if (cc->body)
        CHECK(body_is(&r, cc->body));
    if (cc->range)
        CHECK(header_is(&r, "Content-Range", cc->range));
    else
        CHECK(!header(&r, "Content-Range", value, sizeof(value)));
    if (cc->status == 304) /* the validators, and no body described */
        CHECK(header_is(&r, "ETag", etag) &&
              header_is(&r, "Last-Modified", date) &&
              !header(&r, "Content-Length", value, sizeof(value)) &&
              !header(&r, "Content-Type", value, sizeof(value)));
    if (cc->status == 200 || cc->status == 206)
        CHECK(header_is(&r, "Accept-Ranges", "bytes"));
    return 1;
}

static void conditional_case(const char *address, const site_t *site)
{
    (void)site;
    conn_t c;
    response_t r;
    char etag[128], date[128];
    detail("GET /a.txt: its validators");
    if (conn_open(&c, address) < 0 ||
        !CHECK(conn_send_str(&c, GET("/a.txt")) == 0) ||
        !CHECK(conn_response(&c, &r, 0) == 0) ||
        !CHECK(header(&r, "ETag", etag, sizeof(etag)) &&
               header(&r, "Last-Modified", date, sizeof(date)))) {
        conn_close(&c);
        return;
    }
    int ok = 1;
    for (size_t i = 0; ok && i < COUNT(cond_cases); i++) {
        detail("%s %s", cond_cases[i].method, cond_cases[i].fields);
        ok = cond_one(&c, &cond_cases[i], etag, date);
    }
    detail("the connection goes on after them all");
    if (ok)
        CHECK(step(&c, GET("/a.txt"), 0, 200, "hello\n") && conn_quiet(&c));
    conn_close(&c);
}

static void test_conditional(void)
{
    each_mode(conditional_case);
}

/* Ranges of the 300 KiB file: past the bytes that ride with the head,
 * from an offset (sendfile or reads), and a suffix. */
static void big_range_case(const char *address, const site_t *site)
{
    static const struct {
        const char *range;
        long long first, last;
    } ranges[] = {
        {"100000-200000", 100000, 200000},
        {"16000-", 16000, BIG_SIZE - 1},
        {"-70000", BIG_SIZE - 70000, BIG_SIZE - 1},
        {"0-", 0, BIG_SIZE - 1},
    };
    conn_t c;
    if (conn_open(&c, address) < 0) {
        conn_close(&c);
        return;
    }
    for (size_t i = 0; i < COUNT(ranges); i++) {
        char request[256], want[128];
        response_t r;
        long long n = ranges[i].last - ranges[i].first + 1;
        detail("GET /big.bin bytes=%s", ranges[i].range);
        snprintf(request, sizeof(request),
                 "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=%s\r\n\r\n",
                 ranges[i].range);
        snprintf(want, sizeof(want), "bytes %lld-%lld/%d", ranges[i].first,
                 ranges[i].last, BIG_SIZE);
        if (!CHECK(conn_send_str(&c, request) == 0) ||
            !CHECK(conn_response(&c, &r, 0) == 0))
            break;
        CHECK(r.status == 206 && header_is(&r, "Content-Range", want));
        CHECK(r.body_len == (size_t)n &&
              memcmp(r.body, site->big + ranges[i].first, (size_t)n) == 0);
    }
    conn_close(&c);
}

static void test_big_ranges(void)
{
    each_mode(big_range_case);
}

/* ---- Dot segments -------------------------------------------------------- */

static const escape_t inside[] = {
    {"/plain/../a.txt", 200},
    {"/missing/../a.txt", 200}, /* lexical, as Python and nginx */
    {"/plain/./b.txt", 200},
    {"/plain/%2e%2e/a.txt", 200},
    {"/plain/sub%20dir/../../a.txt", 200},
    {"http://t/plain/../a.txt", 200},
    {"/plain/b.txt/../../a.txt", 200},
    {"/links/up", 200},           /* ../a.txt */
    {"/links/via", 200},          /* dir/../a.txt, dir being ../plain */
    {"/links/dir/../a.txt", 404}, /* the URL's ".." is lexical: links/a.txt */
    {"/links/out", 404},          /* ../../secret.txt */
    {"/links/abs", 404},          /* /etc/passwd */
    {"/links/loop", 404},
    {"/plain/../../a.txt", 400},
    {"/plain/../../www/a.txt", 400},
};

static void dot_segments_case(const char *address, const site_t *site)
{
    (void)site;
    for (size_t i = 0; i < COUNT(inside); i++) {
        char request[256];
        conn_t c;
        response_t r;
        detail("GET %s", inside[i].target);
        snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n",
                 inside[i].target);
        if (exchange(address, request, strlen(request), &c, &r, 0) == 0) {
            if (!CHECK(r.status == inside[i].status))
                ts_note("expected %d, got\n%s", inside[i].status, r.head);
            if (inside[i].status == 200 && !strstr(inside[i].target, "b.txt\0"))
                CHECK(body_is(&r, "hello\n"));
        }
        CHECK(!leaks(&c));
        conn_close(&c);
    }
    conn_t c;
    detail("GET /plain/./b.txt");
    if (conn_open(&c, address) == 0)
        step(&c, GET("/plain/./b.txt"), 0, 200, "b\n");
    conn_close(&c);
}

static void test_dot_segments(void)
{
    each_mode(dot_segments_case);
}

/* ---- Opening beneath the root: openat2 and the walk ---------------------- */

typedef int (*open_fn)(int root_fd, const char *path, int *fd);

static void open_cases(const site_t *site, open_fn open_it, const char *how)
{
    static const struct {
        const char *path;
        const char *text; /* its first bytes; "" a directory; NULL refused */
    } cases[] = {
        {"a.txt", "hello\n"},
        {"inner", "hello\n"},
        {"links/up", "hello\n"},
        {"links/via", "hello\n"},
        {"links/dir/b.txt", "b\n"},
        {"links/dir", ""},
        {"", ""},
        {"plain", ""},
        {"links/out", NULL},
        {"links/abs", NULL},
        {"links/loop", NULL},
        {"etclink/passwd", NULL},
        {"etclink", NULL},
        {"secretlink", NULL},
        {"sibling/s.txt", NULL},
        {"missing", NULL},
        {"a.txt/x", NULL},
    };
    int root_fd = open(site->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!CHECK(root_fd >= 0))
        return;
    for (size_t i = 0; i < COUNT(cases); i++) {
        int fd = -1;
        snprintf(ts_where, sizeof(ts_where), "%s, \"%s\"", how, cases[i].path);
        int rc = open_it(root_fd, cases[i].path, &fd);
        if (!cases[i].text) {
            if (!CHECK(rc < 0))
                close(fd);
            continue;
        }
        if (!CHECK(rc == 0))
            continue;
        char buf[64] = "";
        struct stat st;
        if (cases[i].text[0] && CHECK(fstat(fd, &st) == 0))
            CHECK(read(fd, buf, sizeof(buf) - 1) ==
                      (ssize_t)strlen(cases[i].text) &&
                  strcmp(buf, cases[i].text) == 0);
        else
            CHECK(fstat(fd, &st) == 0 && S_ISDIR(st.st_mode));
        close(fd);
    }
    close(root_fd);
}

/* Both ways, whatever the build: the fast path where the kernel has it
 * (else it is the walk again), and the walk NO_FASTPATH=1 builds. */
static void test_open_beneath(void)
{
    site_t site;
    snprintf(ts_where, sizeof(ts_where), "creating the tree");
    if (CHECK(site_create(&site) == 0)) {
        open_cases(&site, http_open_beneath, "http_open_beneath");
        open_cases(&site, http_open_walk, "http_open_walk");
    }
    site_remove(&site);
}

/* ---- The open-file cache ------------------------------------------------- */

/* GET path on c until its body is want, for up to 2.5 s: a cached copy
 * may be served for a second after the file changed, not longer. */
static int becomes(conn_t *c, const char *path, int status, const char *want)
{
    char request[256];
    snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n",
             path);
    long long until = ts_now_ms() + 2500;
    for (;;) {
        response_t r;
        if (conn_send_str(c, request) < 0 || conn_response(c, &r, 0) < 0)
            return 0;
        if (r.status == status &&
            (!want || (r.body_len == strlen(want) &&
                       memcmp(r.body, want, r.body_len) == 0)))
            return 1;
        if (ts_now_ms() > until)
            return 0;
        poll(NULL, 0, 100);
    }
}

static void cache_case(const char *address, const site_t *site)
{
    char path[256];
    conn_t c;
    snprintf(path, sizeof(path), "%s/mut.txt", site->root);
    if (!CHECK(write_file(path, "one\n", 4) == 0) ||
        conn_open(&c, address) < 0) {
        conn_close(&c);
        return;
    }
    detail("cached, then rewritten longer");
    CHECK(becomes(&c, "/mut.txt", 200, "one\n"));
    CHECK(becomes(&c, "/mut.txt", 200, "one\n")); /* from the cache */
    CHECK(write_file(path, "changed\n", 8) == 0);
    CHECK(becomes(&c, "/mut.txt", 200, "changed\n"));
    detail("rewritten, same size");
    CHECK(write_file(path, "CHANGED\n", 8) == 0);
    CHECK(becomes(&c, "/mut.txt", 200, "CHANGED\n"));
    detail("deleted");
    unlink(path);
    CHECK(becomes(&c, "/mut.txt", 404, NULL));
    conn_close(&c);
}

static void test_cache(void)
{
    each_mode(cache_case);
}

/* ---- curl against the CLI ------------------------------------------------ */

/* curl's output for args against address: 0 and out, or -1. */
static int curl(const char *address, const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "curl -s --max-time 5 %s 2>/dev/null", args);
    char *at = strstr(cmd, "ADDR");
    if (at) { /* ADDR stands for the server's address */
        char rest[1024];
        snprintf(rest, sizeof(rest), "%s", at + 4);
        snprintf(at, sizeof(cmd) - (size_t)(at - cmd), "%s%s", address, rest);
    }
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    return pclose(p) == 0 ? 0 : -1;
}

/* curl's -r, -z and --path-as-is behave as with nginx.  Skipped (passing)
 * without curl. */
static void test_curl(void)
{
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"-r 0-2 http://ADDR/a.txt", "hel"},
        {"-r -2 http://ADDR/a.txt", "o\n"},
        {"-o /dev/null -w %{http_code} -r 100- http://ADDR/a.txt", "416"},
        {"-o /dev/null -w %{http_code} -z 'Fri, 01 Jan 2100 00:00:00 GMT' "
         "http://ADDR/a.txt",
         "304"},
        {"-o /dev/null -w %{http_code} -z 'Mon, 01 Jan 1990 00:00:00 GMT' "
         "http://ADDR/a.txt",
         "200"},
        {"--path-as-is http://ADDR/plain/../a.txt", "hello\n"},
        {"-o /dev/null -w %{http_code} --path-as-is http://ADDR/../secret.txt",
         "400"},
        {"-o /dev/null -w %{redirect_url} 'http://ADDR/plain?x=1'",
         "/plain/?x=1"},
    };
    snprintf(ts_where, sizeof(ts_where), "curl");
    if (system("curl --version >/dev/null 2>&1") != 0) {
        ts_note("curl is not installed: skipped");
        return;
    }
    site_t site;
    cli_proc_t p;
    const char *args[] = {"--handler", "http",        "--root", NULL,
                          "--listen",  "127.0.0.1:0", NULL};
    if (CHECK(site_create(&site) == 0)) {
        args[3] = site.root;
        if (CHECK(ts_cli_start(&p, args, 1) == 0)) {
            for (size_t i = 0; i < COUNT(cases); i++) {
                char out[512];
                snprintf(ts_where, sizeof(ts_where), "curl %s", cases[i].args);
                int rc = curl(p.address, cases[i].args, out, sizeof(out));
                size_t n = strlen(out), k = strlen(cases[i].want);
                /* exactly want; a redirect's URL ends with it */
                int match =
                    cases[i].want[0] == '/'
                        ? n >= k && strcmp(out + n - k, cases[i].want) == 0
                        : strcmp(out, cases[i].want) == 0;
                if (!CHECK(rc == 0 && match))
                    ts_note("expected \"%s\", got \"%s\"", cases[i].want, out);
            }
            kill(p.pid, SIGTERM);
            CHECK(ts_cli_wait(&p, 15000) == 0);
        }
    }
    site_remove(&site);
}

/* ---- Malformed bytes over sockets ---------------------------------------- */

/* bytes on a new connection, then EOF: want 0 means no response at all,
 * else that one status page (-1: any of 400/414/431/501/505), then EOF. */
static void malformed_one(const char *address, const char *bytes, size_t len,
                          int want)
{
    conn_t c;
    response_t r;
    if (conn_open(&c, address) < 0 || !CHECK(conn_send(&c, bytes, len) == 0)) {
        conn_close(&c);
        return;
    }
    shutdown(c.fd, SHUT_WR);
    ssize_t n;
    while ((n = conn_fill(&c)) > 0) {
    }
    if (CHECK(n == 0) && c.len == 0) /* EOF, not a timeout */
        CHECK(want <= 0);
    else if (c.len > 0 && CHECK(conn_response(&c, &r, 0) == 0)) {
        int any = r.status == 400 || r.status == 414 || r.status == 431 ||
                  r.status == 501 || r.status == 505;
        if (!CHECK(want < 0 ? any : r.status == want))
            ts_note("expected %d, got\n%s", want, r.head);
        CHECK(c.used == c.len); /* one response, nothing after it */
    }
    conn_close(&c);
}

static void malformed_case(const char *address, const site_t *site)
{
    (void)site;
    corpus_file_t files[64];
    size_t n = load_corpus(files, COUNT(files));
    CHECK(n >= 30);
    for (size_t i = 0; i < n; i++) {
        detail("corpus %.100s", files[i].name);
        int want =
            strncmp(files[i].name, "close-", 6) == 0 ? 0 : atoi(files[i].name);
        malformed_one(address, files[i].data, files[i].len, want);
    }
    free_corpus(files, n);
    uint32_t seed = 88172645u;
    for (int i = 0; i < 20; i++) {
        char noise[700];
        size_t len = 1 + next_random(&seed) % sizeof(noise);
        for (size_t k = 0; k < len; k++)
            noise[k] = (char)next_random(&seed);
        detail("random bytes %d", i);
        malformed_one(address, noise, len, -1);
    }
    conn_t c;
    detail("still serving");
    if (conn_open(&c, address) == 0)
        step(&c, GET("/a.txt"), 0, 200, "hello\n");
    conn_close(&c);
}

static void test_malformed(void)
{
    each_mode(malformed_case);
}

/* ---- Timeouts, options, the CLI ------------------------------------------ */

/* With --timeout 300 ms an idle connection (before a request, and between
 * keep-alive requests) is closed in about that time. */
static void test_idle_timeout(void)
{
    site_t site;
    snprintf(ts_where, sizeof(ts_where), "idle timeout");
    if (!CHECK(site_create(&site) == 0)) {
        site_remove(&site);
        return;
    }
    for (size_t m = 0; m < TS_NMODES; m++) {
        test_server_t ts;
        conn_t c;
        snprintf(ts_where, sizeof(ts_where), "%s, idle timeout", ts_modes[m]);
        if (!start(&ts, ts_modes[m], &site, 300))
            continue;
        for (int served = 0; served < 2; served++) {
            if (conn_open(&c, ts.address) < 0)
                break;
            long long t0 = ts_now_ms();
            if (!served || step(&c, GET("/a.txt"), 0, 200, "hello\n")) {
                CHECK(conn_eof(&c));
                long long waited = ts_now_ms() - t0;
                CHECK(waited >= 250 && waited < 3000);
            }
            conn_close(&c);
        }
        ts_stop(&ts);
    }
    site_remove(&site);
}

static int create_fails(const ss_option_value_t *opts, int datagram,
                        const char *message)
{
    ss_config_t cfg;
    ss_server_t *srv = NULL;
    char err[256] = "";
    ts_config(&cfg, datagram ? TS_UDP4 : TS_TCP4, "thread", &ss_handler_http);
    cfg.options = opts;
    int rc = ss_server_create(&srv, &cfg, err, sizeof(err));
    if (rc == 0)
        ss_server_close(srv);
    if (rc == -EINVAL && strstr(err, message))
        return 1;
    ts_note("rc %d, message \"%s\", expected \"%s\"", rc, err, message);
    return 0;
}

static void test_open_checks(void)
{
    site_t site;
    snprintf(ts_where, sizeof(ts_where), "open");
    if (CHECK(site_create(&site) == 0)) {
        ss_option_value_t opts[] = {{"root", "/nonexistent/ss-http-root"},
                                    {NULL, NULL}};
        CHECK(create_fails(opts, 0,
                           "http: --root /nonexistent/ss-http-root: No such "
                           "file or directory"));
        char file[128];
        snprintf(file, sizeof(file), "%s/a.txt", site.root);
        opts[0].value = file;
        CHECK(create_fails(opts, 0, "Not a directory"));
        CHECK(create_fails(site.opts, 1, "http: needs a stream socket"));
    }
    site_remove(&site);
}

static void test_cli(void)
{
    site_t site;
    snprintf(ts_where, sizeof(ts_where), "cli");
    if (CHECK(site_create(&site) == 0)) {
        cli_proc_t p;
        const char *args[] = {"--handler", "http",        "--root", site.root,
                              "--listen",  "127.0.0.1:0", NULL};
        if (CHECK(ts_cli_start(&p, args, 1) == 0)) {
            conn_t c;
            if (conn_open(&c, p.address) == 0)
                step(&c, GET("/a.txt"), 0, 200, "hello\n");
            conn_close(&c);
            kill(p.pid, SIGTERM);
            CHECK(ts_cli_wait(&p, 15000) == 0);
        }
        const char *bad[] = {
            "--handler", "http",        "--root", "/nonexistent/x",
            "--listen",  "127.0.0.1:0", NULL};
        if (CHECK(ts_cli_start(&p, bad, 0) == 0)) {
            CHECK(ts_cli_wait(&p, 5000) == 1);
            CHECK(strstr(p.errtext, "--root /nonexistent/x") != NULL);
        }
    }
    site_remove(&site);
}

void register_http_tests(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"parser: fields, flags, lengths", test_parser_fields},
        {"parser: bare LF accepted, pipelined heads", test_parser_line_ends},
        {"parser: every prefix of a valid head is incomplete",
         test_parser_prefixes},
        {"parser: malformed heads get 400, 501 or 505", test_parser_malformed},
        {"parser: hosts as RFC 9110 has them; chunked", test_parser_good_hosts},
        {"parser: 414 and 431 at the exact limits", test_parser_limits},
        {"parser: never incomplete at HTTP_MAX_REQUEST_BYTES",
         test_parser_bounded},
        {"parser: 120000 random and mutated inputs", test_parser_random},
        {"parser: the corpus and all its prefixes", test_parser_corpus},
        {"GET: exact head and body, every mode", test_get_file},
        {"keep-alive: sequential, pipelined, split, then close",
         test_keep_alive},
        {"HEAD: GET's head without the body", test_head},
        {"Connection: close, HTTP/1.0, bare LF", test_connection},
        {"status codes 301 400 404 405 414 431 505, exact heads",
         test_status_codes},
        {"directories: escaped listing, index.html", test_directories},
        {"Content-Type by extension", test_types},
        {"a 300 KiB file byte for byte, in chunks", test_big_file},
        {"traversal: nothing outside the root, ever", test_traversal},
        {"304 and 206/416: If-Modified-Since, If-None-Match, Range, If-Range",
         test_conditional},
        {"ranges of a 300 KiB file, from any offset", test_big_ranges},
        {"dot segments resolved inside the root, 400 above it",
         test_dot_segments},
        {"opening beneath the root: openat2 and the walk refuse escapes",
         test_open_beneath},
        {"the open-file cache sees a changed or deleted file within 1 s",
         test_cache},
        {"curl -r, -z, --path-as-is (skipped without curl)", test_curl},
        {"malformed corpus and noise: an error or a clean close",
         test_malformed},
        {"idle connections closed after the timeout", test_idle_timeout},
        {"open refuses a bad --root and --udp", test_open_checks},
        {"the CLI serves --root", test_cli},
    };
    CU_pSuite suite = ts_suite("http");
    for (size_t i = 0; suite && i < COUNT(tests); i++)
        CU_add_test(suite, tests[i].name, tests[i].fn);
}
