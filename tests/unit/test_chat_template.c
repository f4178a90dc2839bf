/*
 * test_chat_template.c: the chat template, the JSON reader and writers
 * behind it, and tool-call parsing, without fixtures.
 *
 * Expected renders and Python reprs were produced with Python 3.11's
 * json.loads + str() and with jinja2 configured as Hugging Face does
 * (trim_blocks, lstrip_blocks) on SmolLM3's template; they are pasted
 * here so the tests need nothing but C.
 */
#include "testutil.h"

#include "chat_template.h"
#include "model.h"
#include "tool_call.h"

#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

/* Python's str(json.loads(json)) through our reader and writer. */
static char *py_str(const char *json)
{
    struct tool_json v;
    struct smol_err err = {0};
    if (tool_json_parse(json, strlen(json), TOOL_JSON_STRICT, &v, &err) != 0)
        fail_msg("parse %s: %s", json, err.msg);
    struct buf b;
    buf_init(&b);
    assert_int_equal(tool_json_write_str(&b, &v), 0);
    tool_json_release(&v);
    return buf_detach(&b);
}

static void expect_py_str(const char *json, const char *want)
{
    char *got = py_str(json);
    if (strcmp(got, want) != 0)
        fail_msg("str(%s)\n  want %s\n  got  %s", json, want, got);
    free(got);
}

static char *render(int family, const struct smol_message *msgs, int n,
                    const struct smol_chat_opts *o)
{
    struct buf b;
    buf_init(&b);
    struct smol_err err = {0};
    if (chat_template_render(&b, family, msgs, n, o, &err) != 0)
        fail_msg("render: %s", err.msg);
    return buf_detach(&b);
}

static void expect_render(const char *what, const char *want, char *got)
{
    if (strcmp(want, got) != 0) {
        size_t i = 0;
        while (want[i] && want[i] == got[i])
            i++;
        fail_msg("%s: differs at byte %zu\n  want ...%.60s\n  got  ...%.60s", what, i,
                 want + (i > 20 ? i - 20 : 0), got + (i > 20 ? i - 20 : 0));
    }
    free(got);
}

#define HEAD(mode)                                                                   \
    "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"          \
    "Today Date: 01 January 2026\nReasoning Mode: " mode "\n\n## Custom Instructions\n\n"
#define NO_THINK_DEFAULT "You are a helpful AI assistant named SmolLM, trained by Hugging Face.\n\n"
#define GEN_NO_THINK "<|im_start|>assistant\n<think>\n\n</think>\n"

#define MSG(r, c) {.role = (r), .content = (c)}

/* ---- Python's str() of JSON values ------------------------------------- */

static void test_repr_nested_and_quotes(void **state)
{
    (void)state;
    expect_py_str("{\"a\": {\"b\": [1, 2.5, \"x\"]}, \"c\": [], \"d\": {}}",
                  "{'a': {'b': [1, 2.5, 'x']}, 'c': [], 'd': {}}");
    /* single quotes unless the text has a ' and no " */
    expect_py_str("[\"it's\", \"say \\\"hi\\\"\", \"both ' and \\\"\", \"back\\\\slash\", \"\"]",
                  "[\"it's\", 'say \"hi\"', 'both \\' and \"', 'back\\\\slash', '']");
    expect_py_str("{\"k'ey\": \"v\"}", "{\"k'ey\": 'v'}");
    expect_py_str("[true, false, null]", "[True, False, None]");
    /* duplicate keys: first position, last value */
    expect_py_str("{\"a\": 1, \"b\": 2, \"a\": 3}", "{'a': 3, 'b': 2}");
    expect_py_str("{\"x\": {\"y\": 1, \"y\": [2], \"z\": 0, \"y\": null}}",
                  "{'x': {'y': None, 'z': 0}}");
    /* str() of a top-level string is the string itself (llama.cpp's c5) */
    expect_py_str("\"raw 'text' \\n stays\"", "raw 'text' \n stays");
}

static void test_repr_controls_and_unicode(void **state)
{
    (void)state;
    expect_py_str("[\"tab\\tnl\\ncr\\rbell\\u0007del\\u007fesc\\u001b\"]",
                  "['tab\\tnl\\ncr\\rbell\\x07del\\x7fesc\\x1b']");
    /* printable non-ASCII stays; separators, format, private-use,
     * unassigned and lone surrogates are escaped as Python does */
    expect_py_str("[\"\\u00e9 \\u2713 \\u65e5 \\ud83d\\ude80\", "
                  "\"\\u00a0|\\u200b|\\u2028|\\u00ad|\\ue000|\\ud800|\\u0378|\\u3000|\\u0085\"]",
                  "['\xc3\xa9 \xe2\x9c\x93 \xe6\x97\xa5 \xf0\x9f\x9a\x80', "
                  "'\\xa0|\\u200b|\\u2028|\\xad|\\ue000|\\ud800|\\u0378|\\u3000|\\x85']");
    expect_py_str("[\"\\udbff\\udfff\"]", "['\\U0010ffff']");
}

