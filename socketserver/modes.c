/* modes.c -- the built-in modes by id.  A new mode is one mode_*.c file,
 * one value in ss_mode_id_t, one row in choices.c and one case here. */
#include "internal.h"

const ss_mode_t *ss__mode_for(ss_mode_id_t id)
{
    switch (id) {
    case SS_MODE_SYNC:
        return &ss__mode_sync;
    case SS_MODE_FORK:
        return &ss__mode_fork;
    case SS_MODE_DEFAULT:
    case SS_MODE_THREAD:
        return &ss__mode_thread;
    case SS_MODE_PRETHREAD:
        return &ss__mode_prethread;
    case SS_MODE_EVENT:
        return &ss__mode_event;
    default:
        return NULL;
    }
}
