/*
 * test_chat_renders.c: our SmolLM3 chat template against the references.
 *
 * - chat/renders.jsonl: 20 conversations rendered by Python's jinja2 as
 *   Hugging Face configures it (tools passed whole as xml_tools). The
 *   reference for the template: every one must match byte for byte.
 * - chat/llamacpp-renders.json: 6 renders by llama.cpp's jinja engine
 *   (c5 passes xml_tools as JSON strings, printed as they are).
 * - tiny-f32.ref.json chat_renders: the same 6, whose tiny-vocabulary
 *   ids must also equal the tokenization of our render.
 * - The template inside the GGUFs is chat/template.jinja, byte for byte,
 *   and both fixture GGUFs are detected as SmolLM3's.
 *
 * Conversations go through smol_messages_from_json (cJSON only reads the
 * fixture files and re-prints each conversation's messages and tools),
 * then smol_chat_render with the model opened vocabulary-only.
 */
#include "testutil.h"

#include "gguf.h"
#include "smol.h"

#include <cJSON.h>
#include <string.h>

/* Fails with the first differing offset and both sides around it. */
static void expect_same(const char *name, const char *want, const char *got)
{
    if (strcmp(want, got) == 0)
        return;
    size_t i = 0;
    while (want[i] && want[i] == got[i])
        i++;
    size_t from = i > 40 ? i - 40 : 0;
    fail_msg("%s: renders differ at byte %zu (want %zu bytes, got %zu)\n"
             "  want ...%.80s\n  got  ...%.80s",
             name, i, strlen(want), strlen(got), want + from, got + from);
}

static char *print_json(const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    assert_non_null(s);
    return s;
}

/* One conversation in the fixtures' shape: render it and compare. */
static char *render_case(const struct smol_model *m, const cJSON *c, const cJSON *tools,
                         const char *date)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
    char *mjson = print_json(cJSON_GetObjectItemCaseSensitive(c, "messages"));
    struct smol_err err = {0};
    struct smol_message *msgs;
    int n;
    if (smol_messages_from_json(mjson, strlen(mjson), &msgs, &n, &err) != 0)
        fail_msg("%s: messages: %s", name ? name : "?", err.msg);
    struct smol_chat_opts o = {.thinking = -1, .date = date};
    const cJSON *think = cJSON_GetObjectItemCaseSensitive(c, "enable_thinking");
    if (think)
        o.thinking = cJSON_IsTrue(think) ? 1 : 0;
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt");
    o.no_generation_prompt = gen && cJSON_IsFalse(gen);
    char *tj = tools ? print_json(tools) : NULL;
    const cJSON *py = cJSON_GetObjectItemCaseSensitive(c, "python_tools");
    char *pj = py ? print_json(py) : NULL;
    o.tools_json = tj;
    o.python_tools_json = pj;
    char *got = smol_chat_render(m, msgs, n, &o, &err);
    if (!got)
        fail_msg("%s: render: %s", name ? name : "?", err.msg);
    smol_messages_free(msgs, n);
    free(mjson);
    free(tj);
    free(pj);
    return got;
}

static struct smol_model *open_vocab(const char *rel)
{
    struct smol_err err = {0};
    struct smol_model_opts mo = {.vocab_only = true};
    struct smol_model *m = smol_model_open(test_fixture(rel), &mo, &err);
    if (!m)
        fail_msg("%s: %s", rel, err.msg);
    return m;
}

static void test_renders_jsonl(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct smol_model *m = open_vocab("tiny-f32.gguf");
    size_t size;
    char *data = test_read_file(test_fixture("chat/renders.jsonl"), &size);
    assert_non_null(data);
    int n = 0, tools = 0, no_think = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *c = cJSON_Parse(line);
        assert_non_null(c);
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
        const char *date = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "date"));
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "rendered"));
        assert_non_null(name);
        assert_non_null(date);
        assert_non_null(want);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "tools");
        char *got = render_case(m, c, t, date);
        expect_same(name, want, got);
        tools += t != NULL;
        no_think += strstr(want, "Reasoning Mode: /no_think") != NULL;
        free(got);
        cJSON_Delete(c);
        n++;
    }
    free(data);
    smol_model_close(m);
    assert_int_equal(n, 20);
    assert_true(tools >= 2 && no_think >= 5); /* the file covers what we think it covers */
}