static void test_repr_numbers(void **state)
{
    (void)state;
    expect_py_str("[0, -0, 12345678901234567890123, -5]", "[0, 0, 12345678901234567890123, -5]");
    expect_py_str("[0.5, 1e-07, 100.0, 1.0, 1e100, 1E5, -0.0, 0.1, 1e16, 1e15, 123456789.123, "
                  "1e-5, 0.0001, 1.5e300, 2.5e-5, 1e400, -1e400, NaN, Infinity, 5e-324, "
                  "0.30000000000000004, 1.50, 9999999999999998.0, 1e22, 123e-2]",
                  "[0.5, 1e-07, 100.0, 1.0, 1e+100, 100000.0, -0.0, 0.1, 1e+16, "
                  "1000000000000000.0, 123456789.123, 1e-05, 0.0001, 1.5e+300, 2.5e-05, inf, "
                  "-inf, nan, inf, 5e-324, 0.30000000000000004, 1.5, 9999999999999998.0, "
                  "1e+22, 1.23]");
    expect_py_str("[-Infinity, -1.5e-10, 2e-4, 1.7976931348623157e308]",
                  "[-inf, -1.5e-10, 0.0002, 1.7976931348623157e+308]");
}

/* ---- JSON writer and reader ------------------------------------------- */

static void test_json_writer(void **state)
{
    (void)state;
    static const char in[] =
        "{ \"a\" : \"x\\u0001\\\"\\/\\u00e9\\ud800\" , \"b\":[1,2.50,-0,true],\"c\":{\"d\":null},"
        "\"a\":\"last\\u007f\"}";
    struct tool_json v;
    struct smol_err err = {0};
    assert_int_equal(tool_json_parse(in, strlen(in), TOOL_JSON_STRICT, &v, &err), 0);
    struct buf b;
    buf_init(&b);
    assert_int_equal(tool_json_write_json(&b, &v), 0);
    /* json.dumps(ensure_ascii=False) layout; numbers as written */
    assert_string_equal(b.data, "{\"a\": \"last\x7f\", \"b\": [1, 2.50, -0, true], \"c\": {\"d\": null}}");
    buf_reset(&b);
    assert_int_equal(tool_json_write_json(&b, tool_json_get(&v, "c")), 0);
    assert_string_equal(b.data, "{\"d\": null}");
    buf_reset(&b);
    /* the first "a" (shadowed in dicts) is still reachable as an item */
    assert_int_equal(tool_json_write_json(&b, &v.items[1]), 0);
    assert_string_equal(b.data, "\"x\\u0001\\\"/\xc3\xa9\\ud800\"");
    buf_release(&b);
    assert_null(tool_json_get(&v, "zz"));
    tool_json_release(&v);
}

static void test_json_strict_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "unexpected end of text, expected a value at offset 0"},
        {"[1, 2,]", "unexpected character ']', expected a value at offset 6"},
        {"{'a': 1}", "expected a string key at offset 1"},
        {"['a']", "single-quoted string (JSON needs double quotes) at offset 1"},
        {"{\"a\" 1}", "expected ':' after the key at offset 5"},
        {"[1 2]", "expected ',' or ']' at offset 3"},
        {"\"abc", "unterminated string at offset 0"},
        {"\"a\\qb\"", "invalid escape '\\q' at offset 2"},
        {"\"\\u12G4\"", "invalid \\u escape at offset 1"},
        {"\"a\nb\"", "control character 0x0a inside a string at offset 2"},
        {"\"\xff\"", "invalid UTF-8 at offset 1"},
        {"\"\xed\xa0\x80\"", "invalid UTF-8 at offset 1"}, /* raw surrogates are not UTF-8 */
        {"truex", "unexpected text after the value at offset 4"},
        {"True", "unexpected character 'T', expected a value at offset 0"},
        {"01", "unexpected text after the value at offset 1"},
        {"1.", "invalid number (no digit after '.') at offset 0"},
        {"-", "invalid number at offset 0"},
        {"1e+", "invalid number (no digit in the exponent) at offset 0"},
        {"{\"a\": [1, {\"b\": }]}", "unexpected character '}', expected a value at offset 16"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct tool_json v;
        struct smol_err err = {0};
        int rc = tool_json_parse(cases[i].text, strlen(cases[i].text), TOOL_JSON_STRICT, &v, &err);
        if (rc != SMOL_EFORMAT || !strstr(err.msg, cases[i].want))
            fail_msg("case %zu (%s): rc %d, '%s', want '%s'", i, cases[i].text, rc, err.msg,
                     cases[i].want);
        assert_int_equal(v.type, TOOL_JSON_NULL); /* nothing left to release */
        assert_null(v.items);
    }
    /* nesting is bounded */
    char deep[2 * TOOL_JSON_MAX_DEPTH + 8];
    memset(deep, '[', TOOL_JSON_MAX_DEPTH + 1);
    memset(deep + TOOL_JSON_MAX_DEPTH + 1, ']', TOOL_JSON_MAX_DEPTH + 1);
    deep[2 * TOOL_JSON_MAX_DEPTH + 2] = '\0';
    struct tool_json v;
    struct smol_err err = {0};
    assert_int_equal(tool_json_parse(deep, strlen(deep), TOOL_JSON_STRICT, &v, &err), SMOL_EFORMAT);
    assert_non_null(strstr(err.msg, "nested more than 128 deep"));
    /* one level less is fine */
    assert_int_equal(tool_json_parse(deep + 1, strlen(deep) - 2, TOOL_JSON_STRICT, &v, &err), 0);
    tool_json_release(&v);
}

