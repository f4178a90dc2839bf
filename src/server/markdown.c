/*
 * markdown.c: markdown to safe HTML on md4c's parser, with our own
 * renderer. See markdown.h for the guarantees.
 *
 * Why not md4c-html: it writes any href it is given (javascript: links
 * included) and passes entities through verbatim, which is how
 * "javascript&colon;alert(1)" gets past a naive scheme check. Owning the
 * renderer keeps every byte that reaches the page under one escaper and
 * one URL rule, and it is small: md4c calls back on block and span
 * boundaries and hands us text runs by type.
 */
#include "markdown.h"
#include "utf8.h"

#include <md4c.h>
#include <string.h>
#include <strings.h>

#define MD_MAX_URL 4096     /* longer hrefs are shown as text */
#define MD_MAX_LINKS 16     /* nesting of link/image spans we track */
#define MD_MAX_LANG 32      /* bytes of a code block's language class */

/* ---- escaping ---- */

int markdown_escape(struct buf *out, const char *text, size_t len)
{
    int rc = 0;
    size_t i = 0, run = 0; /* run: bytes since i that need no escaping */
    while (i + run < len) {
        const char *p = text + i + run;
        const char *rep = NULL;
        size_t n = 1;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        case '\0': rep = "\xEF\xBF\xBD"; break;
        default:
            if ((unsigned char)*p >= 0x80) {
                uint32_t cp;
                int k = utf8_decode(p, len - i - run, &cp);
                if (k <= 0)
                    rep = "\xEF\xBF\xBD"; /* one bad byte, one replacement */
                else
                    n = (size_t)k;
            }
        }
        if (!rep) {
            run += n;
            continue;
        }
        rc |= buf_append(out, text + i, run);
        rc |= buf_append_str(out, rep);
        i += run + 1;
        run = 0;
    }
    rc |= buf_append(out, text + i, run);
    return rc ? SMOL_ENOMEM : 0;
}

/* ---- entities ---- */

/* The named entities we decode; any other name is shown as written. */
static const struct {
    const char *name;
    const char *utf8;
} md_entities[] = {
    {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"},
    {"nbsp", "\xC2\xA0"}, {"copy", "\xC2\xA9"}, {"reg", "\xC2\xAE"},
    {"trade", "\xE2\x84\xA2"}, {"hellip", "\xE2\x80\xA6"}, {"mdash", "\xE2\x80\x94"},
    {"ndash", "\xE2\x80\x93"}, {"laquo", "\xC2\xAB"}, {"raquo", "\xC2\xBB"},
    {"middot", "\xC2\xB7"}, {"times", "\xC3\x97"}, {"deg", "\xC2\xB0"},
    {"colon", ":"}, {"sol", "/"}, {"Tab", "\t"}, {"NewLine", "\n"},
};

/* Decodes one entity ("&name;", "&#123;", "&#x1F;") into out (at least
 * 5 bytes). Returns the byte count, or 0 when it is not one we know. */
static size_t md_entity_decode(const char *e, size_t len, char *out)
{
    if (len < 3 || e[0] != '&' || e[len - 1] != ';')
        return 0;
    if (e[1] == '#') {
        bool hex = len > 3 && (e[2] == 'x' || e[2] == 'X');
        uint32_t cp = 0;
        size_t i = hex ? 3 : 2;
        if (i >= len - 1 || len - 1 - i > 8)
            return 0;
        for (; i < len - 1; i++) {
            char c = e[i];
            uint32_t d = c >= '0' && c <= '9' ? (uint32_t)(c - '0')
                         : hex && c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
                         : hex && c >= 'A' && c <= 'F' ? (uint32_t)(c - 'A' + 10) : 99;
            if (d == 99)
                return 0;
            cp = cp * (hex ? 16 : 10) + d;
            if (cp > 0x10FFFF)
                cp = 0x110000; /* stays out of range however long */
        }
        /* CommonMark: NUL, surrogates and out-of-range become U+FFFD */
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            cp = 0xFFFD;
        return (size_t)utf8_encode(cp, out);
    }
    for (size_t k = 0; k < ARRAY_SIZE(md_entities); k++) {
        size_t nl = strlen(md_entities[k].name);
        if (nl == len - 2 && !memcmp(e + 1, md_entities[k].name, nl)) {
            size_t ul = strlen(md_entities[k].utf8);
            memcpy(out, md_entities[k].utf8, ul);
            return ul;
        }
    }
    return 0;
}

/* Appends an entity as the escaped text it stands for (or as written). */
static int md_entity_text(struct buf *out, const char *e, size_t len)
{
    char u[8];
    size_t n = md_entity_decode(e, len, u);
    return n ? markdown_escape(out, u, n) : markdown_escape(out, e, len);
}

/* ---- URLs ---- */

bool markdown_url_is_safe(const char *url, size_t len)
{
    static const char *const schemes[] = {"http://", "https://", "mailto:"};
    if (len == 0 || len > MD_MAX_URL)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        /* browsers strip tabs and newlines inside URLs and trim spaces:
         * refuse them rather than reason about what is left */
        if (c < 0x21 || c == 0x7F || c == '\\' || c == '"' || c == '\'' || c == '<' ||
            c == '>' || c == '`')
            return false;
    }
    for (size_t k = 0; k < ARRAY_SIZE(schemes); k++) {
        size_t sl = strlen(schemes[k]);
        if (len > sl && !strncasecmp(url, schemes[k], sl))
            return !(k < 2 && url[sl] == '/'); /* "http:///x" has no host */
    }
    return false;
}

