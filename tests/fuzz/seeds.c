/* seeds.c - the seed corpus of each harness, generated rather than committed:
 * GGUF files made with the project's writer and model synthesizer, and
 * sample models.txt, config.yaml, parser, request, SSE, template and Hub
 * answer inputs. Shared by the fuzz-seeds
 * tool (writes them for libFuzzer) and the replay test (feeds them in
 * memory). */
#include "fuzz.h"
#include "gguf/gguf.h"
#include "support/synth.h"

#include <string.h>

typedef struct text_seed {
    const char *name;
    const char *text;
} text_seed;

static const text_seed models_seeds[] = {
    { "forms.txt",
      "# my models\n"
      "\n"
      "TheBloke/Llama-2-7B-GGUF\n"
      "   Qwen/Qwen2.5-0.5B-Instruct-GGUF@main   # pinned to a branch\n"
      "org/repo@0123456789abcdef0123456789abcdef01234567:sub/dir/Model.Q4_K_M.gguf\n"
      "local:models/Phi-3.gguf\n"
      "local:/opt/x/Abs-Model.bin\n"
      "fast = TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF@v1.0\n"
      "mine=local:a/../b/c.gguf\n"
      "\t\n"
      "shard = org/big@main:big-00001-of-00003.gguf\n" },
    { "local-eq.txt", "local:a=b.gguf\nk = local:c=d.gguf\n" },
    { "crlf.txt", "org/name\r\nother/repo@v1\r\n" },
    { "dup.txt", "org/name\nname = local:x.gguf\n" },
    { "bad.txt", "= org/name\n-x = org/a\nk = \norg/a b\norg/..@x\norg/a@\norg/a@r:\n" },
    { "no-newline.txt", "a.b_c-d = org/x.y@refs/pr/1:dir/f-00002-of-00002.gguf" },
};

static const text_seed config_seeds[] = {
    { "annotated.yaml",
      "# config.yaml - every key is optional\n"
      "models_dir: ~/models            # scanned\n"
      "models_file: models.txt\n"
      "default_model: qwen2.5-0.5b-instruct\n"
      "hf_endpoint: https://huggingface.co\n"
      "hf_cache: ~/.cache/huggingface/hub\n"
      "offline: no\n"
      "skip_downloads: no\n"
      "minimal_models:\n"
      "  - deepseek-ai/Janus-Pro-1B\n"
      "  - unsloth/Qwen2.5-Omni-3B-GGUF\n"
      "update_interval: 86400\n"
      "pool_size: 2\n"
      "idle_timeout: 300\n"
      "memory_budget: 12G\n"
      "threads: 8\n"
      "cache_size: 1000\n"
      "cache_ttl: 600\n"
      "host: 127.0.0.1\n"
      "port: 8000\n"
      "log_level: info\n" },
    { "secrets.yaml", "hf_token: \"hf_fileTOKEN0000aaaa\"\napi_key: 'sk-fileKEY000011112222'\n" },
    { "flow.yaml", "{pool_size: 3, minimal_models: [a/b, c/d], offline: on, memory_budget: 1.5GiB}\n" },
    { "nested.yaml", "router:\n  strategy: x\nunknown: 1\npool_sise: 2\n" },
    { "anchors.yaml", "base: &b [x/y, z/w]\nminimal_models: *b\nport: ~\n" },
    { "bad.yaml", "port: [1, 2]\npool_size: abc\n---\nport: 1\n" },
    { "dup.yaml", "port: 1\nport: 2\n" },
    { "scalar.yaml", "just a scalar\n" },
};

static const text_seed parse_seeds[] = {
    { "int", "  -9223372036854775808 " },
    { "int-big", "9223372036854775808" },
    { "bool", "YeS" },
    { "size", "1.5GiB" },
    { "size-kb", " 800 KB " },
    { "secret", "token hf_Secret0Token9xyz and sk-Another7Key4qrw, pw12ab." },
    { "overlap", "hf_Secret0hf_Secret0Token9xyzToken9xyz pwpw12ab12ab" },
};

/* Request bodies: the first byte picks the endpoint (its value mod 4: '0'
 * chat completions, '1' completions, '2' Ollama generate, '3' Ollama chat). */