static void test_json_lenient(void **state)
{
    (void)state;
    static const char in[] =
        "{'a': 'it\\'s', \"b\": [True, False, None,], 'c': 'x\\xe9\\d',\n"
        " 'd': \"line\nbreak\",}";
    struct tool_json v;
    struct smol_err err = {0};
    if (tool_json_parse(in, strlen(in), TOOL_JSON_LENIENT, &v, &err) != 0)
        fail_msg("%s", err.msg);
    struct buf b;
    buf_init(&b);
    assert_int_equal(tool_json_write_json(&b, &v), 0);
    assert_string_equal(b.data, "{\"a\": \"it's\", \"b\": [true, false, null], "
                                "\"c\": \"x\xc3\xa9\\\\d\", \"d\": \"line\\nbreak\"}");
    buf_release(&b);
    tool_json_release(&v);
    /* lenient is not anything-goes */
    assert_int_equal(tool_json_parse("{a: 1}", 6, TOOL_JSON_LENIENT, &v, &err), SMOL_EFORMAT);
    assert_int_equal(tool_json_parse("[NaN]", 5, TOOL_JSON_LENIENT, &v, NULL), SMOL_EFORMAT);
    assert_int_equal(tool_json_parse("[1,,2]", 6, TOOL_JSON_LENIENT, &v, NULL), SMOL_EFORMAT);
}

/* ---- tool calls ------------------------------------------------------- */

static void test_tool_call_variants(void **state)
{
    (void)state;
    static const struct {
        const char *text, *name, *args;
    } cases[] = {
        /* SmolLM3's layout, and scripted-tool's without newlines */
        {"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
         "get_weather", "{\"city\": \"Paris\"}"},
        {"<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>",
         "get_weather", "{\"city\": \"Paris\"}"},
        /* no tags, whitespace and a pretty-printed object */
        {"  \n{\n  \"name\" : \"f\",\n  \"arguments\" : {\n    \"n\" : 3\n  }\n}\n ", "f",
         "{\"n\": 3}"},
        /* Python-style dict */
        {"<tool_call>{'name': 'f', 'arguments': {'x': True, 'y': None, 'q': 'it\\'s'}}</tool_call>",
         "f", "{\"x\": true, \"y\": null, \"q\": \"it's\"}"},
        /* trailing commas */
        {"<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": [1, 2,], \"b\": 1,},}</tool_call>", "f",
         "{\"a\": [1, 2], \"b\": 1}"},
        /* "parameters" instead of "arguments" */
        {"{\"name\": \"f\", \"parameters\": {\"a\": 1.50}}", "f", "{\"a\": 1.50}"},
        /* arguments as a JSON string, even a sloppy one */
        {"{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}", "f", "{\"a\": 1}"},
        {"{\"name\": \"f\", \"arguments\": \" {'a': 'b',} \"}", "f", "{\"a\": \"b\"}"},
        /* nothing to pass */
        {"{\"name\": \"now\", \"arguments\": \"\"}", "now", "{}"},
        {"{\"name\": \"now\"}", "now", "{}"},
        {"{\"name\": \"now\", \"arguments\": null}", "now", "{}"},
        /* cut off before the closing tag */
        {"<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n", "f", "{\"a\": 1}"},
        {"<tool_call>{\"name\": \"f\", \"arguments\": {}}", "f", "{}"},
        /* OpenAI's shape */
        {"{\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}", "f",
         "{}"},
        /* unicode kept, other keys ignored */
        {"{\"id\": 7, \"name\": \"t\xc3\xa9\", \"arguments\": {\"s\": \"\\u65e5\"}}", "t\xc3\xa9",
         "{\"s\": \"\xe6\x97\xa5\"}"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *name, *args;
        struct smol_err err = {0};
        if (smol_tool_call_parse(cases[i].text, strlen(cases[i].text), &name, &args, &err) != 0)
            fail_msg("case %zu: %s", i, err.msg);
        if (strcmp(name, cases[i].name) || strcmp(args, cases[i].args))
            fail_msg("case %zu: got %s %s, want %s %s", i, name, args, cases[i].name,
                     cases[i].args);
        free(name);
        free(args);
    }
}

static void test_tool_call_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"<tool_call>hello</tool_call>", "json: unexpected character 'h', expected a value at offset 11"},
        {"<tool_call></tool_call>", "tool call: no JSON object at offset 11"},
        {"", "tool call: no JSON object at offset 0"},
        {"<tool_call>{\"arguments\": {}}</tool_call>", "has no \"name\" string"},
        {"{\"name\": \"\", \"arguments\": {}}", "has no \"name\" string"},
        {"{\"name\": 3}", "has no \"name\" string"},
        {"[\"f\", {}]", "expected a JSON object at offset 0, found an array"},
        {"{\"name\": \"f\", \"arguments\": [1]}", "\"arguments\" at offset 27 is an array"},
        {"{\"name\": \"f\", \"arguments\": \"[1]\"}",
         "the \"arguments\" string at offset 27 is not a JSON object (it holds an array)"},
        {"{\"name\": \"f\", \"arguments\": \"{oops\"}", "is not a JSON object (json: expected a string key at offset 1)"},
        {"<tool_call>{\"name\": \"f\"}</tool_call> and more", "unexpected text after </tool_call> at offset 37"},
        {"<tool_call>{\"name\": \"f\"} trailing</tool_call>", "unexpected text after the value at offset 25"},
        {"<tool_call>{\"name\": \"f\", \"argu", "unterminated string at offset 25"},
        {"<tool_call>{\"name\": \"f\", ", "expected a string key at offset 25"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *name = (char *)"x", *args = (char *)"x";
        struct smol_err err = {0};
        int rc = smol_tool_call_parse(cases[i].text, strlen(cases[i].text), &name, &args, &err);
        if (rc != SMOL_EFORMAT || !strstr(err.msg, cases[i].want))
            fail_msg("case %zu (%s): rc %d '%s', want '%s'", i, cases[i].text, rc, err.msg,
                     cases[i].want);
        assert_null(name);
        assert_null(args);
        assert_null(strchr(err.msg, '\n')); /* one line */
    }
}

