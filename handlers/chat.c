/* chat -- seed 001's chat room: every client of one server shares a room.
 * Each line a client sends goes to every other client as "NAME: LINE";
 * /nick NAME renames, /who lists the room, /quit leaves; joins, leaves and
 * renames are announced as "* ..." lines.  A client's name is its address
 * until it picks one.
 *
 * A sender never waits on another client's socket: it appends to the
 * others' outbound queues (bounded; a client whose queue overflows is too
 * slow and is disconnected) and wakes each one's handler with a byte on
 * its socketpair.  Each handler waits on two things at once, its client
 * (a line to read, room to write) and its socketpair (mail), and drains
 * its own queue to its own client.  The room's mutex guards the list and
 * the queues, and is never held across socket I/O.
 *
 * One room needs one process: the server refuses multi-process modes. */
#include "handlers.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHAT_LINE_MAX 1024   /* bytes in a line, without its \r\n */
#define CHAT_NICK_MAX 32     /* bytes in a chosen name */
#define CHAT_NAME_CAP 128    /* room for a default name (an address) */
#define CHAT_QUEUE_MAX 65536 /* undelivered bytes before "too slow" */
#define CHAT_CHUNK 4096      /* bytes sent per writable wake-up */
#define CHAT_WHO_MAX 8192    /* longest /who answer */
#define CHAT_SNDBUF 65536    /* kernel send buffer per client, see below */
#define CHAT_NOTICE_MAX (2 * CHAT_NAME_CAP + 64)

/* How a session ends; errors are negative errno values. */
enum { CHAT_ON = 0, CHAT_QUIT, CHAT_EOF, CHAT_KICKED };

static const char welcome_fmt[] =
    "* welcome, %s: /nick NAME renames you, /who lists the room, "
    "/quit leaves\n";
static const char too_long_notice[] =
    "* line too long (over 1024 bytes): not sent\n";
static const char nick_usage[] =
    "* usage: /nick NAME (1 to 32 bytes, no spaces or control "
    "characters)\n";
static const char unknown_notice[] =
    "* unknown command: try /nick NAME, /who or /quit\n";
static const char bye_notice[] = "* bye\n";
static const char wake_byte = '!';

/* ---- Members: a name, a queue and a wake-up socketpair ------------------- */

typedef struct member {
    struct member *next; /* in the room, in join order */
    char name[CHAT_NAME_CAP];
    int client_fd;    /* its connection: shut down when it is dropped */
    int in_room;      /* linked in the room's list */
    int kicked;       /* its queue overflowed: its handler hangs up */
    int wake_pending; /* a wake byte is owed or unread: send no other */
    int wake_r, wake_w;
    atomic_int refs; /* its handler, plus each waker holding it */
    char *queue;     /* CHAT_QUEUE_MAX bytes; the text is at head, len */
    size_t head, len;
} member_t;

/* Both ends non-blocking and close-on-exec: fcntl only, no I/O. */
static int set_nonblocking_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

static void member_free(member_t *m)
{
    close(m->wake_r);
    close(m->wake_w);
    free(m->queue);
    free(m);
}

/* A socketpair, not a pipe: ss_fd_recv and ss_fd_send_all are recv(2)
 * and send(2), which only work on sockets. */
static int member_new(const char *name, int client_fd, member_t **out)
{
    member_t *m = calloc(1, sizeof(*m));
    int sv[2];
    if (!m || !(m->queue = malloc(CHAT_QUEUE_MAX))) {
        free(m);
        return -ENOMEM;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        int rc = -errno;
        free(m->queue);
        free(m);
        return rc;
    }
    m->wake_r = sv[0];
    m->wake_w = sv[1];
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->client_fd = client_fd;
    atomic_init(&m->refs, 1);
    int rc = set_nonblocking_cloexec(sv[0]);
    if (rc == 0)
        rc = set_nonblocking_cloexec(sv[1]);
    if (rc < 0)
        member_free(m);
    else
        *out = m;
    return rc;
}

/* Whoever lets go last frees: nobody takes a new reference to a member
 * that has left the room, so zero stays zero. */
static void member_put(member_t *m)
{
    if (atomic_fetch_sub(&m->refs, 1) == 1)
        member_free(m);
}

/* Append to the queue: 0, or -ENOBUFS when it would pass the bound. */
static int queue_push(member_t *m, const char *text, size_t len)
{
    if (len > CHAT_QUEUE_MAX - m->len)
        return -ENOBUFS;
    if (m->head + m->len + len > CHAT_QUEUE_MAX) {
        memmove(m->queue, m->queue + m->head, m->len);
        m->head = 0;
    }
    memcpy(m->queue + m->head + m->len, text, len);
    m->len += len;
    return 0;
}

