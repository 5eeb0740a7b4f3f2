/* poetry -- seed 000's slow poetry server.  Each connection gets a poem one
 * line at a time, each line whole with its "\n", with --delay MS (default
 * 500) between lines; then the connection closes.  The poem is a built-in
 * one (Li Bai's 静夜思, UTF-8) or the file given by --poem, loaded once
 * when the server opens (at most 1 MiB; a missing "\n" after the last line
 * is added).
 *
 * Being slow on purpose, it shows what a mode is worth: sync serves the
 * clients one poem after another, fork and thread all at once.
 *
 * Over UDP (and Unix datagrams) each datagram gets ONE reply: the first
 * line only, cut to at most POETRY_MAX_DGRAM_REPLY bytes (at a UTF-8
 * character boundary).  A whole poem for a tiny, possibly spoofed
 * datagram would make the server a reflection amplifier. */
#include "handlers.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POETRY_DEFAULT_DELAY_MS 500
#define POETRY_MAX_DELAY_MS 3600000
#define POETRY_MAX_FILE (1024 * 1024)
#define POETRY_MAX_DGRAM_REPLY 512

/* A poem: text of len bytes whose last byte is '\n'. */
typedef struct poem {
    const char *text;
    size_t len;
} poem_t;

static const char builtin_text[] = "床前明月光，\n"
                                   "疑是地上霜。\n"
                                   "举头望明月，\n"
                                   "低头思故乡。\n";
static const poem_t builtin_poem = {builtin_text, sizeof(builtin_text) - 1};

/* ---- Loading --poem FILE (server side, in .open) ------------------------ */

/* Every failure names the file and the reason, for the CLI to print. */
static int poem_error(char *err, size_t errlen, int rc, const char *path,
                      const char *reason)
{
    if (err && errlen)
        snprintf(err, errlen, "poetry: poem file '%s': %s", path, reason);
    return rc;
}

/* Read len bytes (fewer if the file shrank): the count, or -errno.  Plain
 * read() is right here: .open runs in the server, not in a request. */
static ssize_t read_fully(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* The file's size, once it is known to be a regular file under the cap
 * (so a FIFO or /dev/zero cannot hang or exhaust the server). */
static int poem_file_size(int fd, const char *path, size_t *size, char *err,
                          size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return poem_error(err, errlen, -errno, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return poem_error(err, errlen, -EINVAL, path, "not a regular file");
    if (st.st_size > POETRY_MAX_FILE)
        return poem_error(err, errlen, -EFBIG, path,
                          "larger than the 1 MiB limit");
    *size = (size_t)st.st_size;
    return 0;
}

/* One allocation holds the poem and its text; the text gets a final "\n"
 * when the file's last line has none. */
static int poem_read(int fd, const char *path, size_t size, poem_t **out,
                     char *err, size_t errlen)
{
    poem_t *p = malloc(sizeof(*p) + size + 1);
    if (!p)
        return poem_error(err, errlen, -ENOMEM, path, "out of memory");
    char *text = (char *)(p + 1);
    ssize_t n = read_fully(fd, text, size);
    if (n < 0) {
        free(p);
        return poem_error(err, errlen, (int)n, path, strerror((int)-n));
    }
    if (n == 0) {
        free(p);
        return poem_error(err, errlen, -EINVAL, path, "empty file");
    }
    if (text[n - 1] != '\n')
        text[n++] = '\n';
    p->text = text;
    p->len = (size_t)n;
    *out = p;
    return 0;
}

/* .open: load --poem when the server opens, and again on each reload
 * (HUP with --workers: the new workers recite the file as it is now). */
static int poetry_open(ss_server_t *srv, char *err, size_t errlen)
{
    const char *path = ss_server_option(srv, "poem");
    long delay = 0;
    if (handler_option_int(srv, "delay", 0, POETRY_MAX_DELAY_MS, &delay) < 0) {
        snprintf(err, errlen, "poetry: --delay %s: expected 0 to %d ms",
                 ss_server_option(srv, "delay"), POETRY_MAX_DELAY_MS);
        return -EINVAL;
    }
    if (!path)
        return 0; /* the built-in poem */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return poem_error(err, errlen, -errno, path, strerror(errno));
    size_t size = 0;
    poem_t *p = NULL;
    int rc = poem_file_size(fd, path, &size, err, errlen);
    if (rc == 0)
        rc = poem_read(fd, path, size, &p, err, errlen);
    close(fd);
    if (rc == 0)
        ss_server_set_handler_data(srv, p);
    return rc;
}

/* The loaded poem, if any, is one allocation: the text follows it. */
static void poetry_close(ss_server_t *srv)
{
    free(ss_server_handler_data(srv));
    ss_server_set_handler_data(srv, NULL);
}

/* ---- Reciting (per request) --------------------------------------------- */

static const poem_t *poem_of(const ss_request_t *req)
{
    const poem_t *p = ss_handler_data(req);
    return p ? p : &builtin_poem;
}

static unsigned delay_of(const ss_request_t *req)
{
    long delay = POETRY_DEFAULT_DELAY_MS; /* open checked the value */
    handler_option_int(ss_request_server(req), "delay", 0, POETRY_MAX_DELAY_MS,
                       &delay);
    return (unsigned)delay;
}

/* Length of the line at text, its "\n" included. */
static size_t line_length(const char *text, size_t left)
{
    const char *nl = memchr(text, '\n', left);
    return nl ? (size_t)(nl - text) + 1 : left;
}

/* A stream gets every line, paced by ss_sleep so that an event mode can
 * run other requests meanwhile; a failed sleep (timeout, or the server
 * stopping) ends the poem there. */
static int recite(ss_request_t *req, const poem_t *p, unsigned delay)
{
    for (size_t off = 0; off < p->len;) {
        int rc = off > 0 ? ss_sleep(req, delay) : 0;
        size_t n = line_length(p->text + off, p->len - off);
        if (rc == 0)
            rc = ss_send_all(req, p->text + off, n);
        if (rc < 0)
            return rc;
        off += n;
    }
    return 0;
}

/* Cut text to at most max bytes without splitting a UTF-8 character:
 * back off while the first byte left out is a continuation byte. */
static size_t utf8_cut(const char *text, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)text[max] & 0xC0) == 0x80)
        max--;
    return max;
}

static int poetry_handle(ss_request_t *req)
{
    const poem_t *p = poem_of(req);
    if (!ss_is_datagram(req))
        return recite(req, p, delay_of(req));
    size_t first = line_length(p->text, p->len);
    return ss_reply(req, p->text,
                    utf8_cut(p->text, first, POETRY_MAX_DGRAM_REPLY));
}

static const ss_handler_option_t poetry_options[] = {
    {.name = "delay",
     .meta = "MS",
     .help = "pause between lines (default 500)",
     .type = SS_OPTION_INT,
     .lo = 0,
     .hi = POETRY_MAX_DELAY_MS},
    {.name = "poem",
     .meta = "FILE",
     .help = "serve this file (default a built-in poem)"},
    {0}};

const ss_handler_t ss_handler_poetry = {
    .name = "poetry",
    .summary = "sends a poem line by line, --delay MS apart (seed 000)",
    .handle = poetry_handle,
    .open = poetry_open,
    .close = poetry_close,
    .timeout_ms = HANDLER_TIMEOUT_TALK_MS,
    .options = poetry_options,
};
