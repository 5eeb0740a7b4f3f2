/* privileges.c -- serve as a given user and group once the socket is bound
 * (a root master can bind port 80; its workers then run as nobody). */

/* setgroups (clearing root's supplementary groups) is not in POSIX.1-2008;
 * glibc hides it in strict mode. */
#define _DEFAULT_SOURCE
#include "internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

/* Resolve the user and group at create, so that a bad name is an error
 * at start and not a boot failure in every worker. */
int ss__resolve_identity(ss_server_t *srv, char *err, size_t errlen)
{
    srv->run_uid = (uid_t)-1;
    srv->run_gid = (gid_t)-1;
    if (srv->cfg.user) {
        struct passwd *pw = getpwnam(srv->cfg.user);
        if (!pw) {
            return ss__fail(err, errlen, -EINVAL, "user '%s': no such user",
                            srv->cfg.user);
        }
        srv->run_uid = pw->pw_uid;
        srv->run_gid = pw->pw_gid;
    }
    if (srv->cfg.group) {
        struct group *gr = getgrnam(srv->cfg.group);
        if (!gr) {
            return ss__fail(err, errlen, -EINVAL, "group '%s': no such group",
                            srv->cfg.group);
        }
        srv->run_gid = gr->gr_gid;
    }
    uid_t will_be = srv->run_uid != (uid_t)-1 ? srv->run_uid : geteuid();
    if (srv->cfg.refuse_root && will_be == 0) {
        return ss__fail(err, errlen, -EPERM,
                        "refusing to serve as root: give a user");
    }
    return 0;
}

/* After the bind (in each worker, or in a single process at create): the
 * group first (it needs the privileges the user change gives up), the
 * supplementary groups cleared. */
int ss__drop_privileges(ss_server_t *srv, char *err, size_t errlen)
{
    if (srv->run_gid != (gid_t)-1 &&
        (setgroups(0, NULL) < 0 || setgid(srv->run_gid) < 0)) {
        return ss__fail(err, errlen, -errno, "setgid %ld: %s",
                        (long)srv->run_gid, strerror(errno));
    }
    if (srv->run_uid != (uid_t)-1 && setuid(srv->run_uid) < 0) {
        return ss__fail(err, errlen, -errno, "setuid %ld: %s",
                        (long)srv->run_uid, strerror(errno));
    }
    return 0;
}