/* Take up to cap bytes from the front of the queue. */
static size_t queue_take(member_t *m, char *out, size_t cap)
{
    size_t n = m->len < cap ? m->len : cap;
    memcpy(out, m->queue + m->head, n);
    m->head += n;
    m->len -= n;
    if (m->len == 0)
        m->head = 0;
    return n;
}

/* ---- The room ------------------------------------------------------------ */

typedef struct room {
    pthread_mutex_t lock;
    member_t *members; /* join order */
    size_t count;
    size_t kicks; /* members marked too slow, not yet reaped */
} room_t;

/* Members to wake once the lock is released; each holds a reference. */
typedef struct wake_list {
    member_t **items;
    size_t n, cap;
} wake_list_t;

/* Owe m a wake byte unless one is already owed or unread.  Out of memory,
 * the byte is not owed: the next message for m tries again. */
static void schedule_wake(wake_list_t *wl, member_t *m)
{
    if (m->wake_pending)
        return;
    if (wl->n == wl->cap) {
        size_t cap = wl->cap ? 2 * wl->cap : 16;
        member_t **items = realloc(wl->items, cap * sizeof(*items));
        if (!items)
            return;
        wl->items = items;
        wl->cap = cap;
    }
    m->wake_pending = 1;
    atomic_fetch_add(&m->refs, 1);
    wl->items[wl->n++] = m;
}

/* Queue text for m; a queue that would overflow marks m too slow (the
 * room drops it before the lock is released, see room_reap). */
static void member_deliver(room_t *room, member_t *m, const char *text,
                           size_t len, wake_list_t *wl)
{
    if (m->kicked)
        return;
    if (queue_push(m, text, len) < 0) {
        m->kicked = 1;
        room->kicks++;
        return;
    }
    schedule_wake(wl, m);
}

static void room_broadcast(room_t *room, const member_t *except,
                           const char *text, size_t len, wake_list_t *wl)
{
    for (member_t *m = room->members; m; m = m->next)
        if (m != except)
            member_deliver(room, m, text, len, wl);
}

static void room_unlink(room_t *room, member_t *m)
{
    member_t **link = &room->members;
    while (*link && *link != m)
        link = &(*link)->next;
    if (*link) {
        *link = m->next;
        m->next = NULL;
        m->in_room = 0;
        room->count--;
    }
}

static member_t *first_kicked(const room_t *room)
{
    member_t *m = room->members;
    while (m && !m->kicked)
        m = m->next;
    return m;
}

/* Drop the members marked too slow: each leaves the room, its connection
 * is shut down (it is still open: its handler has not left the room) and
 * its handler is woken to hang up; the room is told.  That notice may
 * overflow another queue, hence the loop. */
static void room_reap(room_t *room, wake_list_t *wl)
{
    while (room->kicks > 0) {
        member_t *m = first_kicked(room);
        if (!m) { /* marked while out of the room already */
            room->kicks = 0;
            break;
        }
        room->kicks--;
        room_unlink(room, m);
        shutdown(m->client_fd, SHUT_RDWR);
        schedule_wake(wl, m); /* or a byte is already on its way */
        char notice[CHAT_NOTICE_MAX];
        int n = snprintf(notice, sizeof(notice),
                         "* %s was too slow and was disconnected\n", m->name);
        room_broadcast(room, NULL, notice, (size_t)n, wl);
    }
}

/* ---- A session: one client's handler ------------------------------------- */

typedef struct session {
    ss_request_t *req;
    room_t *room;
    member_t *me;
    wake_list_t wakes;
    int wake_seen;              /* a wake byte was read: clear wake_pending */
    int discarding;             /* inside an over-long line: drop to its end */
    size_t in_len;              /* bytes of unfinished lines in `in` */
    size_t out_len;             /* bytes taken from the queue, not yet sent */
    char in[CHAT_LINE_MAX + 3]; /* a line, its \r\n, and a NUL */
    char out[CHAT_CHUNK];
    char msg[CHAT_NAME_CAP + CHAT_LINE_MAX + 8]; /* "NAME: LINE\n" */
} session_t;

#define IN_CAP (sizeof(((session_t *)0)->in) - 1)

static void session_lock(session_t *s)
{
    pthread_mutex_lock(&s->room->lock);
}

/* Leave the lock: drop the too slow, unlock, then send the wake bytes
 * owed -- socket I/O, so only now. */
