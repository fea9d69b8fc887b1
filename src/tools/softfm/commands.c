/*
 * The commands of the softfm shell: hsm, partition, slot, policy.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "tool.h"

#define PIN_MAX 256

enum { OPT_LABEL = 1, OPT_NAME, OPT_FORCE, OPT_PIN_FILE, OPT_DEV_MODE };

static const struct option sub_opts[] = {
    { "label", required_argument, NULL, OPT_LABEL },
    { "name", required_argument, NULL, OPT_NAME },
    { "force", no_argument, NULL, OPT_FORCE },
    { "so-pin-file", required_argument, NULL, OPT_PIN_FILE },
    { "dev-mode", no_argument, NULL, OPT_DEV_MODE },
    { NULL, 0, NULL, 0 },
};

typedef struct sub_args {
    const char *label;
    const char *name;
    bool force;
    bool dev_mode;
    char *pos[4];
    int npos;
} sub_args_t;

/* Options of a subcommand (argv[0] is its name). */
static int parse(tool_t *t, int argc, char **argv, sub_args_t *a)
{
    memset(a, 0, sizeof *a);
    optind = 0;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+y", sub_opts, NULL)) != -1) {
        switch (c) {
        case OPT_LABEL: a->label = optarg; break;
        case OPT_NAME: a->name = optarg; break;
        case 'y':
        case OPT_FORCE: a->force = true; break;
        case OPT_PIN_FILE: t->so_pin_file = optarg; break;
        case OPT_DEV_MODE: a->dev_mode = true; break;
        default: return 2;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (a->npos == 4)
            return 2;
        a->pos[a->npos++] = argv[i];
    }
    return 0;
}

/* The HSM as OP_ADMIN_SHOW describes it. */
typedef struct view_policy {
    char name[64];
    char desc[128];
    unsigned long long value;
} view_policy_t;

typedef struct view_part {
    unsigned long long slot;
    char name[64], label[64], serial[32];
    int initialized, user_pin;
    unsigned long long objects;
} view_part_t;

typedef struct view {
    int initialized;
    char label[64], serial[32];
    unsigned fw_major, fw_minor;
    view_policy_t pol[16];
    uint32_t npol;
    view_part_t *parts;
    uint32_t nparts;
} view_t;

static CK_RV fetch_view(tool_t *t, view_t *v)
{
    client_conn_t *k = NULL;
    wbuf_t *w;
    rbuf_t r;
    memset(v, 0, sizeof *v);
    CK_RV rv = admin_begin(t, OP_ADMIN_SHOW, &k, &w);
    if (rv == CKR_OK)
        rv = admin_send(t, k, &r);
    if (rv == CKR_OK) {
        v->initialized = rb_u8(&r);
        wire_str(&r, v->label, sizeof v->label);
        wire_str(&r, v->serial, sizeof v->serial);
        v->fw_major = rb_u32(&r);
        v->fw_minor = rb_u32(&r);
        v->npol = rb_u32(&r);
        for (uint32_t i = 0; i < v->npol && i < 16; i++) {
            wire_str(&r, v->pol[i].name, sizeof v->pol[i].name);
            wire_str(&r, v->pol[i].desc, sizeof v->pol[i].desc);
            v->pol[i].value = rb_u64(&r);
        }
        v->nparts = rb_u32(&r);
        if (r.err || v->npol > 16 || v->nparts > rb_left(&r))
            rv = CKR_DEVICE_ERROR;
        else if (!(v->parts = calloc(v->nparts + 1, sizeof *v->parts)))
            rv = CKR_HOST_MEMORY;
        for (uint32_t i = 0; rv == CKR_OK && i < v->nparts; i++) {
            view_part_t *p = &v->parts[i];
            p->slot = rb_u64(&r);
            wire_str(&r, p->name, sizeof p->name);
            wire_str(&r, p->label, sizeof p->label);
            wire_str(&r, p->serial, sizeof p->serial);
            p->initialized = rb_u8(&r);
            p->user_pin = rb_u8(&r);
            p->objects = rb_u64(&r);
        }
        if (rv == CKR_OK && !rb_done(&r))
            rv = CKR_DEVICE_ERROR;
    }
    client_end(t->client, k);
    if (rv) {
        free(v->parts);
        v->parts = NULL;
    }
    return rv;
}

/* An admin request carrying the SO PIN and an optional name. */
static CK_RV so_request(tool_t *t, uint32_t op, const char *name, const uint64_t *value,
                        bool new_pin, rbuf_t *r, client_conn_t **k)
{
    wbuf_t *w;
    CK_RV rv = so_begin(t, op, name, new_pin, k, &w);
    if (rv == CKR_OK) {
        if (value)
            wb_u64(w, *value);
        rv = admin_send(t, *k, r);
    }
    return rv;
}

