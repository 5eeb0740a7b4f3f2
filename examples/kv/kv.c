/* kv.c -- the tutorial's handler (README, "Your own handler in every
 * mode"): a key-value store over a line protocol.
 *
 *   SET key value   ->  OK            (keys up to 32 bytes, values 64)
 *   GET key         ->  VALUE value   or  NONE
 *   DEL key         ->  OK            or  NONE
 *   QUIT            ->  BYE, and the connection closes
 *   anything else   ->  ERR ...
 *
 * One store for every connection in every mode: the table lives in
 * shared memory (mmap MAP_SHARED, made by open before any fork), under a
 * process-shared mutex, so fork mode's children and --workers' processes
 * see each other's SETs.  Its size is the handler's own option, --slots N
 * (declared below, read in open).  No I/O happens under the lock, so the
 * event mode's coroutines never wait on it for long. */
/* MAP_ANONYMOUS is POSIX.1-2024, not 2008: glibc shows it with this. */
#define _DEFAULT_SOURCE
#include <socketserver.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define KV_KEY 32
#define KV_VALUE 64
#define KV_LINE 256

typedef struct kv_slot {
    char key[KV_KEY + 1], value[KV_VALUE + 1];
    unsigned char state; /* 0 never used, 1 holds a key, 2 deleted */
} kv_slot_t;

typedef struct kv_store {
    pthread_mutex_t lock; /* process-shared */
    size_t size, nslots;  /* bytes mapped; slots */
    kv_slot_t slots[];
} kv_store_t;

/* The slot of key, or (if absent) the first free one on its probe path;
 * NULL when the key is absent and the table has no room. */
static kv_slot_t *kv_find(kv_store_t *s, const char *key, int *found)
{
    size_t h = 5381;
    for (const char *p = key; *p; p++)
        h = h * 33 + (unsigned char)*p;
    kv_slot_t *free_slot = NULL;
    *found = 0;
    for (size_t i = 0; i < s->nslots; i++) {
        kv_slot_t *slot = &s->slots[(h + i) % s->nslots];
        if (slot->state == 1 && strcmp(slot->key, key) == 0) {
            *found = 1;
            return slot;
        }
        if (slot->state != 1 && !free_slot)
            free_slot = slot;
        if (slot->state == 0)
            break; /* the end of the probe path */
    }
    return free_slot;
}

/* One command, the reply into out. */
static void kv_command(kv_store_t *s, char *line, char *out, size_t cap)
{
    char *save, *cmd = strtok_r(line, " \r\n", &save);
    char *key = strtok_r(NULL, " \r\n", &save);
    char *value = strtok_r(NULL, "\r\n", &save);
    int found = 0;
    if (!cmd || (strcmp(cmd, "QUIT") != 0 && !key) ||
        (key && strlen(key) > KV_KEY) || (value && strlen(value) > KV_VALUE)) {
        snprintf(out, cap, "ERR usage: SET key value | GET key | DEL key\n");
        return;
    }
    pthread_mutex_lock(&s->lock);
    kv_slot_t *slot = key ? kv_find(s, key, &found) : NULL;
    if (strcmp(cmd, "GET") == 0 && found)
        snprintf(out, cap, "VALUE %s\n", slot->value);
    else if (strcmp(cmd, "SET") == 0 && value && slot) {
        snprintf(slot->key, sizeof(slot->key), "%s", key);
        snprintf(slot->value, sizeof(slot->value), "%s", value);
        slot->state = 1;
        snprintf(out, cap, "OK\n");
    } else if (strcmp(cmd, "SET") == 0 && value)
        snprintf(out, cap, "ERR full\n");
    else if (strcmp(cmd, "DEL") == 0 && found) {
        slot->state = 2;
        snprintf(out, cap, "OK\n");
    } else if (strcmp(cmd, "GET") == 0 || strcmp(cmd, "DEL") == 0)
        snprintf(out, cap, "NONE\n");
    else
        snprintf(out, cap, "ERR unknown command %.16s\n", cmd);
    pthread_mutex_unlock(&s->lock);
}

static int kv_handle(ss_request_t *req)
{
    kv_store_t *s = ss_handler_data(req);
    char line[KV_LINE], reply[KV_LINE];
    ssize_t n;
    if (ss_sendf(req, "kv ready: SET key value | GET key | DEL key | QUIT\n") <
        0)
        return 0; /* the client left: nothing to say to it */
    while ((n = ss_read_line(req, line, sizeof(line))) > 0) {
        if (strncmp(line, "QUIT", 4) == 0) {
            ss_sendf(req, "BYE\n");
            return 0;
        }
        kv_command(s, line, reply, sizeof(reply));
        if (ss_send_all(req, reply, strlen(reply)) < 0)
            return 0;
    }
    if (n == -EMSGSIZE)
        ss_sendf(req, "ERR line too long\n");
    return 0;
}

/* .open: the store, sized by --slots (1024 by default), in memory every
 * process of this server shares. */
static int kv_open(ss_server_t *srv, char *err, size_t errlen)
{
    const char *text = ss_server_option(srv, "slots");
    long nslots = text ? strtol(text, NULL, 10) : 1024;
    if (nslots < 1 || nslots > 1000000) {
        snprintf(err, errlen, "kv: --slots %s: expected 1 to 1000000", text);
        return -EINVAL;
    }
    size_t size = sizeof(kv_store_t) + (size_t)nslots * sizeof(kv_slot_t);
    kv_store_t *s = mmap(NULL, size, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
        snprintf(err, errlen, "kv: mmap %zu bytes: %s", size, strerror(errno));
        return -errno;
    }
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&s->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    s->size = size;
    s->nslots = (size_t)nslots;
    ss_server_set_handler_data(srv, s);
    return 0;
}

static void kv_close(ss_server_t *srv)
{
    kv_store_t *s = ss_server_handler_data(srv);
    if (s)
        munmap(s, s->size);
}

static const ss_handler_option_t kv_options[] = {
    {.name = "slots",
     .meta = "N",
     .help = "how many keys the store holds (default 1024)",
     .type = SS_OPTION_INT,
     .lo = 1,
     .hi = 1000000},
    {0}};

const ss_handler_t ss_handler_kv = {
    .name = "kv",
    .summary = "a key-value store: SET key value, GET key, DEL key, QUIT "
               "(the README's tutorial)",
    .handle = kv_handle,
    .open = kv_open,
    .close = kv_close,
    .timeout_ms = 300 * 1000, /* a client at a prompt gets minutes */
    .options = kv_options,
};