static void session_unlock(session_t *s)
{
    room_reap(s->room, &s->wakes);
    pthread_mutex_unlock(&s->room->lock);
    for (size_t i = 0; i < s->wakes.n; i++) {
        member_t *m = s->wakes.items[i];
        (void)ss_fd_send_all(s->req, m->wake_w, &wake_byte, 1);
        member_put(m);
    }
    s->wakes.n = 0;
}

/* Queue a formatted line for this client alone. */
static int session_tellf(session_t *s, const char *fmt, ...) SS_PRINTF(2, 3);
static int session_tellf(session_t *s, const char *fmt, ...)
{
    char text[CHAT_NOTICE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        return 0;
    session_lock(s);
    member_deliver(s->room, s->me, text, (size_t)n, &s->wakes);
    session_unlock(s);
    return 0;
}

/* Join, the others told and the welcome queued in one step: nothing
 * said in the room can come before the welcome. */
static void session_join(session_t *s)
{
    char notice[CHAT_NOTICE_MAX], welcome[CHAT_NOTICE_MAX];
    int n = snprintf(notice, sizeof(notice), "* %s joined\n", s->me->name);
    int w = snprintf(welcome, sizeof(welcome), welcome_fmt, s->me->name);
    session_lock(s);
    member_t **tail = &s->room->members;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s->me;
    s->me->in_room = 1;
    s->room->count++;
    room_broadcast(s->room, s->me, notice, (size_t)n, &s->wakes);
    member_deliver(s->room, s->me, welcome, (size_t)w, &s->wakes);
    session_unlock(s);
}

/* Leave the room, unless a kick already took us out. */
static void session_leave(session_t *s)
{
    char notice[CHAT_NOTICE_MAX];
    int n = snprintf(notice, sizeof(notice), "* %s left\n", s->me->name);
    session_lock(s);
    if (s->me->in_room) {
        room_unlink(s->room, s->me);
        room_broadcast(s->room, NULL, notice, (size_t)n, &s->wakes);
    }
    session_unlock(s);
}

/* TCP autotuning grows a send buffer to megabytes (tcp_wmem) when the
 * reader is slow, which would hide a slow reader far beyond its queue's
 * bound.  Pinning the buffer keeps what one client can hold up near
 * CHAT_QUEUE_MAX + CHAT_SNDBUF.  A setsockopt, no I/O. */
static void bound_kernel_buffer(int fd)
{
    int size = CHAT_SNDBUF;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

static int session_new(ss_request_t *req, session_t **out)
{
    session_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->req = req;
    s->room = ss_handler_data(req);
    bound_kernel_buffer(ss_fd(req));
    int rc = member_new(ss_peer(req), ss_fd(req), &s->me);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void session_free(session_t *s)
{
    member_put(s->me);
    free(s->wakes.items);
    free(s);
}

/* ---- What a client says -------------------------------------------------- */

/* Control bytes (but tabs) become '?': a line must not rewrite the
 * others' terminals or forge a line of its own with a bare \r. */
static void sanitize(char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            text[i] = '?';
    }
}

static int session_say(session_t *s, char *text, size_t len)
{
    sanitize(text, len);
    int n = snprintf(s->msg, sizeof(s->msg), "%s: %.*s\n", s->me->name,
                     (int)len, text);
    session_lock(s);
    if (s->me->in_room) /* not once dropped, with lines still unread */
        room_broadcast(s->room, s->me, s->msg, (size_t)n, &s->wakes);
    session_unlock(s);
    return CHAT_ON;
}

/* 1 to CHAT_NICK_MAX bytes, none a space or a control byte. */
static int nick_valid(const char *name, size_t len)
{
    if (len == 0 || len > CHAT_NICK_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Another member already goes by name (the room is locked). */
static int name_taken(const room_t *room, const member_t *me, const char *name)
{
    for (const member_t *m = room->members; m; m = m->next)
        if (m != me && strcmp(m->name, name) == 0)
            return 1;
    return 0;
}

static int command_nick(session_t *s, char *arg, size_t len)
{
    if (!nick_valid(arg, len))
        return session_tellf(s, "%s", nick_usage);
    arg[len] = '\0';
    char notice[CHAT_NOTICE_MAX];
    int n =
        snprintf(notice, sizeof(notice), "* %s is now %s\n", s->me->name, arg);
    session_lock(s);
    if (name_taken(s->room, s->me, arg)) {
        snprintf(notice, sizeof(notice), "* the name %s is taken\n", arg);
        member_deliver(s->room, s->me, notice, strlen(notice), &s->wakes);
    } else {
        snprintf(s->me->name, sizeof(s->me->name), "%s", arg);
        room_broadcast(s->room, NULL, notice, (size_t)n, &s->wakes);
    }
    session_unlock(s);
    return CHAT_ON;
}

/* "* N in the room: NAME NAME ...", cut with "..." at CHAT_WHO_MAX. */
static size_t format_who(const room_t *room, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "* %zu in the room:", room->count);
    for (const member_t *m = room->members; m; m = m->next) {
        size_t name_len = strlen(m->name);
        if (n + 1 + name_len + 5 > cap) {
            n += (size_t)snprintf(buf + n, cap - n, " ...");
            break;
        }
        buf[n++] = ' ';
        memcpy(buf + n, m->name, name_len);
        n += name_len;
    }
    buf[n++] = '\n';
    return n;
}

static int command_who(session_t *s, char *arg, size_t len)
{
    (void)arg;
    (void)len;
    char *buf = malloc(CHAT_WHO_MAX);
    if (!buf)
        return -ENOMEM;
    session_lock(s);
    size_t n = format_who(s->room, buf, CHAT_WHO_MAX);
    member_deliver(s->room, s->me, buf, n, &s->wakes);
    session_unlock(s);
    free(buf);
    return CHAT_ON;
}

static int command_quit(session_t *s, char *arg, size_t len)
{
    (void)s;
    (void)arg;
    (void)len;
    return CHAT_QUIT;
}

typedef int (*command_fn)(session_t *s, char *arg, size_t len);

static const struct command {
    const char *word;
    command_fn run;
} commands[] = {
    {"/nick", command_nick},
    {"/who", command_who},
    {"/quit", command_quit},
};

/* "/WORD ARG": the word picks the command; the argument is the rest,
 * without the spaces around it. */
static int session_command(session_t *s, char *line, size_t len)
{
    const char *space = memchr(line, ' ', len);
    size_t word_len = space ? (size_t)(space - line) : len;
    size_t start = word_len;
    while (start < len && line[start] == ' ')
        start++;
    size_t end = len;
    while (end > start && line[end - 1] == ' ')
        end--;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strlen(commands[i].word) == word_len &&
            memcmp(commands[i].word, line, word_len) == 0)
            return commands[i].run(s, line + start, end - start);
    return session_tellf(s, "%s", unknown_notice);
}

/* One line, without its \n; room for a NUL at line[len] is guaranteed. */
static int session_line(session_t *s, char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    if (len > CHAT_LINE_MAX)
        return session_tellf(s, "%s", too_long_notice);
    if (len == 0)
        return CHAT_ON;
    if (line[0] == '/')
        return session_command(s, line, len);
    return session_say(s, line, len);
}

/* Handle each complete line in `in` and keep the unfinished rest.  A
 * buffer full without a line end is an over-long line: say so once and
 * drop the rest of it. */
static int session_lines(session_t *s)
{
    size_t start = 0;
    int rc = CHAT_ON;
    char *nl;
    while (rc == CHAT_ON &&
           (nl = memchr(s->in + start, '\n', s->in_len - start))) {
        size_t end = (size_t)(nl - s->in);
        if (!s->discarding)
            rc = session_line(s, s->in + start, end - start);
        s->discarding = 0;
        start = end + 1;
    }
    memmove(s->in, s->in + start, s->in_len - start);
    s->in_len -= start;
    if (rc == CHAT_ON && s->in_len == IN_CAP) {
        if (!s->discarding)
            session_tellf(s, "%s", too_long_notice);
        s->discarding = 1;
        s->in_len = 0;
    }
    return rc;
}

/* Read what the client sent; at end of file an unfinished last line
 * still counts. */
static int session_receive(session_t *s)
{
    ssize_t n = ss_recv(s->req, s->in + s->in_len, IN_CAP - s->in_len);
    if (n < 0)
        return (int)n;
    if (n == 0) {
        int rc = CHAT_ON;
        if (s->in_len > 0 && !s->discarding)
            rc = session_line(s, s->in, s->in_len);
        s->in_len = 0;
        return rc == CHAT_ON ? CHAT_EOF : rc;
    }
    s->in_len += (size_t)n;
    return session_lines(s);
}

/* ---- The session loop ---------------------------------------------------- */

/* Under the lock: finish a wake-up that was read, learn of a kick, and
 * take the next chunk of the queue once the last one is sent. */
static int session_refill(session_t *s)
{
    session_lock(s);
    if (s->wake_seen)
        s->me->wake_pending = 0;
    s->wake_seen = 0;
    int kicked = s->me->kicked;
    if (!kicked && s->out_len == 0)
        s->out_len = queue_take(s->me, s->out, sizeof(s->out));
    session_unlock(s);
    return kicked ? CHAT_KICKED : CHAT_ON;
}

static int session_read_wake(session_t *s)
{
    char bytes[16];
    ssize_t n = ss_fd_recv(s->req, s->me->wake_r, bytes, sizeof(bytes));
    s->wake_seen = 1;
    return n < 0 ? (int)n : CHAT_ON;
}

static int session_send(session_t *s)
{
    int rc = ss_send_all(s->req, s->out, s->out_len);
    s->out_len = 0;
    return rc;
}

/* Wait on the client (a line in; room out when there is a chunk) and on
 * the wake socketpair, until the client leaves or is dropped. */
static int session_run(session_t *s)
{
    const short trouble = POLLHUP | POLLERR;
    int rc;
    while ((rc = session_refill(s)) == CHAT_ON) {
        struct pollfd pfd[2] = {
            {ss_fd(s->req), (short)(POLLIN | (s->out_len ? POLLOUT : 0)), 0},
            {s->me->wake_r, POLLIN, 0},
        };
        int ready = ss_poll(s->req, pfd, 2, -1);
        if (ready < 0)
            return ready;
        if (pfd[1].revents)
            rc = session_read_wake(s);
        if (rc == CHAT_ON && s->out_len &&
            (pfd[0].revents & (POLLOUT | trouble)))
            rc = session_send(s);
        if (rc == CHAT_ON && (pfd[0].revents & (POLLIN | trouble)))
            rc = session_receive(s);
        if (rc != CHAT_ON)
            return rc;
    }
    return rc;
}

/* After /quit or end of file, the client may still be reading: send what
 * the room said before it left (nothing is added once it is out). */
static int session_flush(session_t *s, int say_bye)
{
    int rc = s->out_len ? ss_send_all(s->req, s->out, s->out_len) : 0;
    while (rc == 0 && s->me->len > 0) {
        size_t n = queue_take(s->me, s->out, sizeof(s->out));
        rc = ss_send_all(s->req, s->out, n);
    }
    if (rc == 0 && say_bye)
        rc = ss_send_all(s->req, bye_notice, sizeof(bye_notice) - 1);
    return rc;
}

static int chat_handle(ss_request_t *req)
{
    session_t *s;
    int rc = session_new(req, &s);
    if (rc < 0)
        return rc;
    session_join(s);
    rc = session_run(s);
    session_leave(s);
    if (s->me->kicked) { /* its connection may have failed first */
        ss_log_peer(SS_LOG_INFO,
                    "chat: %s (%s) was too slow and was disconnected",
                    s->me->name, ss_peer(req));
        rc = 0;
    } else if (rc == CHAT_QUIT || rc == CHAT_EOF) {
        rc = session_flush(s, rc == CHAT_QUIT);
    }
    session_free(s);
    return rc < 0 ? rc : 0;
}

/* ---- Server life --------------------------------------------------------- */

static int chat_open(ss_server_t *srv, char *err, size_t errlen)
{
    const ss_config_t *cfg = ss_server_config(srv);
    if (cfg->datagram) {
        snprintf(err, errlen,
                 "chat: needs stream connections, not "
                 "datagrams");
        return -EINVAL;
    }
    if (ss_server_is_multiprocess(srv)) { /* each would get a room */
        snprintf(err, errlen,
                 "chat: needs one shared room; run it in thread or sync "
                 "mode in one process (%s gives clients processes of "
                 "their own)",
                 cfg->workers > 1 ? "--workers"
                                  : ss_choice_name(SS_CHOICE_MODE, cfg->mode));
        return -EINVAL;
    }
    room_t *room = calloc(1, sizeof(*room));
    if (!room || pthread_mutex_init(&room->lock, NULL) != 0) {
        free(room);
        snprintf(err, errlen, "chat: cannot create the room");
        return -ENOMEM;
    }
    ss_server_set_handler_data(srv, room);
    return 0;
}

/* The server is freed after its last request: the room is empty. */
static void chat_close(ss_server_t *srv)
{
    room_t *room = ss_server_handler_data(srv);
    ss_server_set_handler_data(srv, NULL);
    if (room) {
        pthread_mutex_destroy(&room->lock);
        free(room);
    }
}

const ss_handler_t ss_handler_chat = {
    .name = "chat",
    .summary = "a chat room: lines go to every other client; /nick, /who, "
               "/quit (seed 001)",
    .handle = chat_handle,
    .open = chat_open,
    .close = chat_close,
    .timeout_ms = 0, /* none: see handlers.h */
};
