/* notify.h -- tell a supervisor (systemd) how the server is doing. */
#ifndef SS_CLI_NOTIFY_H
#define SS_CLI_NOTIFY_H

/* Send state ("READY=1", "STOPPING=1") to NOTIFY_SOCKET, if it is set. */
void cli_notify(const char *state);

#endif
