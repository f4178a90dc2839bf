/*
 * chat_template.h: the renderer behind smol_chat_render, usable without a
 * model (the template family is a parameter), for tests and for engine
 * code that already knows the family.
 *
 * CHAT_FAMILY_SMOLLM3 reproduces SmolLM3's Jinja template (the
 * tokenizer.chat_template of its GGUF; a copy is in the fixtures as
 * chat/template.jinja) byte for byte, as Hugging Face's jinja2 renders
 * it, including its quirks: with no tools the system block is not closed
 * by <|im_end|>; only a first system message counts and later ones are
 * dropped; a tool result is rendered as a user turn; "/think" and
 * "/no_think" are removed from the system text anywhere (even inside
 * words); "/system_override" replaces the header with the rest of the
 * system text (leading space kept, no tools). Where the template reads
 * a value that is not a string we decide: content NULL renders as "";
 * a NULL system content counts as "" (jinja2 would raise).
 *
 * CHAT_FAMILY_CHATML is plain ChatML: "<|im_start|>ROLE\nCONTENT<|im_end|>\n"
 * per message (every system message, tool results with role "tool"),
 * assistant tool calls as in SmolLM3, no tools section, no thinking
 * switch, then "<|im_start|>assistant\n".
 */
#ifndef SMOL_CHAT_TEMPLATE_H
#define SMOL_CHAT_TEMPLATE_H

#include "base.h"
#include "buf.h"
#include "smol.h"

enum chat_family { CHAT_FAMILY_CHATML, CHAT_FAMILY_SMOLLM3 };

/* Appends the rendered conversation to out (see smol_chat_render for the
 * arguments; o may be NULL). Returns 0, or a negative status with err
 * set; out may then hold a partial render. */
int chat_template_render(struct buf *out, int family, const struct smol_message *msgs,
                         int n_msgs, const struct smol_chat_opts *o, struct smol_err *err);

/* The reasoning mode chat_template_render uses (see smol_chat_thinking). */
bool chat_template_thinking(int family, const struct smol_message *msgs, int n_msgs,
                            const struct smol_chat_opts *o);

/* Today's local date as the template's strftime_now("%d %B %Y") prints
 * it, "08 July 2025", with English month names whatever the locale. */
void chat_template_today(char out[32]);

/* Python's len(s.rstrip()) in bytes: s[0..len) without its trailing
 * whitespace in str.isspace()'s sense (ASCII \t\n\v\f\r, \x1c-\x1f and
 * space, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
 * U+205F, U+3000). */
size_t chat_py_rstrip(const char *s, size_t len);

#endif
