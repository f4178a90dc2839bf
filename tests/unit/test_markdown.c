/*
 * test_markdown.c: the chat page's markdown path escapes everything.
 *
 * Every output is checked by html_is_safe below, a small validator of
 * what markdown.h promises: only our tags, only our attributes, hrefs
 * only http(s) and mailto. It runs on the hostile inputs one by one,
 * on streaming prefixes of each (an unclosed fence, a half-written
 * link), and on random mixes of markdown syntax and attack strings.
 */
#include "testutil.h"

#include "markdown.h"

#include <string.h>

/* Renders md and returns the HTML (a static buffer, overwritten by the
 * next call; NULL frees it). */
static const char *render(const char *md)
{
    static struct buf b;
    buf_release(&b);
    buf_init(&b);
    if (!md)
        return NULL;
    assert_int_equal(markdown_render(&b, md, strlen(md)), 0);
    return b.data ? b.data : "";
}

static bool name_in(const char *name, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && !memcmp(*list, name, n))
            return true;
    return false;
}

/* True when html holds only the renderer's tags and attributes, and every
 * href is http(s) or mailto. Text cannot hold '<' or '>' (escaped), so
 * each '<' opens one of our tags. Prints what it objects to. */
static bool html_is_safe(const char *html)
{
    static const char *const tags[] = {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "code", "blockquote",
        "hr", "br", "em", "strong", "del", "a", "span", "div", "table", "thead", "tbody", "tr",
        "th", "td", "input", NULL};
    static const char *const attrs[] = {"href", "class", "start", "type", "disabled", "checked",
                                        "rel", "target", NULL};
    for (const char *p = html; (p = strchr(p, '<'));) {
        const char *end = strchr(p, '>');
        if (!end) {
            fprintf(stderr, "unclosed tag: %s\n", p);
            return false;
        }
        const char *q = p + 1 + (p[1] == '/');
        size_t n = strspn(q, "abcdefghijklmnopqrstuvwxyz0123456789");
        if (!name_in(q, n, tags)) {
            fprintf(stderr, "tag not ours: %.*s\n", (int)(end - p + 1), p);
            return false;
        }
        q += n;
        while (q < end) {
            while (*q == ' ')
                q++;
            if (q >= end)
                break;
            size_t an = strspn(q, "abcdefghijklmnopqrstuvwxyz-");
            if (an == 0 || !name_in(q, an, attrs)) {
                fprintf(stderr, "attribute not ours: %.*s\n", (int)(end - p + 1), p);
                return false;
            }
            bool href = an == 4 && !memcmp(q, "href", 4);
            q += an;
            if (*q != '=')
                continue; /* a boolean attribute */
            if (q[1] != '"') {
                fprintf(stderr, "unquoted value: %.*s\n", (int)(end - p + 1), p);
                return false;
            }
            const char *v = q + 2, *ve = strchr(v, '"');
            if (!ve || ve > end) {
                fprintf(stderr, "value leaves the tag: %s\n", p);
                return false;
            }
            if (href && strncmp(v, "http://", 7) && strncmp(v, "https://", 8) &&
                strncmp(v, "mailto:", 7)) {
                fprintf(stderr, "href not allowed: %.*s\n", (int)(ve - v), v);
                return false;
            }
            q = ve + 1;
        }
        p = end + 1;
    }
    return true;
}

/* Renders md and every prefix of it (what streaming shows), all safe. */
static void assert_safe_streaming(const char *md)
{
    size_t len = strlen(md);
    char *tmp = malloc(len + 1);
    assert_non_null(tmp);
    for (size_t k = 0; k <= len; k++) {
        memcpy(tmp, md, k);
        tmp[k] = '\0';
        if (!html_is_safe(render(tmp))) {
            fprintf(stderr, "input prefix: %s\n", tmp);
            fail();
        }
    }
    free(tmp);
}

static void test_escape(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    const char in[] = "<a href='x'>&\"\xC3\xA9\xFF\x00z";
    assert_int_equal(markdown_escape(&b, in, sizeof(in) - 1), 0);
    assert_string_equal(b.data, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\xC3\xA9\xEF\xBF\xBD\xEF\xBF\xBDz");
    buf_release(&b);
}

static void test_raw_html_is_text(void **state)
{
    (void)state;
    const char *h = render("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)> "
                           "<b onclick=\"alert(2)\">b</b>");
    assert_true(html_is_safe(h));
    assert_null(strstr(h, "<script"));
    assert_null(strstr(h, "<img"));
    assert_null(strstr(h, "<b "));
    assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(h, "&lt;img src=x onerror=alert(1)&gt;"));
    assert_non_null(strstr(h, "onclick=&quot;alert(2)&quot;"));
}