/* Builds an attribute's text into out, decoding entities. Returns false
 * when it holds a NUL or does not fit. */
static bool md_attr_text(const MD_ATTRIBUTE *a, char *out, size_t cap, size_t *len)
{
    size_t n = 0;
    for (int i = 0; a->substr_offsets[i] < a->size; i++) {
        const char *s = a->text + a->substr_offsets[i];
        size_t sl = a->substr_offsets[i + 1] - a->substr_offsets[i];
        char u[8];
        if (a->substr_types[i] == MD_TEXT_NULLCHAR)
            return false;
        if (a->substr_types[i] == MD_TEXT_ENTITY) {
            size_t ul = md_entity_decode(s, sl, u);
            if (ul) {
                s = u;
                sl = ul;
            }
        }
        if (sl >= cap - n)
            return false;
        memcpy(out + n, s, sl);
        n += sl;
    }
    out[n] = '\0';
    *len = n;
    return true;
}

/* ---- the renderer ---- */

struct md_link {
    bool safe;
    char *url;       /* blocked: shown after the label; owned */
    size_t url_len;
};

struct md_render {
    struct buf *out;
    int rc;
    int img_depth;                    /* inside an image: text only */
    int n_links;
    struct md_link links[MD_MAX_LINKS];
};

static void md_put(struct md_render *r, const char *s)
{
    r->rc |= buf_append_str(r->out, s);
}

static void md_put_escaped(struct md_render *r, const char *s, size_t len)
{
    r->rc |= markdown_escape(r->out, s, len);
}

/* A code block's class: "language-" and the info word's [A-Za-z0-9+#._-]. */
static void md_code_open(struct md_render *r, const MD_BLOCK_CODE_DETAIL *d)
{
    char lang[MD_MAX_LANG + 1];
    size_t n = 0;
    for (MD_SIZE i = 0; d && i < d->lang.size && n < MD_MAX_LANG; i++) {
        char c = d->lang.text[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '+' || c == '#' || c == '.' || c == '_' || c == '-')
            lang[n++] = c;
    }
    lang[n] = '\0';
    if (n)
        r->rc |= buf_appendf(r->out, "<pre><code class=\"language-%s\">", lang);
    else
        md_put(r, "<pre><code>");
}

static int md_enter_block(MD_BLOCKTYPE type, void *detail, void *user)
{
    struct md_render *r = user;
    static const char *const align[] = {"", " class=\"al-l\"", " class=\"al-c\"", " class=\"al-r\""};
    switch (type) {
    case MD_BLOCK_DOC: break;
    case MD_BLOCK_QUOTE: md_put(r, "<blockquote>"); break;
    case MD_BLOCK_UL: md_put(r, "<ul>"); break;
    case MD_BLOCK_OL: {
        unsigned start = ((const MD_BLOCK_OL_DETAIL *)detail)->start;
        if (start == 1)
            md_put(r, "<ol>");
        else
            r->rc |= buf_appendf(r->out, "<ol start=\"%u\">", start);
        break;
    }
    case MD_BLOCK_LI: {
        const MD_BLOCK_LI_DETAIL *d = detail;
        if (d->is_task)
            md_put(r, d->task_mark == ' ' ? "<li class=\"task\"><input type=\"checkbox\" disabled> "
                                          : "<li class=\"task\"><input type=\"checkbox\" disabled "
                                            "checked> ");
        else
            md_put(r, "<li>");
        break;
    }
    case MD_BLOCK_HR: md_put(r, "<hr>"); break;
    case MD_BLOCK_H:
        r->rc |= buf_appendf(r->out, "<h%u>", ((const MD_BLOCK_H_DETAIL *)detail)->level);
        break;
    case MD_BLOCK_CODE: md_code_open(r, detail); break;
    case MD_BLOCK_HTML: md_put(r, "<p>"); break; /* not with NOHTML; text if ever */
    case MD_BLOCK_P: md_put(r, "<p>"); break;
    case MD_BLOCK_TABLE: md_put(r, "<div class=\"table-wrap\"><table>"); break;
    case MD_BLOCK_THEAD: md_put(r, "<thead>"); break;
    case MD_BLOCK_TBODY: md_put(r, "<tbody>"); break;
    case MD_BLOCK_TR: md_put(r, "<tr>"); break;
    case MD_BLOCK_TH:
    case MD_BLOCK_TD: {
        unsigned a = ((const MD_BLOCK_TD_DETAIL *)detail)->align;
        r->rc |= buf_appendf(r->out, "<%s%s>", type == MD_BLOCK_TH ? "th" : "td",
                             align[a < 4 ? a : 0]);
        break;
    }
    }
    return 0;
}