static const text_seed request_seeds[] = {
    { "chat", "0{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}],"
              "\"temperature\":0.7,\"top_p\":0.9,\"max_tokens\":16,\"stop\":[\"\\n\",\"END\"],"
              "\"seed\":42,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" },
    { "chat-bad", "0{\"messages\":[{\"role\":\"wizard\",\"content\":1}],\"n\":2,\"logprobs\":true}" },
    { "chat-tools", "0{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]},"
                    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}],"
                    "\"max_completion_tokens\":8,\"presence_penalty\":-2,\"frequency_penalty\":2}" },
    { "completion", "1{\"model\":\"auto\",\"prompt\":\"Once upon a time\",\"max_tokens\":-1,\"stop\":\"x\"}" },
    { "generate", "2{\"model\":\"m\",\"prompt\":\"Why?\",\"system\":\"S\",\"stream\":false,"
                  "\"options\":{\"temperature\":0,\"num_predict\":5,\"seed\":1,\"top_p\":1}}" },
    { "ollama-chat", "3{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\\u00e9\"}],"
                     "\"options\":{\"stop\":[\"a\",\"b\"]},\"keep_alive\":\"5m\"}" },
    { "not-json", "0{\"messages\": [" },
};

/* SSE streams: the first byte seeds how the stream is split. */
static const text_seed sse_seeds[] = {
    { "openai", "\x07" "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
                ": keep-alive\n\ndata: [DONE]\n\n" },
    { "crlf", "\x03" "event: x\r\ndata: a\r\ndata: b\r\nid: 1\r\n\r\ndata:c" },
    { "fields", "\x11" "data\ndata:\ndata:  two spaces\nretry: 10\n\n\n\ndata: tail" },
};

/* Chat templates: the shapes real models ship (ChatML, Llama 3, Mistral),
 * and the language features they use. */
static const text_seed template_seeds[] = {
    { "chatml", "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
                "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}" },
    { "llama3", "{{ bos_token }}{% for m in messages %}{% set c = '<|start_header_id|>' + m['role'] + "
                "'<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' %}{{ c }}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
                "{% endif %}" },
    { "mistral", "{%- if messages[0]['role'] == 'system' %}{%- set sys = messages[0]['content'] %}"
                 "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}"
                 "{%- endif %}{{- bos_token }}{%- for message in loop_messages %}"
                 "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                 "{{- raise_exception('roles must alternate') }}{%- endif %}"
                 "{%- if message['role'] == 'user' %}{{- '[INST] ' + message['content'] + '[/INST]' }}"
                 "{%- else %}{{- message['content'] + eos_token }}{%- endif %}{%- endfor %}" },
    { "features", "{% macro f(x, y=2) %}{{ x * y }}{% endmacro %}{{ f(3) }}{{ tools | tojson(indent=2) }}"
                  "{% for k, v in {'a': 1, 'b': [1, 2]} | items %}{{ k | upper }}={{ v | string }}"
                  "{% endfor %}{{ messages | selectattr('role', 'equalto', 'user') | map(attribute="
                  "'content') | join(', ') }}{{ 'x' if none is none else 'y' }}{{ range(3) | list | "
                  "length }}{{ strftime_now('%Y-%m-%d') }}{% raw %}{{ raw }}{% endraw %}" },
};

/* Hub answers: '0' + a tree API page, '1' + a file name, '2' + headers,
 * '3' + a repo-info answer, '4' + a revision name, newline, a refs answer,
 * '5' + an error body. The JSON follows the Hub's answers (huggingface_hub's
 * RepoInfo and GitRefs). */
#define SEED_COMMIT_A "0123456789abcdef0123456789abcdef01234567"
#define SEED_COMMIT_B "89abcdef0123456789abcdef0123456789abcdef"
#define SEED_REFS "{\"branches\":[{\"name\":\"main\",\"ref\":\"refs/heads/main\"," \
                  "\"targetCommit\":\"" SEED_COMMIT_A "\"}],\"converts\":[],\"tags\":[" \
                  "{\"name\":\"v1.0\",\"ref\":\"refs/tags/v1.0\",\"targetCommit\":\"" \
                  SEED_COMMIT_B "\"}],\"pullRequests\":null}"
