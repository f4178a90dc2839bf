/*
 * fuzz_tool_call.c: the JSON reader behind tool calls and the template's
 * tools (tool_call.h), on arbitrary bytes.
 *
 * Input: byte 0 picks what else is done with the text (bit 0: render it
 * as python_tools instead of tools; bit 1: thinking off); the rest is
 * the text. For every input:
 *   - smol_tool_call_parse either fails with NULL outputs and a sentence,
 *     or gives a non-empty name and arguments that are a JSON object in
 *     the writer's canonical form (parsing and writing them again gives
 *     the same bytes);
 *   - tool_json_parse in strict and lenient mode: whatever parses is
 *     written back as JSON that parses strictly to the same JSON again,
 *     and as Python's str() without failing;
 *   - smol_chat_render with the text as the tools JSON, on the vocab-only
 *     model (SmolLM3's template: tools printed as Python reprs), gives a
 *     prompt or a sentence.
 */
#include "fuzzutil.h"

#include "buf.h"
#include "tool_call.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct smol_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    model = fuzz_vocab_model();
    return 0;
}

/* v written as JSON, reparsed strictly, written again: the same bytes. */
static void check_json_roundtrip(const struct tool_json *v, const char *what)
{
    struct buf a, b;
    buf_init(&a);
    buf_init(&b);
    FUZZ_CHECK(tool_json_write_json(&a, v) == 0, "%s: write_json failed", what);
    struct tool_json w;
    struct smol_err err = {0};
    int rc = tool_json_parse(a.data ? a.data : "", a.len, TOOL_JSON_STRICT, &w, &err);
    FUZZ_CHECK(rc == 0, "%s: our own JSON does not parse: %s", what, err.msg);
    FUZZ_CHECK(tool_json_write_json(&b, &w) == 0, "%s: write_json failed", what);
    FUZZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0),
               "%s: JSON is not a fixpoint (%zu vs %zu bytes)", what, a.len, b.len);
    tool_json_release(&w);
    buf_reset(&a);
    FUZZ_CHECK(tool_json_write_str(&a, v) == 0, "%s: write_str failed", what);
    buf_release(&a);
    buf_release(&b);
}

static void check_tool_call(const char *text, size_t len)
{
    char *name = NULL, *args = NULL;
    struct smol_err err = {0};
    int rc = smol_tool_call_parse(text, len, &name, &args, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && !name && !args && err.msg[0], "failure %d left output", rc);
        return;
    }
    FUZZ_CHECK(name && *name && args, "success without a name or arguments");
    struct tool_json v;
    rc = tool_json_parse(args, strlen(args), TOOL_JSON_STRICT, &v, &err);
    FUZZ_CHECK(rc == 0, "the arguments are not JSON: %s", err.msg);
    FUZZ_CHECK(v.type == TOOL_JSON_OBJECT, "the arguments are not an object");
    struct buf b;
    buf_init(&b);
    FUZZ_CHECK(tool_json_write_json(&b, &v) == 0, "write_json failed");
    FUZZ_CHECK(b.len == strlen(args) && memcmp(b.data, args, b.len) == 0,
               "the arguments are not in canonical form");
    buf_release(&b);
    tool_json_release(&v);
    free(name);
    free(args);
}

static void check_render(const char *text, size_t len, uint8_t opt)
{
    /* the tools are a C string: up to the first NUL */
    char *tools = malloc(len + 1);
    FUZZ_CHECK(tools != NULL, "out of memory");
    memcpy(tools, text, len);
    tools[len] = '\0';
    const struct smol_message msgs[] = {
        {.role = SMOL_ROLE_SYSTEM, .content = "You are a bot."},
        {.role = SMOL_ROLE_USER, .content = "Weather in Paris?"},
    };
    struct smol_chat_opts o = {
        .thinking = (opt & 2) ? 0 : 1,
        .tools_json = (opt & 1) ? NULL : tools,
        .python_tools_json = (opt & 1) ? tools : NULL,
        .date = "01 January 2025",
    };
    struct smol_err err = {0};
    char *prompt = smol_chat_render(model, msgs, 2, &o, &err);
    if (prompt)
        FUZZ_CHECK(strstr(prompt, "Weather in Paris?") != NULL, "the user message is missing");
    else
        FUZZ_CHECK(err.code < 0 && err.msg[0], "render failed without a sentence");
    free(prompt);
    free(tools);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    check_tool_call(text, len);
    for (int mode = TOOL_JSON_STRICT; mode <= TOOL_JSON_LENIENT; mode++) {
        struct tool_json v;
        struct smol_err err = {0};
        if (tool_json_parse(text, len, mode, &v, &err) == 0) {
            check_json_roundtrip(&v, mode == TOOL_JSON_STRICT ? "strict" : "lenient");
            tool_json_release(&v);
        } else {
            FUZZ_CHECK(err.msg[0], "parse failed without a sentence");
        }
    }
    check_render(text, len, data[0]);
    return 0;
}
