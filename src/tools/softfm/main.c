/*
 * softfm: the HSM administration shell.
 *
 *   softfm [--socket PATH] [--so-pin-file F] COMMAND ...
 *   softfm [--socket PATH]            (interactive: one command per line)
 *
 * Every command that needs the HSM SO takes the PIN from --so-pin-file, the
 * SOFTFM_SO_PIN variable or a no-echo prompt, so scripts never need a
 * terminal.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: softfm [--socket PATH] [--so-pin-file FILE] COMMAND [ARGS]\n"
            "commands:\n"
            "  hsm init --label LABEL [--dev-mode]\n"
            "                               initialise the HSM and set the HSM SO PIN;\n"
            "                               dev mode: unsigned FMs load, FMs start at once\n"
            "  hsm show                     state, label, serial, firmware, policies, partitions\n"
            "  hsm zeroize [--force]        erase every key, object and setting\n"
            "  partition create --name NAME create a partition (a token in its own slot)\n"
            "  partition list               list partitions\n"
            "  partition delete NAME        delete a partition and all it holds\n"
            "  slot list                    list slots and their tokens\n"
            "  policy show                  list HSM policies\n"
            "  policy set NAME VALUE        change an HSM policy\n"
            "  fm load FILE [--cert C | --cert-label L]\n"
            "                               load a signed FM image (its signer's certificate\n"
            "                               must be in the Admin Token)\n"
            "  fm load --dev FILE           load an unsigned FM image (development policy)\n"
            "  fm status                    list FMs: version, build type, signer, state\n"
            "  fm delete NAME|NUMBER        stop and remove an FM\n"
            "  fm trace NAME [--follow]     print an FM's trace\n"
            "  smfs activate                activate the SMFS (FMs start)\n"
            "  smfs status                  whether it is active, and its use\n"
            "  smfs backup --out FILE       a sealed backup of every FM's SMFS\n"
            "  smfs restore --in FILE       restore one (this HSM's master key only)\n"
            "  audit show [--last N]        the audit log of changes, its chain checked\n"
            "  hsm server-cert --out FILE   the HSM's TLS certificate, for clients to pin\n"
            "  client register --name N --cert FILE\n"
            "                               let a client host in over the network\n"
            "  client list                  registered clients and their partitions\n"
            "  client assign|unassign --name N --partition P\n"
            "                               give a client a partition (a slot), or take it\n"
            "  client revoke|reinstate --name N\n"
            "                               refuse a client's connections, or allow them again\n"
            "  client delete --name N       forget a client\n"
            "on a client host:\n"
            "  client setup --server HOST:PORT --dir DIR [--name CN] [--fingerprint FP]\n"
            "                               make this host's key and certificate, pin the\n"
            "                               HSM's certificate, write DIR/softfm.conf\n"
            "  client add-server (--server HOST:PORT | --socket PATH) --dir DIR\n"
            "                               one more HSM in DIR/softfm.conf\n"
            "Without a command, softfm reads commands from its input, one a line.\n");
}

static int run(tool_t *t, int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[0];
    if (!strcmp(cmd, "hsm"))
        return cmd_hsm(t, argc - 1, argv + 1);
    if (!strcmp(cmd, "partition"))
        return cmd_partition(t, argc - 1, argv + 1);
    if (!strcmp(cmd, "slot"))
        return cmd_slot(t, argc - 1, argv + 1);
    if (!strcmp(cmd, "policy"))
        return cmd_policy(t, argc - 1, argv + 1);
    if (!strcmp(cmd, "fm"))
        return cmd_fm(t, argc - 1, argv + 1);
    if (!strcmp(cmd, "smfs"))
        return cmd_smfs(t, argc - 1, argv + 1);
    if (!strcmp(cmd, "audit"))
        return cmd_audit(t, argc - 1, argv + 1);
    if (!strcmp(cmd, "client"))
        return cmd_client(t, argc - 1, argv + 1);
    if (!strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "softfm: unknown command '%s'\n", cmd);
    return 2;
}

static int interactive(tool_t *t)
{
    char line[1024];
    int last = 0;
    bool tty = isatty(0);
    for (;;) {
        if (tty) {
            fputs("softfm> ", stdout);
            fflush(stdout);
        }
        if (!fgets(line, sizeof line, stdin))
            break;
        char *argv[32];
        int argc = 0;
        for (char *tok = strtok(line, " \t\r\n"); tok && argc < 31; tok = strtok(NULL, " \t\r\n"))
            argv[argc++] = tok;
        argv[argc] = NULL;
        if (argc == 0 || argv[0][0] == '#')
            continue;
        if (!strcmp(argv[0], "exit") || !strcmp(argv[0], "quit"))
            break;
        optind = 0; /* each command parses its own options afresh */
        last = run(t, argc, argv);
    }
    return last;
}

int main(int argc, char **argv)
{
    tool_t t = { 0 };
    static const struct option opts[] = {
        { "socket", required_argument, NULL, 's' },
        { "so-pin-file", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    client_socket_path(t.socket, sizeof t.socket);
    int c;
    while ((c = getopt_long(argc, argv, "+s:p:hV", opts, NULL)) != -1) {
        switch (c) {
        case 's': snprintf(t.socket, sizeof t.socket, "%s", optarg); break;
        case 'p': t.so_pin_file = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("softfm %s\n", SOFTFM_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    int rc;
    if (optind == argc) {
        rc = interactive(&t);
    } else {
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 0;
        rc = run(&t, sub_argc, sub_argv);
    }
    if (t.p11_ready)
        C_Finalize(NULL);
    client_free(t.client);
    return rc;
}