static const text_seed hub_seeds[] = {
    { "tree", "0[{\"type\":\"file\",\"oid\":\"a1\",\"size\":1234,\"path\":\"config.json\"},"
              "{\"type\":\"directory\",\"oid\":\"b2\",\"size\":0,\"path\":\"sub\"},"
              "{\"type\":\"file\",\"oid\":\"c3\",\"size\":4521000,\"path\":\"sub/m-Q4_K_M.gguf\","
              "\"lfs\":{\"oid\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","
              "\"size\":4521000,\"pointerSize\":134}}]" },
    { "tree-evil", "0[{\"type\":\"file\",\"size\":1,\"path\":\"../../etc/passwd\"}]" },
    { "tree-abs", "0[{\"type\":\"file\",\"size\":1,\"path\":\"/etc/passwd\"}]" },
    { "tree-neg", "0[{\"type\":\"file\",\"size\":-5,\"path\":\"a\"}]" },
    { "name", "1models/sub/file-00001-of-00002.gguf" },
    { "name-dots", "1a/./b/../c" },
    { "name-ctl", "1a\tb\nc" },
    { "headers", "2HTTP/1.1 429 Too Many Requests\r\nRetry-After: 55\r\n"
                 "RateLimit: \"api\";r=0;t=17\r\nX-Error-Code: RepoNotFound\r\n"
                 "X-Linked-Etag: \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\r\n"
                 "X-Linked-Size: 4521000\r\nLocation: /api/resolve-cache/models/org/m/abc/x\r\n"
                 "Link: <https://huggingface.co/api/models/org/m/tree/main?cursor=x>; rel=\"next\"\r\n\r\n" },
    { "headers-100", "2HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nETag:   W/\"abc\"  \r\n" },
    { "headers-link-elsewhere", "2Link: <https://huggingface.co@evil.example/api/models/org/m/tree/"
                                "main?cursor=x>; rel=\"next\"\r\n" },
    { "info", "3{\"_id\":\"66\",\"id\":\"org/repo\",\"private\":false,\"gated\":false,"
              "\"sha\":\"" SEED_COMMIT_A "\",\"lastModified\":\"2026-11-27T08:00:00.000Z\","
              "\"siblings\":[{\"rfilename\":\"config.json\"}],\"tags\":[\"gguf\"]}" },
    { "info-upper", "3{\"sha\":\"0123456789ABCDEF0123456789abcdef01234567\"}" },
    { "info-short", "3{\"sha\":\"0123456789abcdef\",\"sha\":\"" SEED_COMMIT_A "\"}" },
    { "info-number", "3{\"sha\":12}" },
    { "refs-tag", "4v1.0\n" SEED_REFS },
    { "refs-branch", "4main\n" SEED_REFS },
    { "refs-missing", "4v2.0\n" SEED_REFS },
    { "refs-both", "4x\n{\"branches\":[{\"name\":\"x\",\"targetCommit\":\"" SEED_COMMIT_A "\"}],"
                   "\"tags\":[{\"name\":\"x\",\"targetCommit\":\"" SEED_COMMIT_B "\"}]}" },
    { "refs-no-commit", "4main\n{\"branches\":[{\"name\":\"main\"}],\"tags\":[]}" },
    { "refs-bad-tags", "4main\n{\"branches\":[{\"name\":\"main\",\"targetCommit\":\""
                       SEED_COMMIT_A "\"}],\"tags\":{}}" },
    { "error", "5{\"error\":\"Repository not found\"}" },
    { "error-long", "5{\"error\":\"Invalid credentials in Authorization header; this message is "
                    "longer than the room the harness gives it\"}" },
    { "error-array", "5{\"error\":[\"x\"]}" },
};

/* Tokenizer inputs: a selector byte (vocabulary index in the low nibble,
 * 0x10 add_special, 0x20 parse_special), then the text. */
static const char *const tok_texts[] = {
    "Hello, world! 123 4567",
    "  leading spaces\n\tand tabs\r\n",
    "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x8C\x8D",
    "<s> </s> <|endoftext|> <|end|> <unk>",
    "\xFF\xFE\x80 bytes \xC3",
    "don't we'll I've 12,345.67",
};

