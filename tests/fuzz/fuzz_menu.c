/* fuzz_menu -- the 10086 bot on arbitrary bytes: it never crashes, and
 * everything it says is its greeting followed by its known answers. */
#include "../../handlers/handlers.h"
#include "fuzz_request.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const answers[] = {
    "通过可能会被录音.balabala一大推\n", "请重新输入.\n",
    "输入过长,最多1024字节,再见.\n"};

/* buf[0..len) is a sequence of known answers. */
static int only_answers(const char *buf, size_t len)
{
    while (len > 0) {
        size_t i = 0, n = 0;
        for (; i < 3; i++) {
            n = strlen(answers[i]);
            if (n <= len && memcmp(buf, answers[i], n) == 0)
                break;
        }
        if (i == 3)
            return 0;
        buf += n;
        len -= n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int peer;
    ss_request_t *req = fuzz_request(data, size, &peer);
    if (!req)
        return 0;
    ss_handler_menu10086.handle(req);
    ss__request_free(req); /* closes: the peer then reads to end of file */
    static char out[1 << 20];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(out) &&
           (n = read(peer, out + len, sizeof(out) - len)) > 0)
        len += (size_t)n;
    close(peer);
    static const char greeting[] = "欢迎致电 10086,请输入1xxx,0转人工服务.\n";
    size_t g = sizeof(greeting) - 1;
    if (len < g || memcmp(out, greeting, g) != 0 ||
        !only_answers(out + g, len - g))
        abort();
    return 0;
}
