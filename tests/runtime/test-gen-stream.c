/* test-gen-stream.c - streaming generation through the manager: the stop
 * filter on hand-made pieces (stops spanning pieces, false alarms, the
 * earliest of several), then the real engine factory on a synthesized GGUF:
 * streamed pieces concatenate to the answer, a stop string spanning two
 * pieces cuts where strstr finds it, cancel and a callback that says stop
 * end early with "cancelled", counts match the tokenizer and max_tokens,
 * and a cached answer replays through the callback. */
// labels: model
#include "engine/engine.h"
#include "runtime/runtime.h"
#include "support/synth.h"
#include "support/test.h"
#include "text/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct collect {
    mm_buf all;                 /* every piece, concatenated */
    size_t n_pieces;
    size_t starts[256];         /* where each piece starts in all */
    int    stop_after;          /* return 1 on this piece (1-based); 0 never */
    int    cancel_after;        /* set *flag on this piece; 0 never */
    atomic_bool *flag;
} collect;

static int on_piece(const char *text, size_t len, void *user)
{
    collect *c = user;
    CHECK(len > 0);
    if (c->n_pieces < 256)
        c->starts[c->n_pieces] = c->all.len;
    c->n_pieces++;
    mm_buf_append(&c->all, text, len);
    if (c->cancel_after && (int)c->n_pieces == c->cancel_after)
        atomic_store(c->flag, true);
    return c->stop_after && (int)c->n_pieces == c->stop_after;
}

static void collect_init(collect *c)
{
    memset(c, 0, sizeof *c);
    mm_buf_init(&c->all, 1 << 20);
}

/* The filter alone: pieces in, what it passes on out. */
static void test_filter(void)
{
    const char *stops[] = { "END", "", "xy" };
    mm_gen_request req = { .stop = stops, .n_stop = 3, .on_piece = on_piece };
    collect c;
    collect_init(&c);
    req.piece_user = &c;
    rt_stop_filter f;
    rt_stop_filter_init(&f, &req, 1024);
    CHECK_INT(rt_stop_filter_push(&f, "ab", 2), 0);
    CHECK_INT(rt_stop_filter_push(&f, "cE", 2), 0);
    CHECK_STR(c.all.data, "abc");          /* "E" may start "END": held back */
    CHECK_INT(rt_stop_filter_push(&f, "N", 1), 0);
    CHECK_STR(c.all.data, "abc");
    CHECK_INT(rt_stop_filter_push(&f, "Dxyz", 4), 1);
    CHECK(f.stopped);
    rt_stop_filter_finish(&f);
    CHECK_STR(c.all.data, "abc");          /* the held-back "EN" never streamed */
    CHECK_STR(f.text.data, "abc");
    rt_stop_filter_free(&f);
    mm_buf_free(&c.all);

    /* A false alarm is passed on once it cannot be a stop string. */
    collect_init(&c);
    rt_stop_filter_init(&f, &req, 1024);
    CHECK_INT(rt_stop_filter_push(&f, "1E", 2), 0);
    CHECK_INT(rt_stop_filter_push(&f, "NX", 2), 0);
    CHECK_STR(c.all.data, "1ENX");
    CHECK_INT(rt_stop_filter_push(&f, "ax", 2), 0);
    rt_stop_filter_finish(&f);             /* the end releases the held "x" */
    CHECK_STR(c.all.data, "1ENXax");
    CHECK(!f.stopped);
    rt_stop_filter_free(&f);
    mm_buf_free(&c.all);

    /* The earliest of two stops wins, whatever their order in the list. */
    collect_init(&c);
    rt_stop_filter_init(&f, &req, 1024);
    CHECK_INT(rt_stop_filter_push(&f, "q xy END", 8), 1);
    CHECK_STR(f.text.data ? f.text.data : "", "q ");
    rt_stop_filter_free(&f);
    mm_buf_free(&c.all);
}

static char *tmp;

static mm_config *make_config(void)
{
    const char *extra[] = { "default_model=synth", NULL };
    return mmtest_config(tmp, extra);
}

/* Prompt tokens counted by the tokenizer directly (BOS included). */
static int64_t count_prompt(const char *path, const char *prompt)
{
    engine_model *model = NULL;
    text_vocab *vocab = NULL;
    int32_t ids[512];
    size_t n = 0;
    int64_t result = -1;
    if (engine_model_load(path, &model, NULL) == 0 && text_vocab_load(model->file, &vocab, NULL) == 0 &&
        text_tokenize(vocab, prompt, strlen(prompt), true, false, ids, 512, &n, NULL) == 0)
        result = (int64_t)n;
    text_vocab_free(vocab);
    engine_model_free(model);
    return result;
}