static int md_leave_block(MD_BLOCKTYPE type, void *detail, void *user)
{
    struct md_render *r = user;
    switch (type) {
    case MD_BLOCK_DOC: break;
    case MD_BLOCK_QUOTE: md_put(r, "</blockquote>"); break;
    case MD_BLOCK_UL: md_put(r, "</ul>"); break;
    case MD_BLOCK_OL: md_put(r, "</ol>"); break;
    case MD_BLOCK_LI: md_put(r, "</li>"); break;
    case MD_BLOCK_HR: break;
    case MD_BLOCK_H:
        r->rc |= buf_appendf(r->out, "</h%u>", ((const MD_BLOCK_H_DETAIL *)detail)->level);
        break;
    case MD_BLOCK_CODE: md_put(r, "</code></pre>"); break;
    case MD_BLOCK_HTML: md_put(r, "</p>"); break;
    case MD_BLOCK_P: md_put(r, "</p>"); break;
    case MD_BLOCK_TABLE: md_put(r, "</table></div>"); break;
    case MD_BLOCK_THEAD: md_put(r, "</thead>"); break;
    case MD_BLOCK_TBODY: md_put(r, "</tbody>"); break;
    case MD_BLOCK_TR: md_put(r, "</tr>"); break;
    case MD_BLOCK_TH: md_put(r, "</th>"); break;
    case MD_BLOCK_TD: md_put(r, "</td>"); break;
    }
    return 0;
}

/* Opens a link or an image: a real link when its URL is safe, else a
 * span whose label is followed by the URL as text when it closes. */
