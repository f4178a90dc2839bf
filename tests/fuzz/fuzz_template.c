/*
 * fuzz_template.c: an OpenAI-style messages array (smol_messages_from_json)
 * rendered by both template families (chat_template_render), the path of
 * `smolbot template` and of every chat request.
 *
 * Input: byte 0 chooses the options (bit 0: thinking off, bit 1: no
 * generation prompt, bit 2: the text after the first NUL is the tools
 * JSON); the rest is the messages JSON. What must hold:
 *   - reading fails with a sentence, or gives messages with known roles;
 *   - each family renders them or fails with a sentence;
 *   - ChatML keeps every user message's content verbatim;
 *   - the generation prompt, when asked for, ends the render.
 */
#include "fuzzutil.h"

#include "buf.h"
#include "chat_template.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool ends_with(const struct buf *b, const char *s)
{
    size_t n = strlen(s);
    return b->len >= n && memcmp(b->data + b->len - n, s, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t opt = data[0];
    const char *json = (const char *)data + 1;
    size_t len = size - 1;
    char *tools = NULL;
    if (opt & 4) {
        const char *nul = memchr(json, '\0', len);
        if (nul) {
            size_t tl = len - (size_t)(nul + 1 - json);
            tools = malloc(tl + 1);
            FUZZ_CHECK(tools != NULL, "out of memory");
            memcpy(tools, nul + 1, tl);
            tools[tl] = '\0';
            len = (size_t)(nul - json);
        }
    }
    struct smol_message *msgs = NULL;
    int n = 0;
    struct smol_err err = {0};
    if (smol_messages_from_json(json, len, &msgs, &n, &err) != 0) {
        FUZZ_CHECK(err.msg[0] && !msgs && n == 0, "refused without a sentence");
        free(tools);
        return 0;
    }
    for (int i = 0; i < n; i++)
        FUZZ_CHECK(msgs[i].role >= SMOL_ROLE_SYSTEM && msgs[i].role <= SMOL_ROLE_TOOL,
                   "message %d has role %d", i, msgs[i].role);
    struct smol_chat_opts o = {
        .thinking = (opt & 1) ? 0 : -1,
        .no_generation_prompt = (opt & 2) != 0,
        .tools_json = tools,
        .date = "01 January 2025",
    };
    for (int family = CHAT_FAMILY_CHATML; family <= CHAT_FAMILY_SMOLLM3; family++) {
        struct buf b;
        buf_init(&b);
        struct smol_err e = {0};
        int rc = chat_template_render(&b, family, msgs, n, &o, &e);
        (void)chat_template_thinking(family, msgs, n, &o);
        if (rc != 0) {
            FUZZ_CHECK(rc < 0 && e.msg[0], "family %d failed without a sentence", family);
            buf_release(&b);
            continue;
        }
        if (!o.no_generation_prompt)
            FUZZ_CHECK(ends_with(&b, "<|im_start|>assistant\n") ||
                       ends_with(&b, "<think>\n\n</think>\n"),
                       "family %d: no generation prompt at the end", family);
        if (family == CHAT_FAMILY_CHATML)
            for (int i = 0; i < n; i++)
                if (msgs[i].role == SMOL_ROLE_USER && msgs[i].content)
                    FUZZ_CHECK(b.data && strstr(b.data, msgs[i].content),
                               "ChatML lost user message %d", i);
        buf_release(&b);
    }
    smol_messages_free(msgs, n);
    free(tools);
    return 0;
}