/* ---- the template ----------------------------------------------------- */

static void test_render_system_flags(void **state)
{
    (void)state;
    struct smol_chat_opts o = {.thinking = 1, .date = "01 January 2026"};
    struct smol_message a[] = {MSG(SMOL_ROLE_SYSTEM, "Be brief /no_think"), MSG(SMOL_ROLE_USER, "hi")};
    assert_false(chat_template_thinking(CHAT_FAMILY_SMOLLM3, a, 2, &o));
    expect_render("flag beats the switch",
                  HEAD("/no_think") "Be brief\n\n<|im_start|>user\nhi<|im_end|>\n" GEN_NO_THINK,
                  render(CHAT_FAMILY_SMOLLM3, a, 2, &o));
    /* /no_think wins over /think; both are cut out, spaces stay */
    o.thinking = -1;
    struct smol_message b[] = {MSG(SMOL_ROLE_SYSTEM, "/think and /no_think both"),
                               MSG(SMOL_ROLE_USER, "hi")};
    assert_false(chat_template_thinking(CHAT_FAMILY_SMOLLM3, b, 2, &o));
    expect_render("no_think wins",
                  HEAD("/no_think") " and  both\n\n<|im_start|>user\nhi<|im_end|>\n" GEN_NO_THINK,
                  render(CHAT_FAMILY_SMOLLM3, b, 2, &o));
    /* "/think" even inside a word; Unicode whitespace rstripped */
    o.thinking = 0;
    struct smol_message c[] = {MSG(SMOL_ROLE_SYSTEM, "See a/thinking.\xe3\x80\x80\xc2\xa0 \n"),
                               MSG(SMOL_ROLE_USER, "hi")};
    assert_true(chat_template_thinking(CHAT_FAMILY_SMOLLM3, c, 2, &o));
    expect_render("think in a word",
                  HEAD("/think") "See aing.\n\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
                  render(CHAT_FAMILY_SMOLLM3, c, 2, &o));
    /* the switch alone; NULL options mean thinking */
    assert_false(chat_template_thinking(CHAT_FAMILY_SMOLLM3, c + 1, 1, &o));
    assert_true(chat_template_thinking(CHAT_FAMILY_SMOLLM3, c + 1, 1, NULL));
    /* a system message that is not first does not count */
    struct smol_message d[] = {MSG(SMOL_ROLE_USER, "a"), MSG(SMOL_ROLE_SYSTEM, "/think")};
    assert_false(chat_template_thinking(CHAT_FAMILY_SMOLLM3, d, 2, &o));
}

