/* http_mime.c -- Content-Type by file extension.
 *
 * The table is what Python's mimetypes (3.12, with http.server's own
 * additions for .gz, .bz2, .xz and .Z) and nginx's mime.types (1.22) agree
 * on, plus the types only one of them knows that browsers need (.mjs,
 * .wasm, .avif, .webp, .woff2, .map).  Where they differ we take the
 * registered type (IANA) or what browsers expect: .js is text/javascript
 * (RFC 9239; nginx says application/javascript), .ico image/x-icon (as
 * nginx and browsers; Python says image/vnd.microsoft.icon).  Text types
 * carry "; charset=utf-8" (Python leaves the charset out). */
#include "http.h"

#include <string.h>
#include <strings.h>

#define UTF8 "; charset=utf-8"

static const struct {
    const char *ext, *type;
} types[] = {
    /* text and the web */
    {"html", "text/html" UTF8},
    {"htm", "text/html" UTF8},
    {"shtml", "text/html" UTF8},
    {"txt", "text/plain" UTF8},
    {"text", "text/plain" UTF8},
    {"css", "text/css" UTF8},
    {"js", "text/javascript" UTF8},
    {"mjs", "text/javascript" UTF8},
    {"csv", "text/csv" UTF8},
    {"md", "text/markdown" UTF8},
    {"markdown", "text/markdown" UTF8},
    {"xml", "text/xml" UTF8},
    {"xsl", "application/xml"},
    {"xhtml", "application/xhtml+xml"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"atom", "application/atom+xml"},
    {"rss", "application/rss+xml"},
    {"wasm", "application/wasm"},
    {"rtf", "application/rtf"},
    /* images */
    {"png", "image/png"},
    {"apng", "image/apng"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"svg", "image/svg+xml"},
    {"svgz", "image/svg+xml"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    /* fonts */
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    /* audio and video */
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"m4a", "audio/mp4"},
    {"wav", "audio/x-wav"},
    {"flac", "audio/flac"},
    {"mp4", "video/mp4"},
    {"m4v", "video/mp4"},
    {"webm", "video/webm"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"mov", "video/quicktime"},
    {"avi", "video/x-msvideo"},
    {"ogv", "video/ogg"},
    /* documents and archives */
    {"pdf", "application/pdf"},
    {"ps", "application/postscript"},
    {"eps", "application/postscript"},
    {"epub", "application/epub+zip"},
    {"doc", "application/msword"},
    {"xls", "application/vnd.ms-excel"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"docx", "application/vnd.openxmlformats-officedocument."
             "wordprocessingml.document"},
    {"xlsx", "application/vnd.openxmlformats-officedocument."
             "spreadsheetml.sheet"},
    {"pptx", "application/vnd.openxmlformats-officedocument."
             "presentationml.presentation"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tgz", "application/gzip"},
    {"bz2", "application/x-bzip2"},
    {"xz", "application/x-xz"},
    {"tar", "application/x-tar"},
    {"7z", "application/x-7z-compressed"},
    {"jar", "application/java-archive"},
};

/* By the last extension of the last segment, case-insensitive:
 * "x.tar.gz" is a gzip stream, as Python's http.server says. */
const char *http_content_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    for (size_t i = 0; dot && i < HTTP_COUNT(types); i++)
        if (strcasecmp(dot + 1, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}
