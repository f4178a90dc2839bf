/*
 * ui_render.c: the HTML fragments of the web chat. See ui_int.h.
 *
 * The rule of this file: every string that comes from a user, the
 * model, the store or a request goes through markdown_escape (plain
 * text) or markdown_render (answers), and nothing else is ever put in
 * the page. The numbers we print are ours. Element ids carry only
 * database ids, so the fragments' hx-* attributes are all written here.
 *
 * The element ids the live side swaps into:
 *   #messages         the chat's messages (snapshots replace its content,
 *                     new messages are appended to it)
 *   #mID              one message (replaced when its answer ends)
 *   #mID-cb, #mID-ct  a streamed answer: settled blocks, and the tail
 *   #mID-rb, #mID-rt  the same for its reasoning
 */
#include "markdown.h"
#include "ui_int.h"

#include <inttypes.h>
#include <string.h>

static int esc(struct buf *b, const char *s)
{
    return markdown_escape(b, s ? s : "", s ? strlen(s) : 0);
}

/* ---- messages ---- */

/* The line under an answer: tokens, speed, time to first token, prompt,
 * and why it ended when that is news. */
static int render_stats(struct buf *b, const struct store_message *m)
{
    const struct store_stats *s = &m->stats;
    int rc = buf_append_str(b, "<footer class=\"stats\">");
    if (s->n_gen > 0)
        rc |= buf_appendf(b, "<span class=\"st-tokens\">%" PRId64 " token%s</span>", s->n_gen,
                          s->n_gen == 1 ? "" : "s");
    if (s->gen_tps > 0)
        rc |= buf_appendf(b, "<span class=\"st-tps\" title=\"generation speed\">%.1f tok/s</span>",
                          s->gen_tps);
    if (s->ttft_ms > 0)
        rc |= buf_appendf(b, "<span class=\"st-ttft\" title=\"time to first token\">TTFT %.0f "
                          "ms</span>", s->ttft_ms);
    if (s->n_prompt > 0)
        rc |= buf_appendf(b, "<span class=\"st-prompt\" title=\"prompt tokens (reused from the "
                          "cache)\">prompt %" PRId64 " (%" PRId64 " cached)</span>", s->n_prompt,
                          s->n_cached);
    const char *why = NULL;
    if (m->status == STORE_MSG_PARTIAL)
        why = !strcmp(s->stop_reason, "interrupted") ? "interrupted"
              : !strcmp(s->stop_reason, "error")     ? "failed"
                                                     : "stopped";
    else if (!strcmp(s->stop_reason, "length"))
        why = "max tokens reached";
    else if (!strcmp(s->stop_reason, "context"))
        why = "context full";
    if (why)
        rc |= buf_appendf(b, "<span class=\"st-reason\">%s</span>", why);
    rc |= buf_append_str(b, "</footer>");
    return rc;
}

/* A streamed channel as the page has it: settled blocks, then the tail. */
static int render_live_text(struct buf *b, const struct ui_text *t, int64_t id, char ch)
{
    int rc = buf_appendf(b, "<div id=\"m%" PRId64 "-%cb\">", id, ch);
    rc |= buf_append(b, t->blocks.data ? t->blocks.data : "", t->blocks.len);
    rc |= buf_appendf(b, "</div><div id=\"m%" PRId64 "-%ct\">", id, ch);
    if (t->sent > t->done)
        rc |= markdown_render(b, t->md.data + t->done, t->sent - t->done);
    rc |= buf_append_str(b, "</div>");
    return rc;
}

