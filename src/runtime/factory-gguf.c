/* factory-gguf.c - the instance factory mm_manager_open uses until the
 * engine's forward pass lands: a load opens and validates the GGUF file
 * with the gguf reader (mapped read-only, shared by every instance), the
 * estimate counts the file plus an f16 KV cache per instance, and generate
 * says plainly that this build cannot generate text yet. */
#include "runtime/runtime.h"
#include "gguf/gguf.h"

#include <stdlib.h>

/* An instance has nothing of its own until the engine gives it a KV cache;
 * it still needs a distinct address so the pool can tell instances apart. */
typedef struct gguf_instance {
    gguf_file *model;   /* borrowed */
} gguf_instance;

static int gguf_estimate(void *user, const mm_model_info *m, int instances,
                         uint64_t *bytes, mm_error *err)
{
    (void)user;
    (void)err;
    uint64_t total = m->size_bytes;
    if (m->has_facts) {
        const mm_model_facts *f = &m->facts;
        uint64_t ctx = f->context_length && f->context_length < RT_ESTIMATE_CTX
                           ? f->context_length : RT_ESTIMATE_CTX;
        uint64_t embd_kv = f->embedding_length;
        if (f->head_count && f->head_count_kv)
            embd_kv = (uint64_t)f->embedding_length * f->head_count_kv / f->head_count;
        /* K and V, f16, every layer, ctx positions; plus f32 logits. */
        uint64_t kv = 2ull * f->block_count * ctx * embd_kv * 2ull;
        uint64_t logits = (uint64_t)f->vocab_size * 4ull;
        total += (uint64_t)instances * (kv + logits);
    }
    *bytes = total;
    return 0;
}

static int gguf_load(void *user, const mm_model_info *m, void **model, mm_error *err)
{
    (void)user;
    *model = NULL;
    if (m->format != MM_FORMAT_GGUF)
        return mm_error_set(err, MM_EUNSUPPORTED,
                            "'%s' is a %s model; the built-in engine runs GGUF files only",
                            m->key, mm_format_name(m->format));
    if (m->n_paths == 0)
        return mm_error_set(err, MM_ENOTFOUND, "'%s' has no file on disk%s", m->key,
                            m->source == MM_SOURCE_HF ? " (modelmgr pull downloads it)" : "");
    gguf_file *f = NULL;
    int rc = gguf_open(m->paths[0], &f, err);
    if (rc != 0)
        return rc;
    *model = f;
    return 0;
}

static void gguf_unload(void *user, void *model)
{
    (void)user;
    gguf_close(model);
}

static int gguf_instance_new(void *user, void *model, void **inst, mm_error *err)
{
    (void)user;
    gguf_instance *i = calloc(1, sizeof *i);
    if (!i)
        return mm_error_set(err, MM_ENOMEM, "out of memory creating an instance");
    i->model = model;
    *inst = i;
    return 0;
}

static void gguf_instance_free(void *user, void *inst)
{
    (void)user;
    free(inst);
}

static int gguf_generate(void *user, void *inst, const mm_gen_request *req, char **text,
                         mm_error *err)
{
    (void)user;
    (void)inst;
    (void)req;
    *text = NULL;
    return mm_error_set(err, MM_EUNSUPPORTED,
                        "text generation needs the built-in engine's forward pass, which "
                        "this build does not include yet; the model loaded and validated");
}

static const rt_factory gguf_factory = {
    .user = NULL,
    .estimate = gguf_estimate,
    .load = gguf_load,
    .unload = gguf_unload,
    .instance_new = gguf_instance_new,
    .instance_free = gguf_instance_free,
    .generate = gguf_generate,
};

const rt_factory *rt_factory_gguf(void)
{
    return &gguf_factory;
}