static int hsm_init(tool_t *t, const sub_args_t *a)
{
    if (!a->label)
        return fail_msg("hsm init: --label LABEL is required");
    if (strlen(a->label) > 32)
        return fail_msg("hsm init: a label has at most 32 characters");
    /* Re-initialising would wipe the Admin Token but leave partitions
       behind; an initialised HSM is zeroized first, deliberately. */
    view_t v;
    CK_RV rv = fetch_view(t, &v);
    if (rv)
        return fail("hsm init", rv);
    free(v.parts);
    if (v.initialized)
        return fail_msg("hsm init: the HSM is initialised already (softfm hsm zeroize first)");
    if ((rv = p11_ready(t)))
        return fail("hsm init", rv);
    char pin[PIN_MAX];
    if (get_so_pin(t, pin, sizeof pin, true))
        return 1;
    CK_UTF8CHAR label[32];
    pad_copy(label, sizeof label, a->label);
    rv = C_InitToken(0, (CK_UTF8CHAR_PTR)pin, strlen(pin), label);
    /* A dev-mode HSM: the development policies, set with the same PIN. */
    static const char *const dev[] = { "allow-unsigned-fms", "smfs-auto-activate" };
    for (size_t i = 0; rv == CKR_OK && a->dev_mode && i < sizeof dev / sizeof dev[0]; i++) {
        client_conn_t *k = NULL;
        wbuf_t *w;
        rbuf_t r;
        if ((rv = admin_begin(t, OP_ADMIN_POLICY_SET, &k, &w)) == CKR_OK) {
            wb_bytes(w, pin, strlen(pin));
            wb_bytes(w, dev[i], strlen(dev[i]));
            wb_u64(w, 1);
            rv = admin_send(t, k, &r);
        }
        client_end(t->client, k);
    }
    secure_zero(pin, sizeof pin);
    if (rv)
        return fail("hsm init", rv);
    printf("HSM initialised: label \"%s\"%s\n", a->label,
           a->dev_mode ? " in dev mode (unsigned FMs load; FMs start at once)" : "");
    return 0;
}

static int hsm_show(tool_t *t)
{
    view_t v;
    CK_RV rv = fetch_view(t, &v);
    if (rv)
        return fail("hsm show", rv);
    printf("HSM state:        %s\n",
           v.initialized ? "initialised" : "not initialised (run softfm hsm init)");
    printf("Label:            %s\n", v.label);
    printf("Serial number:    %s\n", v.serial);
    printf("Firmware version: %u.%u\n", v.fw_major, v.fw_minor);
    X509 *cert = NULL;
    if (server_cert_fetch(t, &cert) == CKR_OK && cert) {
        uint8_t fp[NET_FP_LEN];
        char text[NET_FP_TEXT], cn[128];
        net_cert_name(cert, cn, sizeof cn);
        if (net_fingerprint(cert, fp) == 0) {
            net_fp_text(fp, text);
            printf("TLS certificate:  CN=%s\n", cn);
            printf("  SHA-256         %s\n", text);
        }
    }
    X509_free(cert);
    printf("Policies:\n");
    for (uint32_t i = 0; i < v.npol; i++)
        printf("  %-22s %-6llu %s\n", v.pol[i].name, v.pol[i].value, v.pol[i].desc);
    printf("Partitions:\n");
    for (uint32_t i = 0; i < v.nparts; i++) {
        const view_part_t *p = &v.parts[i];
        printf("  slot %-3llu %-16s %-14s serial %s, %s, %s, %llu token objects\n", p->slot,
               p->name, p->slot == 0 ? "(Admin Token)" : "", p->serial,
               p->initialized ? "initialised" : "not initialised",
               p->user_pin ? "Crypto Officer PIN set" : "no Crypto Officer PIN", p->objects);
    }
    free(v.parts);
    return 0;
}

/* softfm hsm server-cert --out FILE: for clients that pin it out of band. */
static int hsm_server_cert(int argc, char **argv, tool_t *t)
{
    if (argc != 3 || strcmp(argv[1], "--out"))
        return fail_msg("usage: softfm hsm server-cert --out FILE"), 2;
    X509 *cert = NULL;
    CK_RV rv = (CK_RV)server_cert_fetch(t, &cert);
    if (rv)
        return fail("hsm server-cert", rv);
    if (!cert)
        return fail_msg("hsm server-cert: the HSM has no certificate (softfm hsm init first)");
    int bad = net_write_cert(argv[2], cert);
    X509_free(cert);
    if (bad)
        return fail_msg("hsm server-cert: cannot write %s", argv[2]);
    printf("wrote %s\n", argv[2]);
    return 0;
}