static int emit_tok(fuzz_emit_fn emit, void *user)
{
    static const uint8_t selectors[] = { 0x00, 0x01, 0x02, 0x33, 0x14, 0x20 };
    char buf[256], name[32];
    for (size_t s = 0; s < MM_ARRAY_LEN(selectors); s++) {
        for (size_t t = 0; t < MM_ARRAY_LEN(tok_texts); t++) {
            size_t len = strlen(tok_texts[t]);
            buf[0] = (char)selectors[s];
            memcpy(buf + 1, tok_texts[t], len);
            snprintf(name, sizeof name, "sel%02x-%zu", selectors[s], t);
            int rc = emit(name, buf, len + 1, user);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int emit_texts(const text_seed *seeds, size_t n, fuzz_emit_fn emit, void *user)
{
    for (size_t i = 0; i < n; i++) {
        int rc = emit(seeds[i].name, seeds[i].text, strlen(seeds[i].text), user);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Metadata of every type, nested arrays and tensors of several layouts. */
static int emit_gguf_every_type(uint32_t version, uint32_t alignment, const char *name,
                                fuzz_emit_fn emit, void *user)
{
    gguf_writer *w = gguf_writer_new();
    if (!w)
        return MM_ENOMEM;
    gguf_writer_set_version(w, version);
    gguf_writer_set_alignment(w, alignment);
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "general.name", "seed");
    gguf_writer_set_u32(w, "llama.context_length", 128);
    gguf_writer_set_u64(w, "llama.embedding_length", 64);
    gguf_writer_set_i32(w, "general.file_type", 15);
    gguf_writer_set_u8(w, "x.u8", 7);
    gguf_writer_set_i8(w, "x.i8", -7);
    gguf_writer_set_u16(w, "x.u16", 700);
    gguf_writer_set_i16(w, "x.i16", -700);
    gguf_writer_set_i64(w, "x.i64", -(1ll << 40));
    gguf_writer_set_f32(w, "x.f32", 0.5f);
    gguf_writer_set_f64(w, "x.f64", 0.25);
    gguf_writer_set_bool(w, "x.bool", true);
    gguf_writer_set_str(w, "tokenizer.chat_template", "{{ messages }}");
    const char *tokens[] = { "<unk>", "<s>", "</s>", "a", "" };
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 5);
    const uint32_t heads[] = { 4, 4, 2 };
    gguf_writer_set_arr(w, "llama.attention.head_count", GGUF_TYPE_UINT32, heads, 3);
    const char *pair[] = { "x", "yz" };
    gguf_writer_array inner[] = { { GGUF_TYPE_STRING, 2, pair }, { GGUF_TYPE_UINT16, 0, NULL } };
    gguf_writer_array outer = { GGUF_TYPE_ARRAY, 2, inner };
    gguf_writer_set_arr_nested(w, "x.nested", &outer);

    static uint8_t data[288];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37);
    gguf_writer_add_tensor(w, "a.f32", GGML_TYPE_F32, 2, (const uint64_t[]){ 4, 3 }, data, 48);
    gguf_writer_add_tensor(w, "b.q8_0", GGML_TYPE_Q8_0, 1, (const uint64_t[]){ 64 }, data, 68);
    gguf_writer_add_tensor(w, "c.q4_k", GGML_TYPE_Q4_K, 3, (const uint64_t[]){ 256, 1, 1 },
                           data, 144);
    void *buf = NULL;
    size_t size = 0;
    mm_error err = { 0 };
    int rc = gguf_writer_to_buffer(w, &buf, &size, &err);
    gguf_writer_free(w);
    if (rc != 0) {
        fprintf(stderr, "fuzz seeds: %s\n", err.message);
        return rc;
    }
    rc = emit(name, buf, size, user);
    free(buf);
    return rc;
}

/* A whole (tiny) llama model as the synthesizer makes it. */
static int emit_gguf_synth(fuzz_emit_fn emit, void *user)
{
    mmtest_synth_params p;
    mmtest_synth_default_params(&p);
    p.name = "tiny";
    p.n_embd = 8;
    p.n_head = 2;
    p.n_head_kv = 1;
    p.n_ff = 16;
    p.n_layer = 1;
    p.n_vocab = MMTEST_SYNTH_MIN_VOCAB;
    p.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}";
    void *buf = NULL;
    size_t size = 0;
    mm_error err = { 0 };
    int rc = mmtest_synth_model_buffer(&p, &buf, &size, &err);
    if (rc != 0) {
        fprintf(stderr, "fuzz seeds: %s\n", err.message);
        return rc;
    }
    rc = emit("synth-llama.gguf", buf, size, user);
    free(buf);
    return rc;
}

static int emit_gguf(fuzz_emit_fn emit, void *user)
{
    int rc = emit_gguf_every_type(3, 32, "every-type-v3.gguf", emit, user);
    if (rc == 0)
        rc = emit_gguf_every_type(2, 64, "every-type-v2-align64.gguf", emit, user);
    if (rc == 0)
        rc = emit_gguf_synth(emit, user);
    return rc;
}

int fuzz_seeds(const char *harness, fuzz_emit_fn emit, void *user)
{
    if (strcmp(harness, "gguf") == 0)
        return emit_gguf(emit, user);
    if (strcmp(harness, "models") == 0)
        return emit_texts(models_seeds, MM_ARRAY_LEN(models_seeds), emit, user);
    if (strcmp(harness, "config") == 0)
        return emit_texts(config_seeds, MM_ARRAY_LEN(config_seeds), emit, user);
    if (strcmp(harness, "tok") == 0)
        return emit_tok(emit, user);
    if (strcmp(harness, "parse") == 0)
        return emit_texts(parse_seeds, MM_ARRAY_LEN(parse_seeds), emit, user);
    if (strcmp(harness, "hub") == 0)
        return emit_texts(hub_seeds, MM_ARRAY_LEN(hub_seeds), emit, user);
    if (strcmp(harness, "request") == 0)
        return emit_texts(request_seeds, MM_ARRAY_LEN(request_seeds), emit, user);
    if (strcmp(harness, "sse") == 0)
        return emit_texts(sse_seeds, MM_ARRAY_LEN(sse_seeds), emit, user);
    if (strcmp(harness, "template") == 0)
        return emit_texts(template_seeds, MM_ARRAY_LEN(template_seeds), emit, user);
    return MM_ENOTFOUND;
}