static int render_assistant(struct buf *b, int64_t chat, const struct store_message *m,
                            const struct ui_gen *g, const char *oob)
{
    const bool live = g && g->msg_id == m->id;
    /* stored as generating with no live answer: its last save failed
     * (a full disk); the next start marks it partial, show it so now */
    const char *status = live ? "generating"
                         : m->status == STORE_MSG_GENERATING ? store_status_name(STORE_MSG_PARTIAL)
                                                              : store_status_name(m->status);
    int rc = buf_appendf(b, "<article class=\"msg assistant\" id=\"m%" PRId64 "\" data-id=\"%"
                         PRId64 "\" data-status=\"%s\"%s>", m->id, m->id, status, oob);
    if (live) {
        if (*g->note) {
            rc |= buf_append_str(b, "<p class=\"note\">");
            rc |= esc(b, g->note);
            rc |= buf_append_str(b, "</p>");
        }
        rc |= buf_append_str(b, "<details class=\"reasoning\" open><summary>Thinking</summary>"
                                "<div class=\"md\">");
        rc |= render_live_text(b, &g->reasoning, m->id, 'r');
        rc |= buf_append_str(b, "</div></details><div class=\"md answer\">");
        rc |= render_live_text(b, &g->content, m->id, 'c');
        rc |= buf_append_str(b, "</div><footer class=\"stats\"><span class=\"typing\" "
                                "aria-label=\"writing\"><i></i><i></i><i></i></span></footer>");
        return rc | buf_append_str(b, "</article>");
    }
    if (m->reasoning && *m->reasoning) {
        rc |= buf_append_str(b, "<details class=\"reasoning\"><summary>Reasoning</summary>"
                                "<div class=\"md\">");
        rc |= markdown_render(b, m->reasoning, strlen(m->reasoning));
        rc |= buf_append_str(b, "</div></details>");
    }
    rc |= buf_append_str(b, "<div class=\"md answer\">");
    rc |= markdown_render(b, m->content, strlen(m->content));
    rc |= buf_append_str(b, "</div>");
    rc |= render_stats(b, m);
    rc |= buf_appendf(b,
                      "<div class=\"msg-actions\">"
                      "<button type=\"button\" class=\"act copy-msg\" title=\"Copy the answer\">"
                      "Copy</button>"
                      "<button type=\"button\" class=\"act last-only\" hx-post=\"/ui/chats/%"
                      PRId64 "/regenerate\" hx-target=\"#notices\" title=\"Answer again\">"
                      "Regenerate</button>"
                      "<button type=\"button\" class=\"act last-only\" hx-post=\"/ui/chats/%"
                      PRId64 "/continue\" hx-target=\"#notices\" title=\"Go on writing this "
                      "answer\">Continue</button></div></article>",
                      chat, chat);
    return rc;
}

int ui_render_message(struct buf *b, int64_t chat, const struct store_message *m,
                      const struct ui_gen *g, bool oob)
{
    const char *o = oob ? " hx-swap-oob=\"true\"" : "";
    int rc = 0;
    switch (m->role) {
    case STORE_ROLE_ASSISTANT:
        return render_assistant(b, chat, m, g, o) ? SMOL_ENOMEM : 0;
    case STORE_ROLE_USER:
        rc |= buf_appendf(b, "<article class=\"msg user\" id=\"m%" PRId64 "\" data-id=\"%" PRId64
                          "\" data-status=\"%s\"%s><div class=\"bubble\">", m->id, m->id,
                          store_status_name(m->status), o);
        rc |= esc(b, m->content);
        rc |= buf_appendf(b, "</div><div class=\"msg-actions\">"
                          "<button type=\"button\" class=\"act copy-msg\">Copy</button>"
                          "<button type=\"button\" class=\"act\" hx-get=\"/ui/chats/%" PRId64
                          "/messages/%" PRId64 "/edit\" hx-target=\"#m%" PRId64 "\" "
                          "hx-swap=\"outerHTML\" title=\"Edit, then answer again\">Edit</button>"
                          "</div></article>", chat, m->id, m->id);
        break;
    default:
        if (m->role == STORE_ROLE_SYSTEM && !strcmp(m->content, UI_RESET_MARK))
            return buf_appendf(b, "<div class=\"msg divider\" id=\"m%" PRId64 "\"%s><span>Context "
                               "reset: the model does not see the messages above</span></div>",
                               m->id, o) ? SMOL_ENOMEM : 0;
        rc |= buf_appendf(b, "<div class=\"msg aside\" id=\"m%" PRId64 "\"%s><span class=\"role\">"
                          "%s</span> ", m->id, o, store_role_name(m->role));
        rc |= esc(b, m->content);
        rc |= buf_append_str(b, "</div>");
        break;
    }
    return rc ? SMOL_ENOMEM : 0;
}

