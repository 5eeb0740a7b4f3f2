/* http_listing.c -- a directory's listing as an HTML page: every name but
 * "." and "..", sorted bytewise, escaped for HTML and for URLs, with a
 * trailing slash on directories (symlinks followed). */
#include "http.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct name_list {
    char **items;
    size_t count, cap;
} name_list_t;

static int add_name(name_list_t *l, const char *name)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **items = cap <= HTTP_LISTING_ENTRIES
                           ? realloc(l->items, cap * sizeof(*items))
                           : NULL;
        if (!items)
            return -ENOMEM;
        l->items = items;
        l->cap = cap;
    }
    if (!(l->items[l->count] = strdup(name)))
        return -ENOMEM;
    l->count++;
    return 0;
}

static void free_names(name_list_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every name but "." and "..", sorted bytewise. */
static int read_names(DIR *d, name_list_t *names)
{
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int rc = add_name(names, e->d_name);
        if (rc < 0)
            return rc;
    }
    if (names->count)
        qsort(names->items, names->count, sizeof(char *), compare_names);
    return 0;
}

/* One <li>: a directory (symlinks followed) gets a trailing slash. */
static void listing_entry(strbuf_t *page, int dir_fd, const char *name)
{
    struct stat st;
    int is_dir = fstatat(dir_fd, name, &st, 0) == 0 && S_ISDIR(st.st_mode);
    const char *slash = is_dir ? "/" : "";
    sb_add(page, "<li><a href=\"");
    sb_add_url(page, name, "");
    sb_add(page, slash);
    sb_add(page, "\">");
    sb_add_html(page, name);
    sb_add(page, slash);
    sb_add(page, "</a></li>\n");
}

/* "Index of /path/", as HTML: the listing's title and heading. */
static void listing_title(strbuf_t *page, const char *path)
{
    sb_add(page, "Index of /");
    sb_add_html(page, path);
    if (path[0])
        sb_add(page, "/");
}

static void listing_page(strbuf_t *page, const char *path, DIR *d,
                         const name_list_t *names)
{
    sb_add(page, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                 "<title>");
    listing_title(page, path);
    sb_add(page, "</title></head>\n<body><h1>");
    listing_title(page, path);
    sb_add(page, "</h1>\n<ul>\n");
    for (size_t i = 0; i < names->count; i++)
        listing_entry(page, dirfd(d), names->items[i]);
    sb_add(page, "</ul>\n</body></html>\n");
}

/* The listing of the open directory dir_fd (closed here) into page. */
int http_build_listing(strbuf_t *page, const char *path, int dir_fd)
{
    DIR *d = fdopendir(dir_fd);
    if (!d) {
        int rc = -errno;
        close(dir_fd);
        return rc;
    }
    name_list_t names = {NULL, 0, 0};
    int rc = read_names(d, &names);
    if (rc == 0)
        listing_page(page, path, d, &names);
    if (rc == 0 && page->failed)
        rc = -ENOMEM;
    free_names(&names);
    closedir(d);
    return rc;
}
