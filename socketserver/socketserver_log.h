/* socketserver_log.h -- the logging calls of libsocketserver.  Included
 * by socketserver.h: include that one. */
#ifndef SOCKETSERVER_LOG_H
#define SOCKETSERVER_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SS_PRINTF
#if defined(__GNUC__) || defined(__clang__)
#define SS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SS_PRINTF(fmt, args)
#endif
#endif

#if (defined(__GNUC__) || defined(__clang__)) && defined(SS_BUILDING_LIBRARY)
#pragma GCC visibility push(default)
#endif

/* ---- Logging ----------------------------------------------------------- */

enum ss_log_level { SS_LOG_ERROR, SS_LOG_WARN, SS_LOG_INFO, SS_LOG_DEBUG };

/* One line to standard error with time, pid and level; thread-safe. */
void ss_log(int level, const char *fmt, ...) SS_PRINTF(2, 3);
void ss_log_set_level(int level);
int ss_log_level(void);

/* ss_log for lines a client can cause (its timeout, its bad request, its
 * connection shed): rate-limited, so no client or flood of clients can
 * flood the log -- a burst of SS_LOG_PEER_BURST lines, then
 * SS_LOG_PEER_PER_S a second.  One limit per process, shared with every
 * process it forks after its first ss_server_create (fork mode's
 * children, workers).  Lines past the limit are counted, and the next
 * line that passes ends with how many were suppressed (or, if none comes,
 * the serve loop says so a second after the first drop).  Lines below the
 * level take no part. */
#define SS_LOG_PEER_BURST 20
#define SS_LOG_PEER_PER_S 10
void ss_log_peer(int level, const char *fmt, ...) SS_PRINTF(2, 3);

/* Log to a file instead (standard error is pointed at it, appending): 0
 * or -errno.  ss_log_reopen opens it again under the same name, after a
 * rotation; it is async-signal-safe. */
int ss_log_open(const char *path);
void ss_log_reopen(void);

#if (defined(__GNUC__) || defined(__clang__)) && defined(SS_BUILDING_LIBRARY)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* SOCKETSERVER_LOG_H */
