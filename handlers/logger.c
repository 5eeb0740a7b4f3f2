/* logger -- seed 001's select server and Twisted's SimpleLogger with a
 * LineReceiver: sends nothing, logs to STANDARD OUTPUT
 *
 *     HOST:PORT connected
 *     HOST:PORT: LINE              each line, without its \n or \r\n
 *     HOST:PORT disconnected       end of file, reset, timeout or stop
 *
 * Over datagrams there is no connection: each line of each datagram is
 * logged, and nothing else.
 *
 * A line over LOGGER_MAX_LINE bytes is logged cut to that length followed
 * by LOGGER_CUT_MARK, and the rest of it is skipped.  Control characters
 * (other than tab) become '?', so that a client cannot forge log lines
 * with a bare \r or drive a terminal with escapes; UTF-8 passes as is.
 *
 * Each log line is ONE write(2) to descriptor 1 -- standard output, not a
 * client socket, so the request functions do not apply.  Lines from
 * threads and from fork children must not interleave: a pipe writes up to
 * PIPE_BUF bytes (4096 on Linux, the bound below) atomically, hence the
 * line cap, which keeps every log line within it.  A stdio stream would
 * only be locked within one process. */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOGGER_PEER_MAX 120  /* longest "HOST:PORT" kept (unix: paths) */
#define LOGGER_MAX_LINE 3840 /* longest line text logged whole */
#define LOGGER_CUT_MARK " [truncated]"
#define LOGGER_ATOMIC_MAX 4096 /* PIPE_BUF on Linux */

/* The read area holds the line with "\r\n" and the NUL; a log line holds
 * the peer, ": ", the text, the mark and "\n" (in the mark's NUL byte). */
#define LOGGER_READ_CAP (LOGGER_MAX_LINE + 3)
#define LOGGER_RECORD_CAP                                                      \
    (LOGGER_PEER_MAX + 2 + LOGGER_MAX_LINE + sizeof(LOGGER_CUT_MARK))
_Static_assert(LOGGER_RECORD_CAP <= LOGGER_ATOMIC_MAX,
               "a log line must fit in one atomic pipe write");
_Static_assert(LOGGER_READ_CAP <= LOGGER_MAX_LINE + sizeof(LOGGER_CUT_MARK),
               "the read area must fit in the log line");

/* Per request: the peer prefix, then the line is read right after it, so
 * a log line is built in place. */
typedef struct logger_state {
    size_t prefix_len; /* strlen("HOST:PORT: ") */
    char record[LOGGER_RECORD_CAP];
} logger_state_t;

/* One write for the whole line (a partial one, possible only when it is
 * interrupted, is finished rather than lost).  A failure to log is not the
 * client's fault, so it is not reported to the request. */
static void log_write(const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

/* "HOST:PORT connected" and "HOST:PORT disconnected". */
static void log_event(ss_request_t *req, const char *event)
{
    char line[LOGGER_PEER_MAX + 32];
    int n = snprintf(line, sizeof(line), "%.*s %s\n", LOGGER_PEER_MAX,
                     ss_peer(req), event);
    if (n > 0)
        log_write(line,
                  (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Drop the "\n" or "\r\n" terminator; make control characters '?'. */
static size_t clean_line(char *text, size_t len)
{
    if (len > 0 && text[len - 1] == '\n')
        len--;
    if (len > 0 && text[len - 1] == '\r')
        len--;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            text[i] = '?';
    }
    return len;
}

/* Log the len bytes read after the prefix, cut when too long. */
static void log_line(logger_state_t *st, size_t len)
{
    char *text = st->record + st->prefix_len;
    len = clean_line(text, len);
    int cut = len > LOGGER_MAX_LINE;
    if (cut) {
        len = LOGGER_MAX_LINE;
        memcpy(text + len, LOGGER_CUT_MARK, sizeof(LOGGER_CUT_MARK) - 1);
        len += sizeof(LOGGER_CUT_MARK) - 1;
    }
    text[len++] = '\n';
    log_write(st->record, st->prefix_len + len);
}

/* Consume the rest of a line already logged as cut: 0 once its "\n" (or
 * the end of file) is read, <0 error. */
static int skip_rest_of_line(ss_request_t *req, logger_state_t *st)
{
    char *area = st->record + st->prefix_len;
    for (;;) {
        ssize_t n = ss_read_line(req, area, LOGGER_READ_CAP);
        if (n == -EMSGSIZE)
            continue;
        if (n <= 0)
            return (int)n;
        if (area[n - 1] == '\n')
            return 0;
    }
}

/* connectionMade: the state, and the "connected" line for a stream. */
static int logger_setup(ss_request_t *req)
{
    logger_state_t *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    int n = snprintf(st->record, LOGGER_PEER_MAX + 3, "%.*s: ", LOGGER_PEER_MAX,
                     ss_peer(req));
    st->prefix_len = n > 0 ? (size_t)n : 0;
    ss_set_data(req, st);
    if (!ss_is_datagram(req))
        log_event(req, "connected");
    return 0;
}

/* lineReceived, until the end of file or an error. */
static int logger_handle(ss_request_t *req)
{
    logger_state_t *st = ss_data(req);
    char *area = st->record + st->prefix_len;
    for (;;) {
        ssize_t n = ss_read_line(req, area, LOGGER_READ_CAP);
        int too_long = n == -EMSGSIZE;
        if (too_long)
            n = LOGGER_READ_CAP - 1;
        if (n <= 0)
            return (int)n;
        log_line(st, (size_t)n);
        int rc = too_long ? skip_rest_of_line(req, st) : 0;
        if (rc < 0)
            return rc;
    }
}

/* connectionLost: runs whatever ended the connection. */
static void logger_finish(ss_request_t *req)
{
    logger_state_t *st = ss_data(req);
    if (!st)
        return; /* setup failed: nothing was logged */
    if (!ss_is_datagram(req))
        log_event(req, "disconnected");
    free(st);
    ss_set_data(req, NULL);
}

const ss_handler_t ss_handler_logger = {
    .name = "logger",
    .summary = "logs connections and each line received to stdout (seed 001)",
    .setup = logger_setup,
    .handle = logger_handle,
    .finish = logger_finish,
    .timeout_ms = 0, /* none: see handlers.h */
};