static int hsm_zeroize(tool_t *t, const sub_args_t *a)
{
    if (!a->force && !confirm("This erases every partition, key, object and setting of the HSM."))
        return fail_msg("hsm zeroize: not confirmed (use --force in scripts)");
    client_conn_t *k = NULL;
    rbuf_t r;
    CK_RV rv = so_request(t, OP_ADMIN_ZEROIZE, NULL, NULL, false, &r, &k);
    client_end(t->client, k);
    if (rv == CKR_CANCEL)
        return 1;
    if (rv)
        return fail("hsm zeroize", rv);
    printf("HSM zeroized\n");
    return 0;
}

int cmd_hsm(tool_t *t, int argc, char **argv)
{
    sub_args_t a;
    if (argc >= 1 && !strcmp(argv[0], "server-cert"))
        return hsm_server_cert(argc, argv, t);
    if (argc < 1 || parse(t, argc, argv, &a))
        return fail_msg("usage: softfm hsm init --label L [--dev-mode] | show | zeroize [--force]"
                        " | server-cert --out FILE"), 2;
    if (!strcmp(argv[0], "init"))
        return hsm_init(t, &a);
    if (!strcmp(argv[0], "show"))
        return hsm_show(t);
    if (!strcmp(argv[0], "zeroize"))
        return hsm_zeroize(t, &a);
    return fail_msg("hsm: unknown subcommand '%s'", argv[0]), 2;
}

static int partition_list(tool_t *t)
{
    view_t v;
    CK_RV rv = fetch_view(t, &v);
    if (rv)
        return fail("partition list", rv);
    printf("%-5s %-32s %-32s %-16s %s\n", "SLOT", "NAME", "LABEL", "SERIAL", "STATE");
    for (uint32_t i = 0; i < v.nparts; i++) {
        const view_part_t *p = &v.parts[i];
        if (p->slot == 0)
            continue; /* the Admin Token is the HSM SO's, not a partition */
        printf("%-5llu %-32s %-32s %-16s %s\n", p->slot, p->name,
               p->initialized ? p->label : "-", p->serial,
               !p->initialized ? "not initialised"
               : p->user_pin   ? "ready"
                               : "no Crypto Officer PIN");
    }
    free(v.parts);
    return 0;
}

int cmd_partition(tool_t *t, int argc, char **argv)
{
    sub_args_t a;
    if (argc < 1 || parse(t, argc, argv, &a))
        return fail_msg("usage: softfm partition create --name P | list | delete P"), 2;
    client_conn_t *k = NULL;
    rbuf_t r;
    CK_RV rv;
    if (!strcmp(argv[0], "list"))
        return partition_list(t);
    if (!strcmp(argv[0], "create")) {
        const char *name = a.name ? a.name : a.npos == 1 ? a.pos[0] : NULL;
        if (!name)
            return fail_msg("partition create: --name NAME is required"), 2;
        rv = so_request(t, OP_ADMIN_PARTITION_CREATE, name, NULL, false, &r, &k);
        unsigned long long slot = rv == CKR_OK ? rb_u64(&r) : 0;
        client_end(t->client, k);
        if (rv == CKR_CANCEL)
            return 1;
        if (rv)
            return fail("partition create", rv);
        printf("partition %s created in slot %llu\n", name, slot);
        return 0;
    }
    if (!strcmp(argv[0], "delete")) {
        const char *name = a.name ? a.name : a.npos == 1 ? a.pos[0] : NULL;
        if (!name)
            return fail_msg("partition delete: name the partition"), 2;
        rv = so_request(t, OP_ADMIN_PARTITION_DELETE, name, NULL, false, &r, &k);
        client_end(t->client, k);
        if (rv == CKR_CANCEL)
            return 1;
        if (rv)
            return fail("partition delete", rv);
        printf("partition %s deleted\n", name);
        return 0;
    }
    return fail_msg("partition: unknown subcommand '%s'", argv[0]), 2;
}

