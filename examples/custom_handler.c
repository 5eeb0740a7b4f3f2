/* custom_handler -- your own handler and server, public header only.  Run
 * build/examples/custom_handler, then `nc 127.0.0.1 8003`: lines shout back. */
#include <socketserver.h>

#include <ctype.h>
#include <stdio.h>

static int shout(ss_request_t *req)
{
    char line[256];
    ssize_t n;
    while ((n = ss_read_line(req, line, sizeof(line))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            line[i] = (char)toupper((unsigned char)line[i]);
        if (ss_send_all(req, line, (size_t)n) < 0)
            break;
    }
    return n < 0 ? (int)n : 0;
}

static const ss_handler_t shout_handler = {.name = "shout", .handle = shout};

int main(int argc, char **argv)
{
    ss_config_t cfg;
    ss_server_t *srv;
    char err[256];
    ss_config_init(&cfg);
    cfg.address = argc > 1 ? argv[1] : "127.0.0.1:8003";
    cfg.handler = &shout_handler;
    if (ss_server_create(&srv, &cfg, err, sizeof(err)) < 0)
        return fprintf(stderr, "%s\n", err), 1;
    printf("listening on %s\n", ss_server_address(srv));
    fflush(stdout);
    ss_server_serve_forever(srv);
    ss_server_close(srv);
    return 0;
}
