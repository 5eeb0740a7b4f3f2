/* help.c -- the usage line, --help and --list, written from the table of
 * flags and the library's names (ss_choice_*): nothing here names a flag
 * or a choice by hand. */
#include "table.h"

#include <string.h>

#define HELP_WIDTH 79  /* the usage and --help wrap before this column */
#define HELP_INDENT 21 /* where an option's help text starts */

static const char intro[] =
    "Serve a handler on a socket, running each connection (or datagram) in\n"
    "the chosen mode.  The first line printed is 'listening on ADDRESS'.\n";

static const char trailer[] =
    "Signals: TERM, INT graceful stop; QUIT fast stop; with workers also\n"
    "HUP reload (new workers, old ones drain), TTIN / TTOU one worker more\n"
    "/ fewer, USR2 binary upgrade (this program again, on the same\n"
    "sockets), URG per-worker counters to the log; USR1 reopens the log.\n"
    "\n"
    "Exit status: 0 after a clean stop, 1 when the server cannot run,\n"
    "2 for a bad command line, 3 when workers keep failing to start.\n";

/* The default an option's help names (from d, the defaults), or NULL
 * when its help says it in words. */
static const char *default_name(const cli_option_t *opt, const cli_options_t *d)
{
    const void *field = (const char *)d + opt->offset;
    switch (opt->type) {
    case OPT_MODE:
        return d->prefork ? PREFORK : ss_choice_name(opt->kind, d->cfg.mode);
    case OPT_CHOICE: /* 0, the library's default, has a name too */
        return ss_choice_name(opt->kind, *(const int *)field);
    case OPT_LOG_LEVEL:
        return cli_name_at(opt, *(const int *)field + 1);
    case OPT_HANDLER:
        return d->cfg.handler ? d->cfg.handler->name : NULL;
    case OPT_ADDRESS:
    case OPT_LISTEN:
    case OPT_STRING:
        return *(const char *const *)field;
    default:
        return NULL;
    }
}

/* ---- Usage and --help, from the table ---------------------------------- */

/* Write one unbreakable unit, first wrapping to a new line indented by
 * indent when it would pass HELP_WIDTH; *col tracks the column. */
static void put_unit(FILE *out, int *col, int indent, const char *unit, int len)
{
    if (*col > indent && *col + 1 + len > HELP_WIDTH) {
        fprintf(out, "\n%*s", indent, "");
        *col = indent;
    }
    if (*col > indent) {
        fputc(' ', out);
        (*col)++;
    }
    fprintf(out, "%.*s", len, unit);
    *col += len;
}

/* Text wrapped word by word. */
static void put_words(FILE *out, int *col, int indent, const char *text)
{
    while (*text) {
        size_t len = strcspn(text, " ");
        if (len > 0)
            put_unit(out, col, indent, text, (int)len);
        text += len + (text[len] == ' ');
    }
}

void cli_write_usage(FILE *out)
{
    char head[96];
    snprintf(head, sizeof(head), "usage: %s ", cli_program());
    int col = (int)strlen(head);
    fputs(head, out);
    for (size_t i = 0; i < cli_row_count(); i++) {
        const cli_option_t *opt = cli_row_at(i);
        char names[256] = "", unit[320];
        if (opt->type == OPT_HEADING)
            continue;
        if (cli_names_count(opt) > 0)
            cli_join_names(opt, "|", "|", names, sizeof(names));
        snprintf(unit, sizeof(unit), "[%s%s%s]", opt->name,
                 opt->meta ? " " : "",
                 names[0]    ? names
                 : opt->meta ? opt->meta
                             : "");
        put_unit(out, &col, (int)strlen(head), unit, (int)strlen(unit));
    }
    fputc('\n', out);
}

/* An option's help line(s): "  --flag META" and its text at HELP_INDENT,
 * the text followed by the names it accepts and its default. */
static void write_option_help(FILE *out, const cli_option_t *opt,
                              const cli_options_t *defaults)
{
    char left[64], names[256] = "", text[640];
    snprintf(left, sizeof(left), "  %s%s%s%s%s", opt->alias ? opt->alias : "",
             opt->alias ? ", " : "", opt->name, opt->meta ? " " : "",
             opt->meta ? opt->meta : "");
    int col = (int)strlen(left);
    fputs(left, out);
    if (col < HELP_INDENT) {
        fprintf(out, "%*s", HELP_INDENT - col, "");
    } else {
        fprintf(out, "\n%*s", HELP_INDENT, "");
    }
    col = HELP_INDENT;
    if (cli_names_count(opt) > 0)
        cli_join_names(opt, ", ", " or ", names, sizeof(names));
    const char *def = default_name(opt, defaults);
    snprintf(text, sizeof(text), "%s%s%s%s%s%s", opt->help,
             names[0] ? "; one of " : "", names, def ? " (default " : "",
             def ? def : "", def ? ")" : "");
    put_words(out, &col, HELP_INDENT, text);
    fputc('\n', out);
}

void cli_print_help(const cli_options_t *defaults)
{
    cli_write_usage(stdout);
    printf("\n%s", intro);
    for (size_t i = 0; i < cli_row_count(); i++) {
        if (cli_row_at(i)->type == OPT_HEADING)
            printf("\n%s\n", cli_row_at(i)->name);
        else
            write_option_help(stdout, cli_row_at(i), defaults);
    }
    printf("\n%s", trailer);
}

static void list_choice(const char *title, ss_choice_t kind)
{
    printf("%s:\n", title);
    const char *zero = ss_choice_name(kind, 0); /* "off": a value too */
    int first = ss_choice_value(kind, zero) == 0 ? 0 : 1;
    for (int value = first; value <= ss_choice_count(kind); value++)
        if (ss_choice_name(kind, value))
            printf("  %-12s %s\n", ss_choice_name(kind, value),
                   ss_choice_summary(kind, value));
}

void cli_print_list(void)
{
    list_choice("modes (--mode)", SS_CHOICE_MODE);
    printf("  %-12s %s\n", PREFORK, PREFORK_SUMMARY);
    list_choice("accept strategies (--accept, with --workers)",
                SS_CHOICE_ACCEPT);
    list_choice("pool accept (--pool-accept, prethread mode)",
                SS_CHOICE_POOL_ACCEPT);
    list_choice("pollers (--poller, event mode)", SS_CHOICE_POLLER);
    list_choice("PROXY protocol (--proxy-protocol)", SS_CHOICE_PROXY);
    const ss_handler_t *const *h = cli_handlers();
    printf("handlers (--handler):\n");
    for (size_t i = 0; h[i]; i++)
        printf("  %-12s %s\n", h[i]->name, h[i]->summary ? h[i]->summary : "");
    printf("handlers' idle timeouts (when no --timeout is given):\n");
    for (size_t i = 0; h[i]; i++) {
        if (h[i]->timeout_ms > 0)
            printf("  %-12s %g s\n", h[i]->name, h[i]->timeout_ms / 1000.0);
        else
            printf("  %-12s none\n", h[i]->name);
    }
}

/* A program of its own names the library it is built on. */
void cli_print_version(void)
{
    if (strcmp(cli_program(), "socketserver") == 0)
        printf("socketserver %s\n", SS_VERSION);
    else
        printf("%s (socketserver %s)\n", cli_program(), SS_VERSION);
}
