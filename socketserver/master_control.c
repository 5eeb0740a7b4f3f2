/* master_control.c -- what the application asks of a master, usually
 * from a signal handler: each control only sets a flag and wakes the
 * master, which acts on it in its next pass (master.c). */
#include "workers.h"

#include <errno.h>
#include <unistd.h>

/* The master's state when srv is a master (the controls do nothing in a
 * worker or a single process), or NULL. */
static ss_master_t *master_of(ss_server_t *srv)
{
    return srv->supervises ? srv->process : NULL;
}

static void wake(ss_server_t *srv)
{
    int saved = errno;
    ssize_t w = write(srv->wake_w, "x", 1);
    (void)w;
    errno = saved;
}

void ss_server_reload(ss_server_t *srv)
{
    ss_master_t *m = master_of(srv);
    if (m) {
        atomic_store(&m->reload, 1);
        wake(srv);
    }
}

void ss_server_add_workers(ss_server_t *srv, int delta)
{
    ss_master_t *m = master_of(srv);
    if (m) {
        atomic_fetch_add(&m->delta, delta);
        wake(srv);
    }
}

void ss_server_reopen_logs(ss_server_t *srv)
{
    ss_log_reopen();
    ss_master_t *m = master_of(srv);
    if (m) {
        atomic_store(&m->reopen, 1);
        wake(srv);
    }
}

void ss_server_upgrade(ss_server_t *srv)
{
    ss_master_t *m = master_of(srv);
    if (m) {
        atomic_store(&m->upgrade, 1);
        wake(srv);
    }
}

void ss_server_report(ss_server_t *srv)
{
    ss_master_t *m = master_of(srv);
    if (m) {
        atomic_store(&m->report, 1);
        wake(srv);
    }
}

void ss__master_report(ss_master_t *m)
{
    long long now = ss__now_ms();
    for (int i = 0; i < SS_MAX_WORKERS; i++) {
        worker_t *w = &m->workers[i];
        ss_worker_slot_t *s = &m->shared->slots[w->slot];
        if (w->pid)
            ss_log(SS_LOG_INFO, "worker %ld: %ld served, %ld open, up %lld s%s",
                   (long)w->pid, atomic_load(&s->served), atomic_load(&s->open),
                   (now - atomic_load(&s->started_ms)) / 1000,
                   w->told_ms ? ", stopping" : "");
    }
}
