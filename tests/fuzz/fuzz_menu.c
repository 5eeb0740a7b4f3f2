/* fuzz_menu -- the 10086 bot on arbitrary bytes: it never crashes, and
 * everything it says is its greeting followed by its known answers. */
#include "../../handlers/handlers.h"
#include "fuzz_request.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const answers[] = {"通过可能会被录音.balabala一大推\n",
                                      "请重新输入.\n",
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

/* The bot's output, read while it talks: a socketpair holds only so many
 * small writes, and a bot blocked on a full one would wait out its
 * timeout on every input with many lines. */
typedef struct output {
    int peer;
    char text[1 << 20];
    size_t len;
} output_t;

static void *read_output(void *arg)
{
    output_t *o = arg;
    ssize_t n;
    while (o->len < sizeof(o->text) &&
           (n = read(o->peer, o->text + o->len, sizeof(o->text) - o->len)) > 0)
        o->len += (size_t)n;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static output_t out;
    ss_request_t *req = fuzz_request(data, size, &out.peer);
    if (!req)
        return 0;
    out.len = 0;
    pthread_t reader;
    if (pthread_create(&reader, NULL, read_output, &out) != 0)
        abort();
    ss_handler_menu10086.handle(req);
    ss__request_free(req); /* closes: the reader then gets end of file */
    pthread_join(reader, NULL);
    close(out.peer);
    static const char greeting[] = "欢迎致电 10086,请输入1xxx,0转人工服务.\n";
    size_t g = sizeof(greeting) - 1;
    if (out.len < g || memcmp(out.text, greeting, g) != 0 ||
        !only_answers(out.text + g, out.len - g))
        abort();
    return 0;
}
