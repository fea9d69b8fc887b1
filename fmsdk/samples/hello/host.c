/*
 * The hello sample's host program: sends one message to the hello FM and
 * prints the answer.
 *
 *   hello-host echo|upper TEXT     the FM's reply
 *   hello-host who                 the pid, originator id and AppId the FM saw
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <md.h>

#include "hello.h"

static int usage(void)
{
    fprintf(stderr, "usage: hello-host echo|upper TEXT | who\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    uint32_t cmd;
    if (!strcmp(argv[1], "echo") && argc == 3)
        cmd = HELLO_ECHO;
    else if (!strcmp(argv[1], "upper") && argc == 3)
        cmd = HELLO_UPPER;
    else if (!strcmp(argv[1], "who") && argc == 2)
        cmd = HELLO_WHO;
    else
        return usage();
    MD_RV rv = MD_Initialize();
    if (rv != MDR_OK) {
        fprintf(stderr, "hello-host: MD_Initialize: %s\n", MD_RvAsString(rv));
        return 1;
    }
    uint32_t fm = 0;
    if ((rv = MD_GetFmIdFromName(0, HELLO_FM_NAME, sizeof HELLO_FM_NAME - 1, &fm)) != MDR_OK) {
        fprintf(stderr, "hello-host: no FM named %s: %s\n", HELLO_FM_NAME, MD_RvAsString(rv));
        MD_Finalize();
        return 1;
    }
    uint32_t be = fm_htobe32(cmd);
    const char *text = argc == 3 ? argv[2] : "";
    MD_Buffer_t req[] = { { (uint8_t *)&be, 4 }, { (uint8_t *)text, (uint32_t)strlen(text) },
                          { NULL, 0 } };
    if (!*text)
        req[1] = (MD_Buffer_t){ NULL, 0 };
    uint8_t out[1024];
    MD_Buffer_t resp[] = { { out, sizeof out }, { NULL, 0 } };
    uint32_t got = 0, status = 0;
    rv = MD_SendReceive(0, 0, (uint16_t)fm, req, 0, resp, &got, &status);
    MD_Finalize();
    if (rv != MDR_OK) {
        fprintf(stderr, "hello-host: MD_SendReceive: %s\n", MD_RvAsString(rv));
        return 1;
    }
    if (status != 0) {
        fprintf(stderr, "hello-host: the FM answered status 0x%x\n", status);
        return 1;
    }
    if (cmd == HELLO_WHO && got == 12) {
        uint32_t v[3];
        memcpy(v, out, sizeof v);
        printf("pid %u, originator %u, AppId %u (this process is %d)\n", fm_betoh32(v[0]),
               fm_betoh32(v[1]), fm_betoh32(v[2]), (int)getpid());
    } else {
        printf("%.*s\n", (int)got, (const char *)out);
    }
    return 0;
}