static void test_links(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](javascript&colon;alert(1))",
        "[x](&#106;avascript:alert(1))", "[x](&#x6A;avascript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)", "[x](vbscript:msgbox(1))",
        "<javascript:alert(1)>", "[x][r]\n\n[r]: javascript:alert(1)", "[x](<java script:a>)",
        "[x](/relative/path)", "[x](#frag)", "[x](//evil.example/)", "[x](http:///nohost)",
        "![y](javascript:alert(1))", "[x](https://ok.example/&#x22;onmouseover=&#x22;alert(1))",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        const char *h = render(bad[i]);
        if (!html_is_safe(h) || strstr(h, "<a ")) {
            fprintf(stderr, "input: %s\noutput: %s\n", bad[i], h);
            fail();
        }
    }
    /* blocked links stay readable: their label and the URL as text */
    assert_string_equal(render("[click](javascript:alert(1))"),
                        "<p><span class=\"blocked-link\">click <span class=\"blocked-url\">"
                        "(javascript:alert(1))</span></span></p>");
    assert_string_equal(render("[a](https://example.com/?q=1&x=2)"),
                        "<p><a href=\"https://example.com/?q=1&amp;x=2\" "
                        "rel=\"noopener noreferrer nofollow\" target=\"_blank\">a</a></p>");
    /* a quote in a URL is refused outright rather than escaped */
    assert_null(strstr(render("[a](https://example.com/?x=\"y\")"), "<a "));
    assert_non_null(strstr(render("mail me@example.com"), "href=\"mailto:me@example.com\""));
    assert_non_null(strstr(render("see www.example.com"), "href=\"http://www.example.com\""));
    /* a title cannot carry attributes: titles are not rendered */
    const char *t = render("[x](https://ok.example/ \"t\\\" onmouseover=\\\"alert(1)\")");
    assert_true(html_is_safe(t));
    assert_null(strstr(t, "onmouseover"));
    /* images are never loaded */
    const char *im = render("![cat](https://example.com/cat.png)");
    assert_null(strstr(im, "<img"));
    assert_non_null(strstr(im, "<a class=\"img-link\" href=\"https://example.com/cat.png\""));
}

static void test_url_rule(void **state)
{
    (void)state;
    assert_true(markdown_url_is_safe("https://a", 9));
    assert_true(markdown_url_is_safe("HTTP://a", 8));
    assert_true(markdown_url_is_safe("mailto:x", 8));
    assert_false(markdown_url_is_safe("https://", 8));
    assert_false(markdown_url_is_safe("mailto:", 7));
    assert_false(markdown_url_is_safe("https://a b", 11));
    assert_false(markdown_url_is_safe("https://a\tb", 11));
    assert_false(markdown_url_is_safe("https://a\"b", 11));
    assert_false(markdown_url_is_safe(" https://a", 10));
    assert_false(markdown_url_is_safe("javascript:alert(1)", 19));
    assert_false(markdown_url_is_safe("https://a\\b", 11));
    assert_false(markdown_url_is_safe("", 0));
}

static void test_code(void **state)
{
    (void)state;
    /* the language becomes a class of safe characters only */
    const char *h = render("```\"><script>alert(1)</script>\nx\n```");
    assert_true(html_is_safe(h));
    assert_non_null(strstr(h, "<pre><code class=\"language-scriptalert1script\">x\n</code></pre>"));
    /* an unclosed fence while streaming: an open code block, escaped */
    h = render("Look:\n\n```html\n<script>alert(1)</script>\n<b>");
    assert_true(html_is_safe(h));
    assert_non_null(strstr(h, "<pre><code class=\"language-html\">&lt;script&gt;alert(1)"
                              "&lt;/script&gt;\n&lt;b&gt;"));
    assert_safe_streaming("```js\nconst a = '<img src=x onerror=alert(1)>';\n\n```\n\n`<b>` done");
    assert_string_equal(render("`<i>`"), "<p><code>&lt;i&gt;</code></p>");
}

static void test_entities(void **state)
{
    (void)state;
    assert_string_equal(render("&lt;b&gt; &copy; &#65; &#0; &bogus; &#x110000;"),
                        "<p>&lt;b&gt; \xC2\xA9 A \xEF\xBF\xBD &amp;bogus; \xEF\xBF\xBD</p>");
}

