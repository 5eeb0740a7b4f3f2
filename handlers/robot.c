/* robot -- seed 003's UDP "smart robot": each datagram is one question and
 * gets one answer datagram.  The question is trimmed of surrounding white
 * space and looked up in a small keyword table (ASCII letters match in any
 * case; Chinese keywords byte for byte); anything else gets a fixed "don't
 * understand" reply.
 *
 * No amplification: a reply to an n-byte datagram has at most
 * max(3 * n, 64) bytes (n counts every byte received, white space too).  A
 * reply longer than that is cut at the last UTF-8 character boundary at or
 * before the limit, so it never ends in half a character.  Every built-in
 * reply fits in 64 bytes, so plain questions always get their whole answer.
 *
 * Streams are refused when the server is created: the robot answers
 * datagrams only (--udp). */
#include "handlers.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define ROBOT_REPLY_FLOOR 64 /* bytes any datagram may get back... */
#define ROBOT_REPLY_FACTOR 3 /* ...or this many times its own length */
#define ROBOT_REPLY_CAP 256  /* room to compose a reply in */
#define ROBOT_MAX_KEYWORDS 3 /* per rule */

/* Writes a rule's reply into out (at most cap bytes), starting from the
 * rule's text; returns its length, 0 on failure. */
typedef size_t (*compose_fn)(const char *text, char *out, size_t cap);

typedef struct robot_rule {
    const char *keywords[ROBOT_MAX_KEYWORDS]; /* lower case; NULL ends */
    const char *text;   /* the reply, or what compose works from */
    compose_fn compose; /* NULL: text is the reply as it is */
} robot_rule_t;

static size_t say_time(const char *format, char *out, size_t cap);
static size_t say_help(const char *intro, char *out, size_t cap);

/* One rule per language, so each keyword is answered in its own. */
static const robot_rule_t rules[] = {
    {{"你好"}, "你好!我是机器人.\n", NULL},
    {{"hello", "hi"}, "Hello! I am a robot.\n", NULL},
    {{"时间"}, "现在是 %H:%M:%S\n", say_time},
    {{"time"}, "It is %H:%M:%S\n", say_time},
    {{"帮助"}, "我懂: ", say_help},
    {{"help"}, "I know: ", say_help},
    {{"再见"}, "再见!\n", NULL},
    {{"bye"}, "Bye!\n", NULL},
};

#define RULE_COUNT (sizeof(rules) / sizeof(rules[0]))

static const char not_understood[] = "我不明白. Say 'help'.\n";

/* ---- Composing replies ------------------------------------------------- */

/* The local time in the rule's strftime format: localtime_r, because
 * thread mode answers several datagrams at once. */
static size_t say_time(const char *format, char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm local;
    if (!localtime_r(&now, &local))
        return 0;
    return strftime(out, cap, format, &local);
}

/* Append s at out[len] if it fits whole (a keyword is never cut). */
static size_t append(char *out, size_t cap, size_t len, const char *s)
{
    size_t n = strlen(s);
    if (len + n > cap)
        return len;
    memcpy(out + len, s, n);
    return len + n;
}

/* The intro, then every keyword of the table: the help can never fall out
 * of step with what the robot really understands. */
static size_t say_help(const char *intro, char *out, size_t cap)
{
    size_t len = append(out, cap, 0, intro);
    const char *sep = "";
    for (size_t r = 0; r < RULE_COUNT; r++)
        for (size_t k = 0; k < ROBOT_MAX_KEYWORDS && rules[r].keywords[k];
             k++) {
            len = append(out, cap, len, sep);
            len = append(out, cap, len, rules[r].keywords[k]);
            sep = " ";
        }
    return append(out, cap, len, "\n");
}

/* ---- Understanding questions ------------------------------------------- */

/* ASCII-only case folding: locale-free, and bytes of UTF-8 characters
 * (all >= 0x80) stay as they are. */
static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static int is_blank(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Trim white space (nc sends a newline) without copying: the datagram is
 * the request's and read-only.  Returns the start, *len the new length. */
static const char *trim(const char *text, size_t *len)
{
    while (*len > 0 && is_blank((unsigned char)text[*len - 1]))
        (*len)--;
    while (*len > 0 && is_blank((unsigned char)*text)) {
        text++;
        (*len)--;
    }
    return text;
}

/* Length-checked, so a NUL inside a datagram never ends a match early. */
static int same_word(const char *text, size_t len, const char *keyword)
{
    if (strlen(keyword) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (ascii_lower((unsigned char)text[i]) != (unsigned char)keyword[i])
            return 0;
    return 1;
}

/* The rule whose keyword is the whole question, or NULL. */
static const robot_rule_t *find_rule(const char *text, size_t len)
{
    for (size_t r = 0; r < RULE_COUNT; r++)
        for (size_t k = 0; k < ROBOT_MAX_KEYWORDS && rules[r].keywords[k]; k++)
            if (same_word(text, len, rules[r].keywords[k]))
                return &rules[r];
    return NULL;
}

/* The full answer to a question, before the size limit; 0 on failure. */
static size_t answer(const char *question, size_t len, char *out, size_t cap)
{
    question = trim(question, &len);
    const robot_rule_t *rule = find_rule(question, len);
    if (!rule)
        return append(out, cap, 0, not_understood);
    if (rule->compose)
        return rule->compose(rule->text, out, cap);
    return append(out, cap, 0, rule->text);
}

/* ---- The size limit ---------------------------------------------------- */

/* The most an asked-byte datagram may get back: see the top comment. */
static size_t reply_limit(size_t asked)
{
    size_t scaled = asked * ROBOT_REPLY_FACTOR; /* asked <= 64 KiB */
    return scaled > ROBOT_REPLY_FLOOR ? scaled : ROBOT_REPLY_FLOOR;
}

/* len cut down to limit, backing off to the first byte of the character
 * the limit falls in: UTF-8 continuation bytes are 10xxxxxx. */
static size_t utf8_cut(const char *text, size_t len, size_t limit)
{
    if (len <= limit)
        return len;
    size_t cut = limit;
    while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

/* ---- Callbacks ----------------------------------------------------------- */

/* A stream has no datagram to answer and its clients would wait forever:
 * say so when the server is created rather than per connection. */
static int robot_open(ss_server_t *srv, char *err, size_t errlen)
{
    if (ss_server_config(srv)->datagram) {
        tzset(); /* localtime_r need not read TZ itself */
        return 0;
    }
    if (err && errlen)
        snprintf(err, errlen, "robot: answers datagrams only; use --udp");
    return -EINVAL;
}

static int robot_handle(ss_request_t *req)
{
    if (!ss_is_datagram(req))
        return -EPROTOTYPE; /* open refuses streams: not reached */
    size_t asked;
    const char *question = ss_datagram(req, &asked);
    char reply[ROBOT_REPLY_CAP];
    size_t len = answer(question, asked, reply, sizeof(reply));
    if (len == 0)
        return -EIO;
    return ss_reply(req, reply, utf8_cut(reply, len, reply_limit(asked)));
}

const ss_handler_t ss_handler_robot = {
    .name = "robot",
    .summary = "UDP question-and-answer robot: 你好, time, help, bye "
               "(seed 003)",
    .handle = robot_handle,
    .open = robot_open,
    .timeout_ms = HANDLER_TIMEOUT_TALK_MS,
};
