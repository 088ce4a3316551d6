/* router-features.c - what the router computes once per request: token
 * estimate, needed context, required capabilities and the complexity score
 * from the signal table. Allocates nothing. */
#include "router/router.h"

#include <stdio.h>
#include <string.h>

static const char *const cap_names[ROUTER_N_CAPS] = {
    "chat", "completion", "embeddings", "tools", "json", "vision"
};

const char *router_cap_name(unsigned bit_index)
{
    return bit_index < ROUTER_N_CAPS ? cap_names[bit_index] : "?";
}

int router_cap_parse(const char *name, unsigned *bit)
{
    for (unsigned i = 0; name && i < ROUTER_N_CAPS; i++)
        if (strcmp(cap_names[i], name) == 0) {
            *bit = 1u << i;
            return 0;
        }
    return MM_EINVAL;
}

void router_caps_format(unsigned caps, char *out, size_t out_size)
{
    size_t used = 0;
    if (out_size == 0)
        return;
    out[0] = '\0';
    for (unsigned i = 0; i < ROUTER_N_CAPS; i++) {
        if (!(caps & (1u << i)))
            continue;
        int w = snprintf(out + used, out_size - used, "%s%s", used ? "," : "", cap_names[i]);
        if (w < 0 || (size_t)w >= out_size - used)
            return;
        used += (size_t)w;
    }
}

int64_t router_estimate_tokens(size_t bytes)
{
    /* ~4 bytes per token holds for English BPE vocabularies; code and other
     * scripts run denser, which only makes the context check conservative
     * for English and slightly generous elsewhere. */
    return (int64_t)((bytes + 3) / 4);
}

void router_features_compute(const router_request *req, router_features *out)
{
    memset(out, 0, sizeof *out);
    const char *text = req->text ? req->text : "";
    size_t len = req->text ? req->text_len : 0;
    if (req->prompt_tokens > 0) {
        out->prompt_tokens = req->prompt_tokens;
    } else {
        out->prompt_tokens = router_estimate_tokens(len);
        out->tokens_estimated = true;
    }
    out->max_tokens = req->max_tokens > 0 ? req->max_tokens : ROUTER_DEFAULT_MAX_TOKENS;
    out->needed_context = out->prompt_tokens + out->max_tokens;
    out->caps = req->caps;
    out->n_messages = req->n_messages;

    size_t scan = len < ROUTER_SCAN_MAX ? len : ROUTER_SCAN_MAX;
    /* Lowercased once here so that every keyword search is a plain memmem;
     * bytes >= 0x80 (UTF-8) are kept as they are. */
    char lowered[ROUTER_SCAN_MAX];
    for (size_t i = 0; i < scan; i++) {
        unsigned char c = (unsigned char)text[i];
        lowered[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out->n_signals = router_n_signals < ROUTER_MAX_SIGNALS ? router_n_signals : ROUTER_MAX_SIGNALS;
    size_t word_hits[ROUTER_MAX_SIGNALS];
    router_signals_count(lowered, scan, word_hits);
    double sum = 0.0;
    for (size_t i = 0; i < out->n_signals; i++) {
        double v = router_signals[i].measure(lowered, scan, req, out->prompt_tokens, word_hits[i]);
        v = v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
        out->signal_value[i] = v;
        sum += router_signals[i].weight * v;
    }
    out->complexity = sum < 0.0 ? 0.0 : sum > 1.0 ? 1.0 : sum;
}
