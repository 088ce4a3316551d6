/* routed.c - the in-process serving stack of the routing tests (routed.h). */
#include "support/routed.h"
#include "support/test.h"

int mmtest_routed_start(const mm_config *cfg, mmtest_routed *out)
{
    memset(out, 0, sizeof *out);
    mm_error err = { 0 };
    CHECK_INT(mm_catalog_open(cfg, &out->cat, &err), 0);
    if (out->cat)
        CHECK_INT(mm_manager_open(cfg, &out->mgr, &err), 0);
    if (out->mgr) {
        int rc = server_route_service_new(cfg, out->cat, out->mgr, &out->svc, &err);
        CHECK_INT(rc, 0);
        out->svc_open = rc == 0;
    }
    if (out->svc_open) {
        server_options opts = { .host = "127.0.0.1", .port = 0 };
        CHECK_INT(server_start(&opts, &out->svc, &out->srv, &err), 0);
    }
    if (!out->srv) {
        fprintf(stderr, "  %s\n", err.message);
        return -1;
    }
    return 0;
}

void mmtest_routed_stop(mmtest_routed *r)
{
    if (r->srv)
        server_stop(r->srv, 1000);
    if (r->svc_open)
        server_route_service_free(&r->svc);
    mm_manager_close(r->mgr);
    mm_catalog_close(r->cat);
    memset(r, 0, sizeof *r);
}
