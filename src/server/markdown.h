/*
 * markdown.h: text from users and the model turned into HTML that is
 * safe to put in the chat page.
 *
 * Everything here treats its input as hostile. The guarantees, each
 * tested in tests/unit/test_markdown.c and fuzzed:
 *
 *   - every byte of text reaches the output escaped: '&', '<', '>', '"'
 *     and '\'' become entities, invalid UTF-8 and NUL become U+FFFD, so
 *     no input can open a tag or leave an attribute;
 *   - raw HTML in markdown is not HTML (md4c's MD_FLAG_NOHTML): it is
 *     shown as the text it is;
 *   - the only elements produced are the fixed set the renderer writes
 *     (p, headings, lists, pre/code, blockquote, table, em, strong, del,
 *     a, br, hr, a disabled checkbox for task lists), and the only
 *     attributes are href on links, a sanitised language class on code
 *     blocks, alignment classes on table cells, start on ordered lists;
 *   - a link's href survives only when it is an absolute http:, https:
 *     or mailto: URL with no whitespace or control characters (after
 *     entity decoding, so "javascript&colon;" is caught); any other
 *     link (javascript:, data:, relative, ...) becomes inert text: its
 *     label followed by the URL in parentheses, in a span;
 *   - images are never loaded: a safe image becomes a link to it, an
 *     unsafe one inert text, like links.
 *
 * Streaming. An answer is rendered while it grows. markdown_stable_prefix
 * finds how much of the text is made of whole blocks that later text
 * cannot change (up to a blank line outside a fenced code block, before
 * a line that starts a new block); the page appends that part once and
 * re-renders only the tail after it on each flush. An unclosed code fence
 * in the tail renders as an open code block, as it will look when closed.
 *
 * All functions append to a caller-owned struct buf and return 0 or
 * SMOL_ENOMEM (the buffer may then hold part of the output).
 */
#ifndef SMOL_MARKDOWN_H
#define SMOL_MARKDOWN_H

#include "base.h"
#include "buf.h"
#include "err.h"

/* Appends text[0..len) escaped for HTML text and attribute values. */
int markdown_escape(struct buf *out, const char *text, size_t len);

/* Appends the HTML of markdown md[0..len) (GitHub's dialect: tables,
 * strikethrough, task lists, autolinks; no raw HTML). */
int markdown_render(struct buf *out, const char *md, size_t len);

/* True when url[0..len) may be an href: http://, https:// (with a host
 * part) or mailto: with something after it, case-insensitive, and no
 * byte below 0x21, no DEL, no backslash, no quote or angle bracket. */
bool markdown_url_is_safe(const char *url, size_t len);

/* The largest offset p in [from, len] such that md[0..p) ends with
 * whole blocks: p == from, or p starts a line that follows a blank line,
 * lies outside any fenced code block and begins with a character that is
 * not whitespace (so it cannot continue an indented block or list item).
 * from must itself be such an offset (0, or an earlier result). */
size_t markdown_stable_prefix(const char *md, size_t len, size_t from);

#endif