/* The 6 llama.cpp renders, from either file; with ids when tok is set. */
static void check_llamacpp(const struct smol_model *m, const cJSON *c, const char *name,
                           const char *date, bool ids)
{
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(c, "template_kwargs");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(kw, "xml_tools");
    char *got = render_case(m, c, tools, date);
    const char *want = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "rendered"));
    assert_non_null(want);
    expect_same(name, want, got);
    if (ids) {
        const cJSON *jids = cJSON_GetObjectItemCaseSensitive(c, "ids");
        int n_want = cJSON_GetArraySize(jids);
        int32_t *buf = malloc(sizeof(int32_t) * (size_t)(n_want + 1));
        assert_non_null(buf);
        int n_got = smol_tokenize(m, got, strlen(got), SMOL_TOKENIZE_SPECIAL, buf, n_want + 1);
        assert_int_equal(n_got, n_want);
        for (int i = 0; i < n_want; i++)
            if (buf[i] != (int32_t)cJSON_GetArrayItem(jids, i)->valuedouble)
                fail_msg("%s: token %d is %d, want %d", name, i, buf[i],
                         (int)cJSON_GetArrayItem(jids, i)->valuedouble);
        free(buf);
    }
    free(got);
}

static void test_llamacpp_renders(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct smol_model *m = open_vocab("tiny-f32.gguf");
    size_t size;
    char *data = test_read_file(test_fixture("chat/llamacpp-renders.json"), &size);
    assert_non_null(data);
    cJSON *root = cJSON_Parse(data);
    assert_non_null(root);
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "renders")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
        assert_non_null(name);
        check_llamacpp(m, c, name, "08 July 2025", false);
        n++;
    }
    assert_int_equal(n, 6);
    cJSON_Delete(root);
    free(data);
    smol_model_close(m);
}

static void test_tiny_ref_renders(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    struct smol_model *m = open_vocab("tiny-f32.gguf");
    size_t size;
    char *data = test_read_file(test_fixture("tiny-f32.ref.json"), &size);
    assert_non_null(data);
    cJSON *root = cJSON_Parse(data);
    assert_non_null(root);
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "chat_renders")) {
        const char *date =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "strftime_now_date"));
        assert_non_null(date);
        check_llamacpp(m, c, c->string, date, true);
        n++;
    }
    assert_int_equal(n, 6);
    cJSON_Delete(root);
    free(data);
    smol_model_close(m);
}

/* What we reproduce is what the GGUFs carry, and both are recognised. */
static void test_gguf_template_is_the_jinja(void **state)
{
    (void)state;
    TEST_NEED_FIXTURES();
    size_t size;
    char *jinja = test_read_file(test_fixture("chat/template.jinja"), &size);
    assert_non_null(jinja);
    static const char *const models[] = {"tiny-f32.gguf", "vocab-smollm3.gguf",
                                         "scripted/scripted-tool.gguf"};
    for (size_t i = 0; i < ARRAY_SIZE(models); i++) {
        struct smol_err err = {0};
        struct gguf_file *f = NULL;
        if (gguf_open(&f, test_fixture(models[i]), &err) != 0)
            fail_msg("%s: %s", models[i], err.msg);
        struct gguf_str t;
        assert_int_equal(gguf_get_str(f, "tokenizer.chat_template", &t, NULL), 0);
        assert_int_equal(t.len, size);
        assert_memory_equal(t.ptr, jinja, size);
        gguf_close(f);
    }
    free(jinja);
    struct smol_model *m = open_vocab("vocab-smollm3.gguf");
    struct smol_model_info info;
    smol_model_get_info(m, &info);
    assert_true(info.is_smollm3_template);
    smol_model_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renders_jsonl),
        cmocka_unit_test(test_llamacpp_renders),
        cmocka_unit_test(test_tiny_ref_renders),
        cmocka_unit_test(test_gguf_template_is_the_jinja),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