static void test_render_override_and_history(void **state)
{
    (void)state;
    struct smol_chat_opts o = {.thinking = -1, .date = "01 January 2026",
                               .tools_json = "[{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]"};
    struct smol_message a[] = {MSG(SMOL_ROLE_SYSTEM, "/system_override  Raw engine. /no_think\n"),
                               MSG(SMOL_ROLE_USER, "hi")};
    expect_render("override: leading spaces kept, no tools",
                  "<|im_start|>system\n  Raw engine.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n" GEN_NO_THINK,
                  render(CHAT_FAMILY_SMOLLM3, a, 2, &o));
    /* later system messages vanish; assistant content loses leading \n
     * only; no generation prompt */
    struct smol_chat_opts o2 = {.thinking = 0, .date = "01 January 2026", .no_generation_prompt = true};
    struct smol_message b[] = {MSG(SMOL_ROLE_USER, "a"), MSG(SMOL_ROLE_SYSTEM, "ignored"),
                               MSG(SMOL_ROLE_ASSISTANT, "\n\nb\n"), MSG(SMOL_ROLE_USER, "c")};
    expect_render("history",
                  HEAD("/no_think") NO_THINK_DEFAULT "<|im_start|>user\na<|im_end|>\n"
                  "<|im_start|>assistant\n<think>\n\n</think>\nb\n<|im_end|>\n"
                  "<|im_start|>user\nc<|im_end|>\n",
                  render(CHAT_FAMILY_SMOLLM3, b, 4, &o2));
}

static void test_render_tools(void **state)
{
    (void)state;
    struct smol_chat_opts o = {
        .thinking = 0, .date = "01 January 2026",
        .tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"add\",\"parameters\":"
                      "{\"a\":1,\"b\":2.0,\"ok\":true}}}]",
        .python_tools_json = "[{\"name\": \"calc\", \"description\": \"it's \\\"quoted\\\"\", "
                             "\"parameters\": {\"n\": 1e-07}}]",
    };
    struct smol_message m[] = {MSG(SMOL_ROLE_SYSTEM, "Tools!"), MSG(SMOL_ROLE_USER, "go")};
    expect_render(
        "xml and python tools",
        HEAD("/no_think") "Tools!\n\n### Tools\n\n"
        "You may call one or more functions to assist with the user query.\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n\n<tools>\n"
        "{'type': 'function', 'function': {'name': 'add', 'parameters': {'a': 1, 'b': 2.0, 'ok': True}}}\n"
        "</tools>\n\nFor each function call, return a json object with function name and arguments "
        "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
        "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
        "</tool_call>When you send a message containing Python code between '<code>' and '</code>' "
        "tags, it will be executed in a stateful Jupyter notebook environment, and you will then be "
        "given the output to continued reasoning in an agentic loop.\n\n"
        "You can use the following tools in your python code like regular functions:\n<tools>\n"
        "{'name': 'calc', 'description': 'it\\'s \"quoted\"', 'parameters': {'n': 1e-07}}\n"
        "</tools>\n\nThe state persists between code executions: so variables that you define in "
        "one step are still available thereafter.\n\n<|im_end|>\n"
        "<|im_start|>user\ngo<|im_end|>\n" GEN_NO_THINK,
        render(CHAT_FAMILY_SMOLLM3, m, 2, &o));
    /* [] and null are no tools: the system block stays open */
    const char *none[] = {"[]", "null", " [ ] "};
    for (size_t i = 0; i < ARRAY_SIZE(none); i++) {
        struct smol_chat_opts on = {.thinking = 0, .date = "01 January 2026", .tools_json = none[i]};
        expect_render(none[i], HEAD("/no_think") "Tools!\n\n<|im_start|>user\ngo<|im_end|>\n" GEN_NO_THINK,
                      render(CHAT_FAMILY_SMOLLM3, m, 2, &on));
    }
    /* bad tools name the problem */
    struct buf b;
    buf_init(&b);
    struct smol_err err = {0};
    struct smol_chat_opts bad = {.tools_json = "{\"name\": 1}"};
    assert_int_equal(chat_template_render(&b, CHAT_FAMILY_SMOLLM3, m, 2, &bad, &err), SMOL_EFORMAT);
    assert_string_equal(err.msg, "chat: tools must be a JSON array of tools");
    err_clear(&err);
    bad.tools_json = NULL;
    bad.python_tools_json = "[{\"a\": 1,}]";
    assert_int_equal(chat_template_render(&b, CHAT_FAMILY_SMOLLM3, m, 2, &bad, &err), SMOL_EFORMAT);
    assert_string_equal(err.msg,
                        "chat: python tools: json: expected a string key at offset 9");
    buf_release(&b);
}

