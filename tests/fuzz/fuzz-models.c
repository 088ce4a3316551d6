/* fuzz-models.c - the models.txt parser on arbitrary bytes: it must accept or
 * refuse with a message naming a line, and every entry it returns must be
 * well formed (a valid key, a valid repo id or an absolute local path). */
#include "catalog/catalog.h"
#include "fuzz.h"

#include <string.h>

static void check_entry(const catalog_entry *e)
{
    FUZZ_CHECK(e->key && catalog_key_valid(e->key));
    FUZZ_CHECK(e->line >= 1);
    if (e->source == MM_SOURCE_HF) {
        char why[256];
        FUZZ_CHECK(e->repo && catalog_repo_id_valid(e->repo, why, sizeof why));
        FUZZ_CHECK(e->local_path == NULL);
        FUZZ_CHECK(!e->revision || (e->revision[0] && strlen(e->revision) <= CATALOG_REVISION_MAX));
        FUZZ_CHECK(!e->repo_path || (e->repo_path[0] && strlen(e->repo_path) <= CATALOG_PATH_MAX));
    } else {
        FUZZ_CHECK(e->source == MM_SOURCE_LOCAL);
        FUZZ_CHECK(e->repo == NULL && e->local_path && e->local_path[0] == '/');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    catalog_entries entries;
    mm_error err = { 0 };
    int rc = catalog_parse_models((const char *)data, size, "models.txt", "/srv/models",
                                  &entries, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && err.code == rc && err.message[0]);
        FUZZ_CHECK(entries.count == 0 && entries.items == NULL);
        return 0;
    }
    FUZZ_CHECK(entries.count <= CATALOG_ENTRIES_MAX);
    int last_line = 0;
    for (size_t i = 0; i < entries.count; i++) {
        check_entry(&entries.items[i]);
        FUZZ_CHECK(entries.items[i].line > last_line);
        last_line = entries.items[i].line;
    }
    catalog_entries_free(&entries);
    return 0;
}