static void test_structure(void **state)
{
    (void)state;
    assert_string_equal(render("| a | b |\n|:--|--:|\n| 1 | 2 |"),
                        "<div class=\"table-wrap\"><table><thead><tr><th class=\"al-l\">a</th>"
                        "<th class=\"al-r\">b</th></tr></thead><tbody><tr><td class=\"al-l\">1"
                        "</td><td class=\"al-r\">2</td></tr></tbody></table></div>");
    assert_string_equal(render("- [x] done\n- [ ] todo"),
                        "<ul><li class=\"task\"><input type=\"checkbox\" disabled checked> done"
                        "</li><li class=\"task\"><input type=\"checkbox\" disabled> todo</li></ul>");
    assert_string_equal(render("3. c\n4. d"), "<ol start=\"3\"><li>c</li><li>d</li></ol>");
    assert_string_equal(render("# T\n\n> q\n\n---"),
                        "<h1>T</h1><blockquote><p>q</p></blockquote><hr>");
}

static void test_stable_prefix(void **state)
{
    (void)state;
    const char *md = "one.\n\ntwo";
    assert_int_equal(markdown_stable_prefix(md, strlen(md), 0), 6);
    assert_int_equal(markdown_stable_prefix(md, strlen(md), 6), 6);
    md = "one.\n\n"; /* nothing after the blank line yet */
    assert_int_equal(markdown_stable_prefix(md, strlen(md), 0), 0);
    md = "```\nx\n\ny\n"; /* a blank line inside a fence */
    assert_int_equal(markdown_stable_prefix(md, strlen(md), 0), 0);
    md = "```\nx\n\ny\n```\n\nz";
    assert_int_equal(markdown_stable_prefix(md, strlen(md), 0), strlen(md) - 1);
    md = "~~~~\n```\n\nq\n~~~~\n\nr"; /* a shorter, other fence does not close it */
    assert_int_equal(markdown_stable_prefix(md, strlen(md), 0), strlen(md) - 1);
    md = "- a\n\n  b"; /* indented: may continue the item */
    assert_int_equal(markdown_stable_prefix(md, strlen(md), 0), 0);
    /* settled blocks rendered apart give what the whole renders */
    md = "First *one*.\n\nSecond `two`.\n\n```c\nint x;\n```\n\nLast";
    size_t p = markdown_stable_prefix(md, strlen(md), 0);
    assert_int_equal(p, strlen(md) - 4);
    struct buf parts;
    buf_init(&parts);
    size_t from = 0;
    for (size_t k = 1; k <= strlen(md); k++) { /* as it streams in */
        size_t q = markdown_stable_prefix(md, k, from);
        assert_true(q >= from && q <= k);
        if (q > from)
            assert_int_equal(markdown_render(&parts, md + from, q - from), 0);
        from = q;
    }
    assert_int_equal(markdown_render(&parts, md + from, strlen(md) - from), 0);
    assert_string_equal(parts.data, render(md));
    buf_release(&parts);
}

/* Random documents of markdown syntax and attack strings. */
static void test_random_hostile(void **state)
{
    (void)state;
    static const char *const bits[] = {
        "<script>", "</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)", "[",
        "](", ")", "![", "<", ">", "&", "&#", "&colon;", "x", "\"", "'", "`", "```", "\n",
        "\n\n", "*", "_", "~~", "|", "-", "1.", "> ", "    ", "<a href=\"javascript:x\">",
        "onmouseover=", "data:text/html,", "https://ok.example/", "www.", "@", "mailto:",
        "\xC3\xA9", "\xFF", "[x]: javascript:y\n", "<javascript:z>", "%0a", "\\", "&#x3C;",
    };
    uint64_t rng = 42;
    char doc[512];
    for (int it = 0; it < 3000; it++) {
        size_t n = 0;
        int parts = 1 + (int)(test_rand_u64(&rng) % 24);
        for (int k = 0; k < parts; k++) {
            const char *s = bits[test_rand_u64(&rng) % ARRAY_SIZE(bits)];
            size_t sl = strlen(s);
            if (n + sl >= sizeof(doc))
                break;
            memcpy(doc + n, s, sl);
            n += sl;
        }
        doc[n] = '\0';
        const char *h = render(doc);
        if (!html_is_safe(h)) {
            fprintf(stderr, "input: %s\noutput: %s\n", doc, h);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_raw_html_is_text),
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_url_rule),
        cmocka_unit_test(test_code),
        cmocka_unit_test(test_entities),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_stable_prefix),
        cmocka_unit_test(test_random_hostile),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    render(NULL);
    return rc;
}
