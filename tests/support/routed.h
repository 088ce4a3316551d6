/* routed.h - what `modelmgr serve` runs, in the test's own process: the
 * catalog, a model manager on the built-in engine, the routing service
 * over them and the HTTP server on 127.0.0.1 at a free port. */
#ifndef MM_TEST_ROUTED_H
#define MM_TEST_ROUTED_H

#include "runtime/runtime.h"
#include "server/server.h"

typedef struct mmtest_routed {
    mm_catalog    *cat;
    mm_manager    *mgr;
    server_service svc;
    bool           svc_open;
    server        *srv;     /* URL: server_url(srv) */
} mmtest_routed;

/* Open everything over cfg (borrowed until mmtest_routed_stop), each step
 * CHECKed; 0 when the server serves, else -1 with the error printed. Call
 * mmtest_routed_stop either way. */
int  mmtest_routed_start(const mm_config *cfg, mmtest_routed *out);
/* Stop the server (1 s grace) and close what start opened. */
void mmtest_routed_stop(mmtest_routed *r);

#endif /* MM_TEST_ROUTED_H */