static void test_render_tool_calls(void **state)
{
    (void)state;
    /* an assistant's tool_calls render as the content SmolLM3 writes
     * (the fixtures' tool_result conversation) */
    struct smol_tool_call call = {.id = "c1", .name = "get_weather", .arguments = "{\"city\":\"Paris\"}"};
    struct smol_message with_calls[] = {
        MSG(SMOL_ROLE_USER, "Weather?"),
        {.role = SMOL_ROLE_ASSISTANT, .tool_calls = &call, .n_tool_calls = 1},
        {.role = SMOL_ROLE_TOOL, .content = "18C", .tool_call_id = "c1"},
    };
    struct smol_message as_text[] = {
        MSG(SMOL_ROLE_USER, "Weather?"),
        MSG(SMOL_ROLE_ASSISTANT, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                                 "{\"city\": \"Paris\"}}\n</tool_call>"),
        MSG(SMOL_ROLE_TOOL, "18C"),
    };
    struct smol_chat_opts o = {.thinking = -1, .date = "01 January 2026"};
    char *want = render(CHAT_FAMILY_SMOLLM3, as_text, 3, &o);
    assert_non_null(strstr(want, "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\""));
    assert_non_null(strstr(want, "</tool_call><|im_end|>\n<|im_start|>user\n18C<|im_end|>\n"));
    expect_render("tool_calls as content", want, render(CHAT_FAMILY_SMOLLM3, with_calls, 3, &o));
    free(want);
    /* after content; arguments missing ({}), or not JSON (verbatim) */
    struct smol_tool_call two[] = {{.name = "a"}, {.name = "b", .arguments = " not json "}};
    struct smol_message m[] = {
        MSG(SMOL_ROLE_USER, "x"),
        {.role = SMOL_ROLE_ASSISTANT, .content = "\nChecking.", .tool_calls = two, .n_tool_calls = 2},
    };
    struct smol_chat_opts o2 = {.thinking = 0, .date = "01 January 2026", .no_generation_prompt = true};
    expect_render("two calls after content",
                  HEAD("/no_think") NO_THINK_DEFAULT "<|im_start|>user\nx<|im_end|>\n"
                  "<|im_start|>assistant\n<think>\n\n</think>\nChecking.\n"
                  "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n"
                  "<tool_call>\n{\"name\": \"b\", \"arguments\": not json}\n</tool_call><|im_end|>\n",
                  render(CHAT_FAMILY_SMOLLM3, m, 2, &o2));
    /* a call without a name is the caller's mistake */
    struct smol_tool_call noname = {.arguments = "{}"};
    struct smol_message bad[] = {{.role = SMOL_ROLE_ASSISTANT, .tool_calls = &noname, .n_tool_calls = 1}};
    struct buf b;
    buf_init(&b);
    struct smol_err err = {0};
    assert_int_equal(chat_template_render(&b, CHAT_FAMILY_SMOLLM3, bad, 1, &o, &err), SMOL_EINVAL);
    assert_string_equal(err.msg, "chat: message 0: tool call 0 has no name");
    buf_release(&b);
}

static void test_render_chatml(void **state)
{
    (void)state;
    struct smol_tool_call call = {.name = "f", .arguments = "{\"a\":1}"};
    struct smol_message m[] = {
        MSG(SMOL_ROLE_SYSTEM, "S /no_think"),
        MSG(SMOL_ROLE_USER, "U"),
        {.role = SMOL_ROLE_ASSISTANT, .content = "A", .tool_calls = &call, .n_tool_calls = 1},
        MSG(SMOL_ROLE_TOOL, "R"),
        {.role = SMOL_ROLE_ASSISTANT},
        MSG(SMOL_ROLE_SYSTEM, "late"),
    };
    struct smol_chat_opts o = {.thinking = 1, .tools_json = "[1]"};
    expect_render("chatml",
                  "<|im_start|>system\nS /no_think<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
                  "<|im_start|>assistant\nA\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n"
                  "</tool_call><|im_end|>\n<|im_start|>tool\nR<|im_end|>\n"
                  "<|im_start|>assistant\n<|im_end|>\n<|im_start|>system\nlate<|im_end|>\n"
                  "<|im_start|>assistant\n",
                  render(CHAT_FAMILY_CHATML, m, 6, &o));
    /* no flags in ChatML: the request decides */
    assert_true(chat_template_thinking(CHAT_FAMILY_CHATML, m, 6, &o));
    o.no_generation_prompt = true;
    expect_render("chatml, no generation prompt", "<|im_start|>user\nU<|im_end|>\n",
                  render(CHAT_FAMILY_CHATML, m + 1, 1, &o));
    /* the public entry points pick the family from the model */
    struct smol_model fake;
    memset(&fake, 0, sizeof(fake));
    char *p = smol_render_prompt(&fake, "", "hello", true, NULL);
    assert_string_equal(p, "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n");
    free(p);
    fake.is_smollm3_template = true;
    p = smol_render_prompt(&fake, "Sys /no_think", "hello", true, "01 January 2026");
    assert_string_equal(p, HEAD("/no_think") "Sys\n\n<|im_start|>user\nhello<|im_end|>\n" GEN_NO_THINK);
    free(p);
    p = smol_render_prompt(&fake, NULL, "hello", false, "01 January 2026");
    assert_string_equal(p, HEAD("/no_think") NO_THINK_DEFAULT "<|im_start|>user\nhello<|im_end|>\n" GEN_NO_THINK);
    free(p);
    assert_false(smol_chat_thinking(&fake, m, 1, NULL));
    /* bad arguments */
    struct smol_err err = {0};
    struct smol_message weird = {.role = 9};
    assert_null(smol_chat_render(&fake, &weird, 1, NULL, &err));
    assert_string_equal(err.msg, "chat: message 0 has role 9, not a smol_role");
    err_clear(&err);
    assert_null(smol_chat_render(NULL, m, 1, NULL, &err));
    assert_int_equal(err.code, SMOL_EINVAL);
}