static void print_flags(CK_FLAGS f)
{
    static const struct { CK_FLAGS f; const char *name; } names[] = {
        { CKF_RNG, "rng" },
        { CKF_LOGIN_REQUIRED, "login required" },
        { CKF_USER_PIN_INITIALIZED, "PIN initialized" },
        { CKF_CLOCK_ON_TOKEN, "clock on token" },
        { CKF_TOKEN_INITIALIZED, "token initialized" },
        { CKF_USER_PIN_COUNT_LOW, "user PIN count low" },
        { CKF_USER_PIN_FINAL_TRY, "final user PIN try" },
        { CKF_USER_PIN_LOCKED, "user PIN locked" },
        { CKF_SO_PIN_COUNT_LOW, "SO PIN count low" },
        { CKF_SO_PIN_FINAL_TRY, "final SO PIN try" },
        { CKF_SO_PIN_LOCKED, "SO PIN locked" },
    };
    const char *sep = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (f & names[i].f) {
            printf("%s%s", sep, names[i].name);
            sep = ", ";
        }
    }
    printf("\n");
}

int cmd_slot(tool_t *t, int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "list"))
        return fail_msg("usage: softfm slot list"), 2;
    CK_RV rv = p11_ready(t);
    CK_ULONG n = 0;
    if (rv == CKR_OK)
        rv = C_GetSlotList(CK_TRUE, NULL, &n);
    CK_SLOT_ID *slots = calloc(n + 1, sizeof *slots);
    if (rv == CKR_OK && !slots)
        rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK)
        rv = C_GetSlotList(CK_TRUE, slots, &n);
    if (rv) {
        free(slots);
        return fail("slot list", rv);
    }
    printf("Available slots:\n");
    for (CK_ULONG i = 0; i < n; i++) {
        CK_SLOT_INFO si;
        CK_TOKEN_INFO ti;
        char desc[65], label[33], manuf[33], model[17], serial[17];
        if (C_GetSlotInfo(slots[i], &si) != CKR_OK || C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        pad_trim(desc, si.slotDescription, sizeof si.slotDescription);
        pad_trim(label, ti.label, sizeof ti.label);
        pad_trim(manuf, ti.manufacturerID, sizeof ti.manufacturerID);
        pad_trim(model, ti.model, sizeof ti.model);
        pad_trim(serial, ti.serialNumber, sizeof ti.serialNumber);
        printf("Slot %lu (0x%lx): %s\n", slots[i], slots[i], desc);
        if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
            printf("  token state:   uninitialized\n");
            continue;
        }
        printf("  token label        : %s\n", label);
        printf("  token manufacturer : %s\n", manuf);
        printf("  token model        : %s\n", model);
        printf("  token flags        : ");
        print_flags(ti.flags);
        printf("  hardware version   : %u.%u\n", ti.hardwareVersion.major, ti.hardwareVersion.minor);
        printf("  firmware version   : %u.%u\n", ti.firmwareVersion.major, ti.firmwareVersion.minor);
        printf("  serial num         : %s\n", serial);
        printf("  pin min/max        : %lu/%lu\n", ti.ulMinPinLen, ti.ulMaxPinLen);
    }
    free(slots);
    return 0;
}

int cmd_policy(tool_t *t, int argc, char **argv)
{
    sub_args_t a;
    if (argc < 1 || parse(t, argc, argv, &a))
        return fail_msg("usage: softfm policy show | set NAME VALUE"), 2;
    if (!strcmp(argv[0], "show")) {
        view_t v;
        CK_RV rv = fetch_view(t, &v);
        if (rv)
            return fail("policy show", rv);
        for (uint32_t i = 0; i < v.npol; i++)
            printf("%-22s %-6llu %s\n", v.pol[i].name, v.pol[i].value, v.pol[i].desc);
        free(v.parts);
        return 0;
    }
    if (!strcmp(argv[0], "set")) {
        if (a.npos != 2)
            return fail_msg("usage: softfm policy set NAME VALUE"), 2;
        char *end;
        uint64_t v;
        if (!strcmp(a.pos[1], "on"))
            v = 1;
        else if (!strcmp(a.pos[1], "off"))
            v = 0;
        else {
            v = strtoull(a.pos[1], &end, 10);
            if (*end || !*a.pos[1])
                return fail_msg("policy set: '%s' is not a number, on or off", a.pos[1]), 2;
        }
        client_conn_t *k = NULL;
        rbuf_t r;
        CK_RV rv = so_request(t, OP_ADMIN_POLICY_SET, a.pos[0], &v, false, &r, &k);
        client_end(t->client, k);
        if (rv == CKR_CANCEL)
            return 1;
        if (rv == CKR_ARGUMENTS_BAD)
            return fail_msg("policy set: %s does not accept %s", a.pos[0], a.pos[1]);
        if (rv)
            return fail("policy set", rv);
        printf("policy %s set to %s\n", a.pos[0], a.pos[1]);
        return 0;
    }
    return fail_msg("policy: unknown subcommand '%s'", argv[0]), 2;
}