int ui_render_messages(struct buf *b, int64_t chat, const struct store_message *v, size_t n,
                       const struct ui_gen *g)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = ui_render_message(b, chat, &v[i], g, false);
    return rc;
}

/* ---- the chat view ---- */

int ui_render_chat(struct buf *b, const struct ui *u, const struct store_session *s,
                   const struct store_message *v, size_t n, const struct ui_gen *g,
                   const char *since)
{
    const int64_t id = s->id;
    int rc = buf_appendf(b, "<section id=\"chat\" class=\"chat\" data-chat-id=\"%" PRId64 "\" "
                         "hx-ext=\"sse\" sse-connect=\"/ui/chats/%" PRId64 "/events?since=",
                         id, id);
    rc |= esc(b, since);
    rc |= buf_appendf(b, "\"><header class=\"chat-head\">"
                      "<button type=\"button\" class=\"icon-btn\" id=\"menu-btn\" "
                      "aria-label=\"Chats\">&#9776;</button>"
                      "<h1 class=\"chat-title\" id=\"title-%" PRId64 "\">", id);
    rc |= esc(b, *s->title ? s->title : "New chat");
    rc |= buf_append_str(b, "</h1><span class=\"model-badge\" title=\"the model\">");
    rc |= esc(b, u->o.model_id);
    rc |= buf_append_str(b, "</span></header>"
                            "<div id=\"scroller\" class=\"scroller\">"
                            "<div class=\"welcome\"><h2>What can I help with?</h2>"
                            "<p>Type a message, or <kbd>/</kbd> for commands. "
                            "<kbd>/quote</kbd> streams a passage without the model; "
                            "<kbd>/help</kbd> lists everything.</p></div>"
                            "<div id=\"messages\" class=\"messages\">");
    rc |= ui_render_messages(b, id, v, n, g);
    rc |= buf_appendf(b,
                      "</div><div id=\"notices\" class=\"notices\"></div></div>"
                      "<button type=\"button\" id=\"to-bottom\" class=\"to-bottom\" hidden "
                      "aria-label=\"Scroll to the end\">&#8595;</button>"
                      "<div class=\"sse-sink\" sse-swap=\"chat\" hx-swap=\"none\"></div>"
                      "<form id=\"composer\" class=\"composer\" hx-post=\"/ui/chats/%" PRId64
                      "/send\" hx-target=\"#notices\" hx-swap=\"innerHTML\">"
                      "<div id=\"slash-menu\" class=\"slash-menu\" role=\"listbox\" hidden></div>"
                      "<textarea id=\"input\" name=\"text\" rows=\"1\" placeholder=\"Message "
                      "smolbot (/ for commands)\" autocomplete=\"off\" aria-label=\"Message\">"
                      "</textarea><div class=\"composer-bar\">"
                      "<label class=\"switch\" title=\"Let the model think before it answers\">"
                      "<input type=\"checkbox\" id=\"think-toggle\" name=\"thinking\" value=\"1\" "
                      "hx-post=\"/ui/chats/%" PRId64 "/settings\" hx-trigger=\"change\" "
                      "hx-params=\"thinking\" hx-target=\"#notices\"%s>"
                      "<span class=\"slider\"></span><span>Thinking</span></label>"
                      "<span class=\"hint\">Enter to send, Shift+Enter for a new line</span>"
                      "<button type=\"button\" id=\"stop-btn\" class=\"btn stop\" hx-post=\"/ui/chats/%"
                      PRId64 "/stop\" hx-target=\"#notices\">Stop</button>"
                      "<button type=\"submit\" id=\"send-btn\" class=\"btn send\">Send</button>"
                      "</div></form></section>",
                      id, id, s->settings.thinking ? " checked" : "", id);
    return rc ? SMOL_ENOMEM : 0;
}

/* ---- the sidebar ---- */