/* ---- messages from JSON ----------------------------------------------- */

static void test_messages_from_json(void **state)
{
    (void)state;
    static const char json[] =
        "[{\"role\": \"developer\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, "
        "{\"type\": \"text\", \"text\": \"\"}, {\"type\": \"text\", \"text\": \"b\"}]},"
        " {\"role\": \"user\", \"content\": \"q\", \"extra\": {\"ignored\": true}},"
        " {\"role\": \"assistant\", \"content\": null, \"reasoning_content\": \"hmm\","
        "  \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\", \"function\":"
        "   {\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}},"
        "   {\"function\": {\"name\": \"g\", \"arguments\": {\"y\": [2]}}}]},"
        " {\"role\": \"tool\", \"tool_call_id\": \"c1\", \"name\": \"f\", \"content\": \"42\"}]";
    struct smol_message *m;
    int n;
    struct smol_err err = {0};
    if (smol_messages_from_json(json, strlen(json), &m, &n, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(n, 4);
    assert_int_equal(m[0].role, SMOL_ROLE_SYSTEM);
    assert_string_equal(m[0].content, "a\n\nb"); /* llama.cpp's join */
    assert_int_equal(m[1].role, SMOL_ROLE_USER);
    assert_null(m[1].reasoning);
    assert_int_equal(m[2].role, SMOL_ROLE_ASSISTANT);
    assert_null(m[2].content);
    assert_string_equal(m[2].reasoning, "hmm");
    assert_int_equal(m[2].n_tool_calls, 2);
    assert_string_equal(m[2].tool_calls[0].id, "c1");
    assert_string_equal(m[2].tool_calls[0].name, "f");
    assert_string_equal(m[2].tool_calls[0].arguments, "{\"x\": 1}");
    assert_null(m[2].tool_calls[1].id);
    assert_string_equal(m[2].tool_calls[1].arguments, "{\"y\": [2]}");
    assert_int_equal(m[3].role, SMOL_ROLE_TOOL);
    assert_string_equal(m[3].tool_call_id, "c1");
    assert_string_equal(m[3].name, "f");
    assert_string_equal(m[3].content, "42");
    smol_messages_free(m, n);
    smol_messages_free(NULL, 0);

    assert_int_equal(smol_messages_from_json("[]", 2, &m, &n, &err), 0);
    assert_int_equal(n, 0);
    smol_messages_free(m, n);

    static const struct {
        const char *json, *want;
        int rc;
    } bad[] = {
        {"[{\"role\": \"user\", \"content\": \"x\"},]", "json: unexpected character ']', expected a value at offset 34", SMOL_EFORMAT},
        {"{\"role\": \"user\"}", "messages: expected a JSON array of messages", SMOL_EFORMAT},
        {"[{\"role\": \"robot\", \"content\": \"x\"}]", "messages[0]: unknown role 'robot' (at offset 10)", SMOL_EFORMAT},
        {"[{\"content\": \"x\"}]", "messages[0] has no \"role\" string (at offset 1)", SMOL_EFORMAT},
        {"[\"hi\"]", "messages[0] is not an object (at offset 1)", SMOL_EFORMAT},
        {"[{\"role\": \"user\", \"content\": 5}]", "messages[0].content must be a string (at offset 29)", SMOL_EFORMAT},
        {"[{\"role\": \"user\", \"content\": \"a\\u0000b\"}]", "messages[0].content holds a NUL character", SMOL_EFORMAT},
        {"[{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]",
         "messages[0].content[0]: part type 'image_url' is not supported (only \"text\")", SMOL_EUNSUPPORTED},
        {"[{\"role\": \"user\", \"content\": [{\"text\": \"a\"}]}]", "messages[0].content[0] is not a {\"type\": ...} part", SMOL_EFORMAT},
        {"[{\"role\": \"user\"}, {\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"x\"}]}]",
         "messages[1].tool_calls[0] has no \"function\" object", SMOL_EFORMAT},
        {"[{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"arguments\": \"{}\"}}]}]",
         "messages[0].tool_calls[0].function has no \"name\" string", SMOL_EFORMAT},
        {"[{\"role\": \"assistant\", \"tool_calls\": {}}]", "messages[0].tool_calls must be an array", SMOL_EFORMAT},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err_clear(&err);
        m = (struct smol_message *)&err;
        int rc = smol_messages_from_json(bad[i].json, strlen(bad[i].json), &m, &n, &err);
        if (rc != bad[i].rc || !strstr(err.msg, bad[i].want))
            fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, err.msg, bad[i].want);
        assert_null(m);
        assert_int_equal(n, 0);
    }
}

static void test_py_rstrip_and_today(void **state)
{
    (void)state;
    static const char s[] = "x \t\n\v\f\r\x1c\x1f\xc2\x85\xc2\xa0\xe1\x9a\x80\xe2\x80\x8a"
                            "\xe2\x80\xa8\xe2\x80\xaf\xe3\x80\x80";
    assert_int_equal(chat_py_rstrip(s, strlen(s)), 1);
    /* not whitespace to Python: zero-width space, NUL-free text, a lone byte */
    assert_int_equal(chat_py_rstrip("x\xe2\x80\x8b", 4), 4);
    assert_int_equal(chat_py_rstrip("x\x80", 2), 2);
    assert_int_equal(chat_py_rstrip("   ", 3), 0);
    assert_int_equal(chat_py_rstrip("", 0), 0);
    char today[32];
    chat_template_today(today);
    /* "DD Month YYYY" */
    size_t n = strlen(today);
    assert_true(n >= 12 && n <= 17);
    assert_true(today[0] >= '0' && today[0] <= '3' && today[1] >= '0' && today[1] <= '9');
    assert_int_equal(today[2], ' ');
    assert_int_equal(today[n - 5], ' ');
    assert_true(today[n - 4] == '2');
}

/* Mutated inputs never crash, leak or half-succeed, and every tool call
 * that parses gives arguments that read back as a strict JSON object. */
static void test_parsers_survive_garbage(void **state)
{
    (void)state;
    static const char *const seeds[] = {
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
        "<tool_call>{'name': 'f', 'arguments': \"{'a': [1, 2.5e3, True, None,],}\"}</tool_call>",
        "{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"s\": \"\\ud83d\\ude80\\u0000\"}}}",
        "[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"h\xc3\xa9\"}]},"
        " {\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}]}]",
    };
    static const char interesting[] = "\"'\\{}[],:\n0u\x80\xff\xc3xe-.";
    uint64_t rs = 20260701;
    int calls_ok = 0, msgs_ok = 0;
    for (int it = 0; it < 4000; it++) {
        const char *seed = seeds[(size_t)it % ARRAY_SIZE(seeds)];
        char t[512];
        size_t n = strlen(seed);
        memcpy(t, seed, n);
        for (int k = 1 + (int)(test_rand_u64(&rs) % 4); k > 0 && n > 0; k--) {
            size_t at = (size_t)(test_rand_u64(&rs) % n);
            char c = interesting[test_rand_u64(&rs) % (sizeof(interesting) - 1)];
            switch (test_rand_u64(&rs) % 4) {
            case 0: t[at] = c; break;
            case 1: memmove(t + at, t + at + 1, n - at - 1); n--; break;
            case 2: memmove(t + at + 1, t + at, n - at); t[at] = c; n++; break;
            default: n = at; break;
            }
        }
        for (int mode = 0; mode < 2; mode++) {
            struct tool_json v;
            if (tool_json_parse(t, n, mode, &v, NULL) == 0) {
                struct buf b;
                buf_init(&b);
                assert_int_equal(tool_json_write_str(&b, &v), 0);
                assert_int_equal(tool_json_write_json(&b, &v), 0);
                buf_release(&b);
                tool_json_release(&v);
            }
        }
        char *name, *args;
        struct smol_err err = {0};
        if (tool_call_parse(t, n, &name, &args, &err) == 0) {
            struct tool_json v;
            assert_true(name[0] != '\0');
            if (tool_json_parse(args, strlen(args), TOOL_JSON_STRICT, &v, &err) != 0)
                fail_msg("arguments %s do not read back: %s", args, err.msg);
            assert_int_equal(v.type, TOOL_JSON_OBJECT);
            tool_json_release(&v);
            free(name);
            free(args);
            calls_ok++;
        } else {
            assert_null(name);
            assert_non_null(strstr(err.msg, "offset")); /* every rejection says where */
        }
        struct smol_message *m;
        int nm;
        if (smol_messages_from_json(t, n, &m, &nm, NULL) == 0) {
            char *p = render(CHAT_FAMILY_SMOLLM3, m, nm, NULL);
            free(p);
            smol_messages_free(m, nm);
            msgs_ok++;
        }
    }
    /* the mutations leave enough valid inputs to test the success paths */
    print_message("garbage: %d tool calls and %d conversations parsed of 4000\n", calls_ok, msgs_ok);
    assert_true(calls_ok > 150 && msgs_ok > 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repr_nested_and_quotes),
        cmocka_unit_test(test_repr_controls_and_unicode),
        cmocka_unit_test(test_repr_numbers),
        cmocka_unit_test(test_json_writer),
        cmocka_unit_test(test_json_strict_errors),
        cmocka_unit_test(test_json_lenient),
        cmocka_unit_test(test_tool_call_variants),
        cmocka_unit_test(test_tool_call_rejects),
        cmocka_unit_test(test_render_system_flags),
        cmocka_unit_test(test_render_override_and_history),
        cmocka_unit_test(test_render_tools),
        cmocka_unit_test(test_render_tool_calls),
        cmocka_unit_test(test_render_chatml),
        cmocka_unit_test(test_messages_from_json),
        cmocka_unit_test(test_py_rstrip_and_today),
        cmocka_unit_test(test_parsers_survive_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
