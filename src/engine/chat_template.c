/*
 * chat_template.c: turning messages into the prompt the model was trained on.
 *
 * This first version renders one system + one user message, the case
 * `smolbot run -p` needs, exactly as SmolLM3's Jinja template does (see
 * ../shared/fixtures/chat/template.jinja); models with another template
 * get plain ChatML. NEEDSWORK: the full template (history, tools,
 * /system_override) is the chat issue's work.
 */
#include "model.h"
#include "buf.h"

#include <string.h>
#include <time.h>

static const char chat_default_think[] =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face. Your role as "
    "an assistant involves thoroughly exploring questions through a systematic thinking "
    "process before providing the final precise and accurate solutions. This requires "
    "engaging in a comprehensive cycle of analysis, summarizing, exploration, reassessment, "
    "reflection, backtracking, and iteration to develop well-considered thinking process. "
    "Please structure your response into two main sections: Thought and Solution using the "
    "specified format: <think> Thought section </think> Solution section. In the Thought "
    "section, detail your reasoning process in steps. Each step should include detailed "
    "considerations such as analysing questions, summarizing relevant findings, "
    "brainstorming new ideas, verifying the accuracy of the current steps, refining any "
    "errors, and revisiting previous steps. In the Solution section, based on various "
    "attempts, explorations, and reflections from the Thought section, systematically "
    "present the final solution that you deem correct. The Solution section should be "
    "logical, accurate, and concise and detail necessary steps needed to reach the "
    "conclusion.";
static const char chat_default_no_think[] =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face.";

char *smol_render_prompt(const struct smol_model *m, const char *system, const char *user,
                         bool thinking, const char *date)
{
    struct buf b;
    buf_init(&b);
    int rc = 0;
    if (!m->is_smollm3_template) {
        if (system && *system)
            rc |= buf_appendf(&b, "<|im_start|>system\n%s<|im_end|>\n", system);
        rc |= buf_appendf(&b, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", user);
        if (rc) {
            buf_release(&b);
            return NULL;
        }
        return buf_detach(&b);
    }
    char today[64];
    if (!date) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(today, sizeof(today), "%d %B %Y", &tm);
        date = today;
    }
    rc |= buf_appendf(&b,
                      "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n"
                      "Today Date: %s\nReasoning Mode: %s\n\n## Custom Instructions\n\n%s\n\n",
                      date, thinking ? "/think" : "/no_think",
                      system && *system ? system
                                        : (thinking ? chat_default_think : chat_default_no_think));
    rc |= buf_appendf(&b, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", user);
    if (!thinking)
        rc |= buf_append_str(&b, "<think>\n\n</think>\n");
    if (rc) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}