int ui_render_chat_list(struct buf *b, const struct store_session *v, size_t n, int64_t active,
                        bool oob)
{
    int rc = buf_appendf(b, "<nav id=\"chat-list\" class=\"chat-list\"%s>",
                         oob ? " hx-swap-oob=\"true\"" : "");
    if (n == 0)
        rc |= buf_append_str(b, "<p class=\"empty\">No chats yet.</p>");
    for (size_t i = 0; i < n; i++) {
        const struct store_session *s = &v[i];
        rc |= buf_appendf(b, "<div class=\"chat-item%s\" data-chat-id=\"%" PRId64 "\">"
                          "<a class=\"chat-link\" href=\"#chat-%" PRId64 "\" hx-get=\"/ui/chats/%"
                          PRId64 "\" hx-target=\"#main\" hx-swap=\"innerHTML\"><span "
                          "class=\"chat-name\">", s->id == active ? " active" : "", s->id, s->id,
                          s->id);
        rc |= esc(b, *s->title ? s->title : "New chat");
        rc |= buf_appendf(b, "</span><time data-ms=\"%" PRId64 "\"></time></a>"
                          "<button type=\"button\" class=\"icon-btn rename-btn\" data-chat-id=\"%"
                          PRId64 "\" title=\"Rename\" aria-label=\"Rename\">&#9998;</button>"
                          "<button type=\"button\" class=\"icon-btn delete-btn\" hx-post=\"/ui/chats/%"
                          PRId64 "/delete\" hx-confirm=\"Delete this chat and its messages?\" "
                          "hx-target=\"#chat-list\" hx-swap=\"outerHTML\" title=\"Delete\" "
                          "aria-label=\"Delete\">&#10005;</button></div>",
                          s->updated_ms, s->id, s->id);
    }
    rc |= buf_append_str(b, "</nav>");
    return rc ? SMOL_ENOMEM : 0;
}

int ui_render_notice(struct buf *b, const char *kind, const char *title, const char *body_html)
{
    int rc = buf_appendf(b, "<div class=\"notice %s\" role=\"status\"><button type=\"button\" "
                         "class=\"notice-close\" aria-label=\"Dismiss\">&#215;</button><strong>",
                         !strcmp(kind, "error") ? "error" : "info");
    rc |= esc(b, title);
    rc |= buf_appendf(b, "</strong><div class=\"notice-body\">%s</div></div>",
                      body_html ? body_html : "");
    return rc ? SMOL_ENOMEM : 0;
}

/* ---- export ---- */

int ui_render_export_md(struct buf *b, const struct store_session *s,
                        const struct store_message *v, size_t n)
{
    int rc = buf_appendf(b, "# %s\n\n", *s->title ? s->title : "Chat");
    if (s->settings.system_prompt && *s->settings.system_prompt)
        rc |= buf_appendf(b, "**System prompt:** %s\n\n", s->settings.system_prompt);
    for (size_t i = 0; i < n; i++) {
        const struct store_message *m = &v[i];
        if (m->role == STORE_ROLE_SYSTEM && !strcmp(m->content, UI_RESET_MARK)) {
            rc |= buf_append_str(b, "---\n\n*(context reset)*\n\n");
            continue;
        }
        rc |= buf_appendf(b, "## %s%s\n\n", m->role == STORE_ROLE_USER ? "User"
                          : m->role == STORE_ROLE_ASSISTANT ? "Assistant" : store_role_name(m->role),
                          m->status == STORE_MSG_PARTIAL ? " (partial)" : "");
        if (m->reasoning && *m->reasoning) {
            /* the reasoning as a quote, line by line */
            rc |= buf_append_str(b, "> **Reasoning**\n>\n> ");
            for (const char *p = m->reasoning; *p; p++) {
                rc |= buf_append_char(b, *p);
                if (*p == '\n')
                    rc |= buf_append_str(b, "> ");
            }
            rc |= buf_append_str(b, "\n\n");
        }
        rc |= buf_appendf(b, "%s\n\n", m->content);
    }
    return rc ? SMOL_ENOMEM : 0;
}
