/* fuzz-template.c - the Jinja chat-template interpreter on arbitrary
 * templates, rendered over a fixed conversation with small bounds: it must
 * refuse with a message or render within the bounds, never crash, hang or
 * leak, and a failed render must leave the output as it was. */
#include "fuzz.h"
#include "text/text.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char context_json[] =
    "{\"messages\":["
    "{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":\"Hello <b> & \\u00e9\"},"
    "{\"role\":\"assistant\",\"content\":\"Hi.\"},"
    "{\"role\":\"user\",\"content\":\"2+2?\"}],"
    "\"add_generation_prompt\":true,\"bos_token\":\"<s>\",\"eos_token\":\"</s>\","
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{}}}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    text_tmpl *tmpl = NULL;
    mm_error err = { 0 };
    if (text_tmpl_parse((const char *)data, size, &tmpl, &err) != 0) {
        FUZZ_CHECK(err.code < 0 && err.message[0]);
        FUZZ_CHECK(tmpl == NULL);
        return 0;
    }
    cJSON *ctx = cJSON_Parse(context_json);
    FUZZ_CHECK(ctx != NULL);
    text_tmpl_opts opts = { .now_unix = 1700000000, .max_output = 64 * 1024,
                            .max_memory = 8u << 20, .max_steps = 20000, .max_depth = 16 };
    mm_buf out;
    mm_buf_init(&out, 1u << 20);
    FUZZ_CHECK(mm_buf_append(&out, "kept", 4) == 0);
    int rc = text_tmpl_render(tmpl, ctx, &opts, &out, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && err.message[0]);
        FUZZ_CHECK(out.len == 4 && memcmp(out.data, "kept", 4) == 0);
    } else {
        FUZZ_CHECK(out.len >= 4 && out.len - 4 <= opts.max_output);
    }
    mm_buf_free(&out);
    cJSON_Delete(ctx);
    text_tmpl_free(tmpl);
    return 0;
}
