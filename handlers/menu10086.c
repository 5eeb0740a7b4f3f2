/* menu10086 -- seed 003's telephone menu bot.  A greeting, then one answer
 * per message: "exit" hangs up, "0" reaches an operator, anything else asks
 * again.  A message is a line (ending with \n or \r\n), or what a client
 * sent without a line end before pausing MENU_PAUSE_MS: the seed's own client
 * sends what was typed with no line end and waits for the answer, while nc
 * and telnet send lines.  Messages are trimmed of surrounding white space; one
 * over MENU_MAX_LINE bytes gets one error line and the call ends.  All text is
 * UTF-8. */
#include "handlers.h"

#include <ctype.h>
#include <string.h>

#define MENU_MAX_LINE 1024
/* The seed's client sends a typed message in one sendall, so its bytes come
 * back to back; a message is cut at a pause far shorter than a person takes
 * to type the next one, and longer than the gaps between one message's
 * segments: on loopback or a LAN microseconds, and at most the 200 ms a
 * delayed ACK can hold a Nagle-delayed second write (Linux's and Windows'
 * maximum). */
#define MENU_PAUSE_MS 300

static const char greeting[] = "欢迎致电 10086,请输入1xxx,0转人工服务.\n";
static const char operator_reply[] = "通过可能会被录音.balabala一大推\n";
static const char retry_reply[] = "请重新输入.\n";
static const char too_long_reply[] = "输入过长,最多1024字节,再见.\n";

/* Trim in place; returns the start of the trimmed text. */
static char *trim(char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* The message without its \n or \r\n terminator (a message cut at a
 * pause has none) is at most MENU_MAX_LINE. */
static int line_too_long(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return len > MENU_MAX_LINE;
}

/* What the bot says to one trimmed message; NULL hangs up. */
static const char *menu_answer(const char *line)
{
    if (strcmp(line, "exit") == 0)
        return NULL;
    if (strcmp(line, "0") == 0)
        return operator_reply;
    return retry_reply;
}

#define SEND_TEXT(req, text) ss_send_all((req), (text), sizeof(text) - 1)

static int menu_handle(ss_request_t *req)
{
    char line[MENU_MAX_LINE + 3]; /* the text, "\r\n" and the NUL */
    int rc = SEND_TEXT(req, greeting);
    while (rc == 0) {
        ssize_t n = ss_read_message(req, line, sizeof(line), MENU_PAUSE_MS);
        if (n == -EMSGSIZE || (n > 0 && line_too_long(line, (size_t)n)))
            return SEND_TEXT(req, too_long_reply);
        if (n <= 0)
            return (int)n;
        const char *answer = menu_answer(trim(line, (size_t)n));
        if (!answer)
            return 0;
        rc = ss_send_all(req, answer, strlen(answer));
    }
    return rc;
}

const ss_handler_t ss_handler_menu10086 = {
    .name = "menu10086",
    .summary = "the 10086 telephone menu bot, per line or pause-ended message "
               "(seed 003)",
    .handle = menu_handle,
    .timeout_ms = HANDLER_TIMEOUT_TALK_MS,
};