static void md_link_open(struct md_render *r, const MD_ATTRIBUTE *href, bool image)
{
    struct md_link l = {0};
    char url[MD_MAX_URL + 1];
    size_t n = 0;
    bool ok = md_attr_text(href, url, sizeof(url), &n);
    l.safe = ok && markdown_url_is_safe(url, n);
    /* md4c gives "www.example.com" autolinks without a scheme */
    if (ok && !l.safe && n > 4 && !strncasecmp(url, "www.", 4) && n + 8 < sizeof(url)) {
        memmove(url + 8, url, n + 1);
        memcpy(url, "https://", 8);
        n += 8;
        l.safe = markdown_url_is_safe(url, n);
    }
    if (l.safe) {
        md_put(r, image ? "<a class=\"img-link\" href=\"" : "<a href=\"");
        md_put_escaped(r, url, n);
        md_put(r, "\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">");
        if (image)
            md_put(r, "[image: ");
    } else {
        md_put(r, "<span class=\"blocked-link\">");
        if (image)
            md_put(r, "[image: ");
        l.url = ok ? strndup(url, n) : NULL;
        l.url_len = ok ? n : 0;
    }
    if (r->n_links < MD_MAX_LINKS)
        r->links[r->n_links] = l;
    else
        free(l.url);
    r->n_links++;
}

static void md_link_close(struct md_render *r, bool image)
{
    if (r->n_links == 0)
        return;
    r->n_links--;
    struct md_link *l = r->n_links < MD_MAX_LINKS ? &r->links[r->n_links] : NULL;
    if (image)
        md_put(r, "]");
    if (l && l->safe) {
        md_put(r, "</a>");
        return;
    }
    if (l && l->url) {
        md_put(r, " <span class=\"blocked-url\">(");
        md_put_escaped(r, l->url, l->url_len);
        md_put(r, ")</span>");
        free(l->url);
        l->url = NULL;
    }
    md_put(r, "</span>");
}

static int md_enter_span(MD_SPANTYPE type, void *detail, void *user)
{
    struct md_render *r = user;
    if (r->img_depth > 0) { /* an image's label is plain text */
        if (type == MD_SPAN_IMG)
            r->img_depth++;
        return 0;
    }
    switch (type) {
    case MD_SPAN_EM: md_put(r, "<em>"); break;
    case MD_SPAN_STRONG: md_put(r, "<strong>"); break;
    case MD_SPAN_A: md_link_open(r, &((const MD_SPAN_A_DETAIL *)detail)->href, false); break;
    case MD_SPAN_IMG:
        md_link_open(r, &((const MD_SPAN_IMG_DETAIL *)detail)->src, true);
        r->img_depth = 1;
        break;
    case MD_SPAN_CODE: md_put(r, "<code>"); break;
    case MD_SPAN_DEL: md_put(r, "<del>"); break;
    default: break; /* extensions we do not enable */
    }
    return 0;
}

static int md_leave_span(MD_SPANTYPE type, void *detail, void *user)
{
    struct md_render *r = user;
    (void)detail;
    if (r->img_depth > 0) {
        if (type == MD_SPAN_IMG && --r->img_depth == 0)
            md_link_close(r, true);
        return 0;
    }
    switch (type) {
    case MD_SPAN_EM: md_put(r, "</em>"); break;
    case MD_SPAN_STRONG: md_put(r, "</strong>"); break;
    case MD_SPAN_A: md_link_close(r, false); break;
    case MD_SPAN_CODE: md_put(r, "</code>"); break;
    case MD_SPAN_DEL: md_put(r, "</del>"); break;
    default: break;
    }
    return 0;
}

static int md_text(MD_TEXTTYPE type, const MD_CHAR *text, MD_SIZE size, void *user)
{
    struct md_render *r = user;
    switch (type) {
    case MD_TEXT_NULLCHAR: md_put(r, "\xEF\xBF\xBD"); break;
    case MD_TEXT_BR: md_put(r, r->img_depth ? " " : "<br>"); break;
    case MD_TEXT_SOFTBR: md_put(r, r->img_depth ? " " : "\n"); break;
    case MD_TEXT_ENTITY: r->rc |= md_entity_text(r->out, text, size); break;
    default: md_put_escaped(r, text, size); break; /* normal, code, and HTML as text */
    }
    return 0;
}

int markdown_render(struct buf *out, const char *md, size_t len)
{
    if (len > UINT32_MAX) /* md4c counts in unsigned */
        return SMOL_ENOMEM;
    struct md_render r = {.out = out};
    MD_PARSER p = {
        .abi_version = 0,
        .flags = MD_DIALECT_GITHUB | MD_FLAG_NOHTML,
        .enter_block = md_enter_block,
        .leave_block = md_leave_block,
        .enter_span = md_enter_span,
        .leave_span = md_leave_span,
        .text = md_text,
    };
    /* md4c 0.4.8 reads past the size it is given when a link is cut off
     * at the end (and can fault on what follows), and callers pass
     * slices of a longer answer: parse a NUL-terminated copy, so what
     * lies past the end is always a terminator. */
    char *copy = malloc(len + 1);
    if (!copy)
        return SMOL_ENOMEM;
    memcpy(copy, md, len);
    copy[len] = '\0';
    int prc = md_parse(copy, (MD_SIZE)len, &p, &r);
    free(copy);
    /* a parse that stopped early leaves link URLs behind */
    for (int i = 0; i < MIN(r.n_links, MD_MAX_LINKS); i++)
        free(r.links[i].url);
    return r.rc || prc ? SMOL_ENOMEM : 0;
}

/* ---- streaming: the stable prefix ---- */

/* A fence line: up to 3 spaces, then 3+ '`' or '~'. Sets *ch and *n. */
static bool md_fence(const char *s, size_t len, char *ch, size_t *n)
{
    size_t i = 0;
    while (i < len && i < 3 && s[i] == ' ')
        i++;
    if (i >= len || (s[i] != '`' && s[i] != '~'))
        return false;
    size_t k = i;
    while (k < len && s[k] == s[i])
        k++;
    if (k - i < 3)
        return false;
    if (s[i] == '`' && memchr(s + k, '`', len - k)) /* not a fence: a code span */
        return false;
    *ch = s[i];
    *n = k - i;
    return true;
}

static bool md_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

size_t markdown_stable_prefix(const char *md, size_t len, size_t from)
{
    size_t best = from, i = from;
    bool in_fence = false, prev_blank = false;
    char fch = 0;
    size_t flen = 0;
    while (i < len) {
        const char *nl = memchr(md + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - md) : len;
        const char *line = md + i;
        size_t ll = end - i;
        if (!in_fence && prev_blank && i > from && ll > 0 && line[0] != ' ' && line[0] != '\t' &&
            line[0] != '\r')
            best = i;
        char c;
        size_t n;
        if (md_fence(line, ll, &c, &n)) {
            if (!in_fence) {
                in_fence = true;
                fch = c;
                flen = n;
            } else if (c == fch && n >= flen) {
                /* a closing fence has nothing after its run but spaces */
                size_t k = 0;
                while (k < ll && (line[k] == ' ' || line[k] == c))
                    k++;
                if (md_blank(line + k, ll - k))
                    in_fence = false;
            }
        }
        prev_blank = nl && md_blank(line, ll);
        i = nl ? end + 1 : len;
    }
    return best;
}
