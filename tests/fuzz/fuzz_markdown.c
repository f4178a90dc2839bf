/*
 * fuzz_markdown.c: user and model text to the chat page's HTML
 * (markdown.h), on arbitrary bytes.
 *
 * What must hold for every input (markdown.h's guarantees):
 *   - markdown_render's output is valid UTF-8 and holds no "<script"
 *     in any case; every '<' opens or closes one of the elements the
 *     renderer writes, whose attributes are only href (with rel and
 *     target), class, start, type, disabled and checked, with double-quoted values holding no '<', '>'
 *     or '"'; every href is an http:, https: or mailto: URL;
 *   - markdown_escape's output holds none of < > " ' or NUL and is valid
 *     UTF-8;
 *   - markdown_stable_prefix stays in [from, len] and does not move back
 *     when asked again from its own answer.
 *
 * The whole text is rendered from a NUL-terminated copy (as a stored
 * message is). The page also renders pieces in the middle of an answer
 * (ui_live.c: the stable blocks md[done..p), then the tail; ui_render.c:
 * the text sent so far, cut anywhere); with
 * SMOL_FUZZ_MD_PIECES=1 those renders are fuzzed too, on the bytes in
 * place. They are off by default while markdown.c hands md4c 0.4.8
 * unterminated pieces: md4c reads one byte past the end it is given, and
 * crashes when that byte is ')' (tests/fuzz/known/markdown, README).
 */
#include "fuzzutil.h"

#include "buf.h"
#include "markdown.h"
#include "utf8.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const tags[] = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "code", "blockquote",
    "table", "thead", "tbody", "tr", "th", "td", "em", "strong", "del", "a", "br", "hr",
    "input", "div", "span",
};
static const char *const attrs[] = {"href", "rel", "target", "class", "start", "type",
                                    "disabled", "checked"};

static bool in_list(const char *s, size_t n, const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(list[i]) == n && strncasecmp(s, list[i], n) == 0)
            return true;
    return false;
}

/* Checks the tag starting at h[i] == '<' and returns the index after its '>'. */
static size_t check_tag(const char *h, size_t n, size_t i)
{
    size_t p = i + 1;
    if (p < n && h[p] == '/')
        p++;
    size_t name = p;
    while (p < n && isalnum((unsigned char)h[p]))
        p++;
    FUZZ_CHECK(in_list(h + name, p - name, tags, ARRAY_SIZE(tags)),
               "unexpected element '%.*s' at %zu", (int)(p - name), h + name, i);
    for (;;) {
        FUZZ_CHECK(p < n, "unterminated tag at %zu", i);
        if (h[p] == '>')
            return p + 1;
        FUZZ_CHECK(h[p] == ' ', "unexpected byte 0x%02x in tag at %zu", (unsigned char)h[p], i);
        p++;
        size_t an = p;
        while (p < n && (isalnum((unsigned char)h[p]) || h[p] == '-'))
            p++;
        FUZZ_CHECK(in_list(h + an, p - an, attrs, ARRAY_SIZE(attrs)),
                   "unexpected attribute '%.*s' at %zu", (int)(p - an), h + an, an);
        if (p < n && h[p] == '=') {
            FUZZ_CHECK(p + 1 < n && h[p + 1] == '"', "unquoted attribute at %zu", p);
            size_t v = p + 2, e = v;
            while (e < n && h[e] != '"') {
                FUZZ_CHECK(h[e] != '<' && h[e] != '>', "'<' or '>' in an attribute at %zu", e);
                e++;
            }
            FUZZ_CHECK(e < n, "unterminated attribute at %zu", v);
            if (p - an == 4 && strncmp(h + an, "href", 4) == 0)
                FUZZ_CHECK(strncasecmp(h + v, "http://", 7) == 0 ||
                           strncasecmp(h + v, "https://", 8) == 0 ||
                           strncasecmp(h + v, "mailto:", 7) == 0,
                           "href '%.*s' at %zu", (int)MIN(e - v, 64), h + v, v);
            p = e + 1;
        }
    }
}

static void check_html(const struct buf *b)
{
    const char *h = b->data ? b->data : "";
    FUZZ_CHECK(utf8_valid(h, b->len, NULL), "the HTML is not valid UTF-8");
    for (size_t i = 0; i < b->len;) {
        if (h[i] == '<') {
            FUZZ_CHECK(b->len - i < 7 || strncasecmp(h + i, "<script", 7) != 0,
                       "<script at %zu", i);
            i = check_tag(h, b->len, i);
        } else {
            FUZZ_CHECK(h[i] != '>', "a bare '>' at %zu", i);
            i++;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int pieces = -1;
    if (pieces < 0) {
        const char *e = getenv("SMOL_FUZZ_MD_PIECES");
        pieces = !(e && *e == '0'); /* md4c over-read fixed in markdown_render: on by default */
    }
    char *md = malloc(size + 1);
    FUZZ_CHECK(md != NULL, "out of memory");
    memcpy(md, data, size);
    md[size] = '\0';
    struct buf b;
    buf_init(&b);
    FUZZ_CHECK(markdown_render(&b, md, size) == 0, "render failed");
    check_html(&b);
    buf_reset(&b);
    if (pieces) { /* as ui_live.c streams an answer: stable blocks, then the tail */
        size_t p = markdown_stable_prefix(md, size, 0);
        FUZZ_CHECK(markdown_render(&b, md, p) == 0, "render of the blocks failed");
        FUZZ_CHECK(markdown_render(&b, md + p, size - p) == 0, "render of the tail failed");
        /* and what was sent so far: a cut anywhere, more text after it */
        size_t cut = size ? ((unsigned char)md[0] * 131u + size) % (size + 1) : 0;
        FUZZ_CHECK(markdown_render(&b, md, cut) == 0, "render of a cut failed");
        buf_reset(&b);
    }
    FUZZ_CHECK(markdown_escape(&b, md, size) == 0, "escape failed");
    FUZZ_CHECK(utf8_valid(b.data ? b.data : "", b.len, NULL), "escaped text is not UTF-8");
    for (size_t i = 0; i < b.len; i++)
        FUZZ_CHECK(b.data[i] != '\0' && !strchr("<>\"'", b.data[i]),
                   "escape left 0x%02x at %zu", (unsigned char)b.data[i], i);
    buf_release(&b);
    size_t p = markdown_stable_prefix(md, size, 0);
    FUZZ_CHECK(p <= size, "stable prefix %zu of %zu", p, size);
    size_t q = markdown_stable_prefix(md, size, p);
    FUZZ_CHECK(q >= p && q <= size, "stable prefix from %zu gave %zu", p, q);
    (void)markdown_url_is_safe(md, size);
    free(md);
    return 0;
}
