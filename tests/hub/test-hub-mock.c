/* test-hub-mock.c - the mock hub speaks the protocol the reference page
 * describes (so the client tests mean something): the headers of a small
 * and an LFS resolve, the CDN's own ETag and Range answers, encoded
 * revisions, the repo-info API with blobs, and Authorization refused at the
 * CDN. Uses the client's single-exchange HTTP helper only. */
// labels: integration
#include "hub-fixture.h"

#include <cjson/cJSON.h>

static void exchange(hub *h, const char *method, const char *url, int64_t range,
                     hub_http_response *rs)
{
    hub_http_request rq = { .method = method, .url = url, .range_from = range,
                            .timeout_ms = 5000, .body_max = 1 << 20 };
    hub_http_response_free(rs);
    hub_http_response_init(rs);
    CHECK_INT(hub_http_perform(h, &rq, rs), 0);
}

int main(void)
{
    fixture fx;
    fx_start(&fx, NULL);
    CHECK_INT(mockhub_branch_add(fx.mh, FX_REPO, "refs/pr/1", "main"), 0);
    hub *h = fx_hub(&fx, FX_TOKEN, false);
    mockhub_file_info lfs, small;
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_LFS, &lfs);
    mockhub_file_info_get(fx.mh, FX_REPO, "main", FX_SMALL, &small);
    hub_http_response rs;
    hub_http_response_init(&rs);
    char url[1024], want[256];

    snprintf(url, sizeof url, "%s/org/model/resolve/main/%s", mockhub_url(fx.mh), FX_SMALL);
    exchange(h, "HEAD", url, -1, &rs);
    CHECK_INT(rs.status, 200);
    snprintf(want, sizeof want, "\"%s\"", small.git_sha1);
    CHECK_STR(rs.etag, want);
    CHECK_STR(rs.content_length, "300");
    CHECK_STR(rs.repo_commit, fx.commit);

    snprintf(url, sizeof url, "%s/org/model/resolve/refs%%2Fpr%%2F1/%s", mockhub_url(fx.mh), FX_LFS);
    exchange(h, "HEAD", url, -1, &rs);
    CHECK_INT(rs.status, 302);
    snprintf(want, sizeof want, "\"%s\"", lfs.sha256);
    CHECK_STR(rs.linked_etag, want);
    CHECK_STR(rs.linked_size, "200000");
    CHECK_STR(rs.repo_commit, fx.commit);
    CHECK(mm_str_has_prefix(rs.location, mockhub_cdn_url(fx.mh)));
    CHECK(!hub_same_origin(rs.location, mockhub_url(fx.mh)));

    /* The CDN: Range honoured, its own ETag, no X-Repo-Commit. */
    char cdn[2048];
    mm_strlcpy(cdn, rs.location, sizeof cdn);
    exchange(h, "GET", cdn, 199990, &rs);
    CHECK_INT(rs.status, 206);
    CHECK_STR(rs.content_range, "bytes 199990-199999/200000");
    CHECK_INT(rs.body.len, 10);
    CHECK(strcmp(rs.etag, want) != 0);
    CHECK_STR(rs.repo_commit, "");
    uint8_t *bytes = malloc(FX_LFS_SIZE);
    mockhub_content(FX_LFS_SEED, bytes, FX_LFS_SIZE);
    CHECK(rs.body.len == 10 && memcmp(rs.body.data, bytes + 199990, 10) == 0);
    free(bytes);
    exchange(h, "GET", cdn, 200000, &rs);
    CHECK_INT(rs.status, 416);
    CHECK_INT(mockhub_cdn_auth_seen(fx.mh), 0);

    /* An unencoded slash in the revision is not a revision. */
    snprintf(url, sizeof url, "%s/org/model/resolve/refs/pr/1/%s", mockhub_url(fx.mh), FX_LFS);
    exchange(h, "HEAD", url, -1, &rs);
    CHECK_INT(rs.status, 404);
    CHECK_STR(rs.error_code, "RevisionNotFound");

    /* Repo info with blobs. */
    snprintf(url, sizeof url, "%s/api/models/org/model/revision/v1.0?blobs=True", mockhub_url(fx.mh));
    exchange(h, "GET", url, -1, &rs);
    CHECK_INT(rs.status, 200);
    cJSON *doc = cJSON_ParseWithLength(rs.body.data, rs.body.len);
    CHECK_STR(cJSON_GetObjectItem(doc, "sha")->valuestring, fx.commit);
    const cJSON *sib;
    int lfs_seen = 0;
    cJSON_ArrayForEach(sib, cJSON_GetObjectItem(doc, "siblings")) {
        const cJSON *l = cJSON_GetObjectItem(sib, "lfs");
        if (strcmp(cJSON_GetObjectItem(sib, "rfilename")->valuestring, FX_LFS) == 0 && l) {
            lfs_seen++;
            CHECK_STR(cJSON_GetObjectItem(l, "sha256")->valuestring, lfs.sha256);
            CHECK_INT(cJSON_GetObjectItem(l, "size")->valueint, FX_LFS_SIZE);
        }
    }
    CHECK_INT(lfs_seen, 1);
    cJSON_Delete(doc);
    hub_http_response_free(&rs);

    /* The client downloads through an encoded revision. */
    hub_result res;
    mm_error err = { 0 };
    CHECK_INT(hub_download_file(h, FX_REPO, FX_SMALL, "refs/pr/1", true, &res, &err), 0);
    CHECK_STR(res.commit, fx.commit);
    CHECK_INT(mockhub_count(fx.mh, "HEAD", "/resolve/refs%2Fpr%2F1/config.json"), 1);
    char path[8192];
    snprintf(path, sizeof path, "%s/models--org--model/refs/refs/pr/1", fx.cache);
    CHECK(fx_exists(path));
    hub_close(h);
    fx_stop(&fx);
    return mmtest_finish();
}
