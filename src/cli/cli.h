/* cli.h - the command-line tool: one file per subcommand, dispatched by
 * main.c. The CLI uses only the public API in modelmgr.h. */
#ifndef MM_CLI_H
#define MM_CLI_H

#include "modelmgr.h"

/* Exit statuses shared by every command. */
enum {
    CLI_OK    = 0,  /* success */
    CLI_FAIL  = 1,  /* the operation failed */
    CLI_USAGE = 2   /* bad usage or configuration */
};

typedef struct cli_command {
    const char *name;
    const char *summary;               /* one line for `modelmgr --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

/* Subcommands (argv[0] is the command name). */
int cli_pull(int argc, char **argv);

/* Print "modelmgr: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* MM_CLI_H */