/* Start of the last UTF-8 character of s[0, n). */
static size_t last_char(const char *s, size_t n)
{
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

static void test_engine(mm_manager *mgr, const char *path)
{
    mm_error err = { 0 };
    const char *prompt = "hello world";
    collect c;
    collect_init(&c);
    mm_gen_request req = { .model = "synth", .prompt = prompt, .max_tokens = 24,
                           .no_cache = true, .on_piece = on_piece, .piece_user = &c };
    mm_gen_result res = { 0 };
    CHECK_INT(mm_manager_generate(mgr, &req, &res, &err), 0);
    const char *whole = res.text ? res.text : "";
    CHECK_STR(c.all.data ? c.all.data : "", whole);
    CHECK(c.n_pieces >= 3);   /* the stop test below needs two boundaries */
    CHECK_INT(res.prompt_tokens, count_prompt(path, prompt));
    CHECK(strcmp(res.finish_reason, "length") == 0 || strcmp(res.finish_reason, "stop") == 0);
    if (strcmp(res.finish_reason, "length") == 0)
        CHECK_INT(res.completion_tokens, 24);
    else
        CHECK(res.completion_tokens < 24);
    CHECK(res.completion_tokens >= (int64_t)c.n_pieces);   /* a piece holds >= 1 token */
    char *full = mm_strdup(whole);
    mm_gen_result_clear(&res);

    /* A stop string spanning pieces 1 and 2: the last character of one and
     * the first of the next. */
    if (c.n_pieces >= 3) {
        size_t b = c.starts[1];
        size_t from = last_char(c.all.data, b);
        size_t to = b + 1;
        while (to < c.all.len && ((unsigned char)c.all.data[to] & 0xC0) == 0x80)
            to++;
        char stop[16] = { 0 };
        memcpy(stop, c.all.data + from, to - from < 15 ? to - from : 15);
        const char *stops[] = { stop };
        collect s;
        collect_init(&s);
        mm_gen_request sr = req;
        sr.stop = stops;
        sr.n_stop = 1;
        sr.piece_user = &s;
        CHECK_INT(mm_manager_generate(mgr, &sr, &res, &err), 0);
        size_t cut = (size_t)(strstr(full, stop) - full);   /* found: it came from full */
        CHECK_INT(strlen(res.text), cut);
        CHECK(strncmp(res.text, full, cut) == 0);
        CHECK_STR(s.all.data ? s.all.data : "", res.text);
        CHECK_STR(res.finish_reason, "stop");
        mm_gen_result_clear(&res);
        mm_buf_free(&s.all);
    }

    /* Cancel after the second piece: stops early, the text is a prefix. */
    atomic_bool flag = false;
    collect k;
    collect_init(&k);
    k.cancel_after = 2;
    k.flag = &flag;
    mm_gen_request kr = req;
    kr.piece_user = &k;
    kr.cancel = &flag;
    CHECK_INT(mm_manager_generate(mgr, &kr, &res, &err), 0);
    CHECK_STR(res.finish_reason, "cancelled");
    CHECK(res.completion_tokens < 24);
    CHECK(strncmp(full, res.text, strlen(res.text)) == 0);
    CHECK_STR(k.all.data ? k.all.data : "", res.text);
    mm_gen_result_clear(&res);
    mm_buf_free(&k.all);

    /* A callback that says stop on its first piece. */
    collect q;
    collect_init(&q);
    q.stop_after = 1;
    mm_gen_request qr = req;
    qr.piece_user = &q;
    CHECK_INT(mm_manager_generate(mgr, &qr, &res, &err), 0);
    CHECK_STR(res.finish_reason, "cancelled");
    CHECK_INT(q.n_pieces, 1);
    CHECK_STR(res.text, q.all.data);
    mm_gen_result_clear(&res);
    mm_buf_free(&q.all);

    /* Cached: the second identical request replays through the callback
     * with the first one's finish reason and counts. */
    mm_gen_request cr = req;
    cr.no_cache = false;
    collect c1, c2;
    collect_init(&c1);
    collect_init(&c2);
    cr.piece_user = &c1;
    CHECK_INT(mm_manager_generate(mgr, &cr, &res, &err), 0);
    CHECK(!res.cached);
    mm_gen_result first = res;
    first.text = NULL;
    mm_gen_result_clear(&res);
    cr.piece_user = &c2;
    CHECK_INT(mm_manager_generate(mgr, &cr, &res, &err), 0);
    CHECK(res.cached);
    CHECK_STR(res.text, full);
    CHECK_STR(c2.all.data ? c2.all.data : "", full);
    CHECK_STR(res.finish_reason, first.finish_reason);
    CHECK_INT(res.prompt_tokens, first.prompt_tokens);
    CHECK_INT(res.completion_tokens, first.completion_tokens);
    mm_gen_result_clear(&res);
    mm_buf_free(&c1.all);
    mm_buf_free(&c2.all);

    /* Too many stop strings are refused, naming the limit. */
    const char *five[] = { "a", "b", "c", "d", "e" };
    mm_gen_request fr = req;
    fr.stop = five;
    fr.n_stop = 5;
    CHECK_INT(mm_manager_generate(mgr, &fr, &res, &err), MM_EINVAL);
    CHECK_CONTAINS(err.message, "at most 4");
    mm_gen_result_clear(&res);

    free(full);
    mm_buf_free(&c.all);
}

int main(void)
{
    test_filter();
    tmp = mmtest_tmpdir();
    char *dir = mm_path_join(tmp, "models");
    mm_mkdirs(dir, NULL);
    char *path = mm_path_join(dir, "synth.gguf");
    mmtest_synth_params params;
    mmtest_synth_default_params(&params);
    params.weight_scale = 0.5f;
    CHECK_INT(mmtest_synth_model(&params, path), 0);
    mm_config *cfg = make_config();
    mm_manager *mgr = NULL;
    mm_error err = { 0 };
    CHECK_INT(mm_manager_open(cfg, &mgr, &err), 0);
    if (mgr)
        test_engine(mgr, path);
    mm_manager_close(mgr);
    mm_config_free(cfg);
    free(path);
    free(dir);
    mmtest_rmtree(tmp);
    free(tmp);
    return mmtest_finish();
}
