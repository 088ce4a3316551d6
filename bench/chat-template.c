/* chat-template.c - how long parsing and rendering a chat template takes:
 * a Llama-3-style template with tools over a 64-message conversation. */
#include "text/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char TEMPLATE[] =
    "{{- bos_token }}{%- set ns = namespace(system='') %}"
    "{%- if messages[0].role == 'system' %}{%- set ns.system = messages[0].content|trim %}{%- endif %}"
    "<|start_header_id|>system<|end_header_id|>\n\n"
    "{%- if tools is not none %}Tools:\n{%- for t in tools %}{{ t|tojson(indent=4) }}\n\n{%- endfor %}{%- endif %}"
    "{{ ns.system }}<|eot_id|>"
    "{%- for m in messages if m.role != 'system' %}"
    "{%- if m.role == 'assistant' and m.tool_calls %}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
    "{%- for tc in m.tool_calls %}{\"name\": \"{{ tc.function.name }}\", \"parameters\": {{ tc.function.arguments|tojson }}}{% endfor %}<|eot_id|>"
    "{%- else %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content|trim }}<|eot_id|>{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{%- endif %}";

int main(void)
{
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "bos_token", "<|begin_of_text|>");
    cJSON_AddBoolToObject(ctx, "add_generation_prompt", 1);
    cJSON *tools = cJSON_Parse("[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
                               "\"description\": \"Weather\", \"parameters\": {\"type\": \"object\", "
                               "\"properties\": {\"city\": {\"type\": \"string\"}}}}}]");
    cJSON_AddItemToObject(ctx, "tools", tools);
    cJSON *msgs = cJSON_AddArrayToObject(ctx, "messages");
    for (int i = 0; i < 64; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", i == 0 ? "system" : i % 2 ? "user" : "assistant");
        cJSON_AddStringToObject(m, "content", "  Some message text with a few words in it.  ");
        cJSON_AddItemToArray(msgs, m);
    }
    mm_error err;
    int64_t t0 = mm_now_ms();
    int parses = 2000;
    text_tmpl *t = NULL;
    for (int i = 0; i < parses; i++) {
        text_tmpl_free(t);
        if (text_tmpl_parse(TEMPLATE, strlen(TEMPLATE), &t, &err) != 0) {
            fprintf(stderr, "parse: %s\n", err.message);
            return 1;
        }
    }
    int64_t t1 = mm_now_ms();
    int renders = 2000;
    size_t bytes = 0;
    for (int i = 0; i < renders; i++) {
        mm_buf b;
        mm_buf_init(&b, 1u << 20);
        if (text_tmpl_render(t, ctx, NULL, &b, &err) != 0) {
            fprintf(stderr, "render: %s\n", err.message);
            return 1;
        }
        bytes = b.len;
        mm_buf_free(&b);
    }
    int64_t t2 = mm_now_ms();
    printf("chat template: parse %.1f us, render of 64 messages (%zu bytes) %.1f us\n",
           (double)(t1 - t0) * 1000.0 / parses, bytes, (double)(t2 - t1) * 1000.0 / renders);
    text_tmpl_free(t);
    cJSON_Delete(ctx);
    return 0;
}
