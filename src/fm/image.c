/*
 * Checking an FM image before it runs: an ELF shared object for this
 * machine that needs no library and leaves no symbol undefined, with a
 * valid FM header in its .fm.header section. Every offset and size read
 * from the file is checked against the file before it is used.
 */
#include <elf.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "fm.h"

#if defined(__x86_64__)
#define FM_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define FM_MACHINE EM_AARCH64
#else
#error "add this machine's ELF e_machine here"
#endif

static int err(char *why, size_t cap, const char *msg)
{
    snprintf(why, cap, "%s", msg);
    return -1;
}

/* [off, off + len) lies inside a file of n bytes. */
static int inside(uint64_t off, uint64_t len, size_t n)
{
    return off <= n && len <= n - off;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static void copy_name(char *dst, size_t cap, const uint8_t *src, size_t n)
{
    size_t k = 0;
    while (k < n && src[k] && k + 1 < cap) {
        dst[k] = (src[k] >= 0x20 && src[k] < 0x7f) ? (char)src[k] : '?';
        k++;
    }
    dst[k] = '\0';
}

/* Headers are copied out before use: the image may sit at any address. */
static void section(const uint8_t *img, uint64_t shoff, uint16_t i, Elf64_Shdr *out)
{
    memcpy(out, img + shoff + (uint64_t)i * sizeof *out, sizeof *out);
}

const char *fm_host_arch(void)
{
#if defined(__x86_64__)
    return "x86_64";
#else
    return "aarch64";
#endif
}

int fm_arch_machine(const char *arch, uint16_t *machine)
{
    if (!strcmp(arch, "x86_64"))
        *machine = EM_X86_64;
    else if (!strcmp(arch, "aarch64"))
        *machine = EM_AARCH64;
    else
        return -1;
    return 0;
}

int fm_image_check(const uint8_t *img, size_t n, fm_image_info_t *info, char *why, size_t cap)
{
    return fm_image_check_for(img, n, FM_MACHINE, info, why, cap);
}

int fm_image_check_for(const uint8_t *img, size_t n, uint16_t machine, fm_image_info_t *info,
                       char *why, size_t cap)
{
    memset(info, 0, sizeof *info);
    if (n < sizeof(Elf64_Ehdr) || memcmp(img, ELFMAG, SELFMAG))
        return err(why, cap, "not an ELF file");
    if (img[EI_CLASS] != ELFCLASS64 || img[EI_DATA] != ELFDATA2LSB)
        return err(why, cap, "not a 64-bit little-endian ELF file");
    Elf64_Ehdr eh;
    memcpy(&eh, img, sizeof eh);
    if (eh.e_type != ET_DYN)
        return err(why, cap, "not a shared object (link the FM with -shared)");
    if (eh.e_machine != machine)
        return err(why, cap, "built for another architecture");
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || !eh.e_shnum || eh.e_shstrndx >= eh.e_shnum ||
        !inside(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), n))
        return err(why, cap, "damaged ELF section table");
    Elf64_Shdr strs, sh, dynstr, hdr = { 0 }, dyn = { 0 }, dynsym = { 0 };
    bool have_hdr = false, have_dyn = false, have_dynsym = false;
    section(img, eh.e_shoff, eh.e_shstrndx, &strs);
    if (!inside(strs.sh_offset, strs.sh_size, n))
        return err(why, cap, "damaged ELF section names");
    for (uint16_t i = 0; i < eh.e_shnum; i++) {
        section(img, eh.e_shoff, i, &sh);
        if (sh.sh_name >= strs.sh_size)
            return err(why, cap, "damaged ELF section names");
        const char *name = (const char *)img + strs.sh_offset + sh.sh_name;
        if (!memchr(name, '\0', strs.sh_size - sh.sh_name))
            return err(why, cap, "damaged ELF section names");
        if (!strcmp(name, ".fm.header")) {
            hdr = sh;
            have_hdr = true;
        }
        if (sh.sh_type == SHT_DYNAMIC) {
            dyn = sh;
            have_dyn = true;
        }
        if (sh.sh_type == SHT_DYNSYM) {
            dynsym = sh;
            have_dynsym = true;
        }
    }
    if (!have_hdr)
        return err(why, cap, "no .fm.header section (define the header with DEFINE_FM_HEADER)");
    if (hdr.sh_type == SHT_NOBITS || hdr.sh_size < FM_HEADER_SIZE ||
        !inside(hdr.sh_offset, FM_HEADER_SIZE, n))
        return err(why, cap, "the .fm.header section is too short");
    if (!have_dyn || !inside(dyn.sh_offset, dyn.sh_size, n))
        return err(why, cap, "no dynamic section");
    for (uint64_t off = 0; off + sizeof(Elf64_Dyn) <= dyn.sh_size; off += sizeof(Elf64_Dyn)) {
        Elf64_Dyn d;
        memcpy(&d, img + dyn.sh_offset + off, sizeof d);
        if (d.d_tag == DT_NULL)
            break;
        if (d.d_tag == DT_NEEDED)
            return err(why, cap, "the image needs a shared library (link with -nostdlib)");
    }
    if (!have_dynsym || dynsym.sh_entsize != sizeof(Elf64_Sym) ||
        !inside(dynsym.sh_offset, dynsym.sh_size, n) || dynsym.sh_link >= eh.e_shnum)
        return err(why, cap, "no dynamic symbol table");
    section(img, eh.e_shoff, (uint16_t)dynsym.sh_link, &dynstr);
    if (!inside(dynstr.sh_offset, dynstr.sh_size, n))
        return err(why, cap, "damaged dynamic string table");
    for (uint64_t off = sizeof(Elf64_Sym); off + sizeof(Elf64_Sym) <= dynsym.sh_size;
         off += sizeof(Elf64_Sym)) {
        Elf64_Sym s;
        memcpy(&s, img + dynsym.sh_offset + off, sizeof s);
        if (s.st_shndx != SHN_UNDEF || ELF64_ST_BIND(s.st_info) == STB_WEAK)
            continue;
        char name[64] = "?";
        if (s.st_name < dynstr.sh_size)
            copy_name(name, sizeof name, img + dynstr.sh_offset + s.st_name,
                      dynstr.sh_size - s.st_name);
        snprintf(why, cap, "the image leaves symbol %s undefined (FMs import nothing)", name);
        return -1;
    }
    const uint8_t *h = img + hdr.sh_offset;
    info->format = le32(h);
    info->number = le16(h + 4);
    info->version_major = h[6];
    info->version_minor = h[7];
    info->serial = le64(h + 8);
    info->build_time = le64(h + 16);
    copy_name(info->manufacturer, sizeof info->manufacturer, h + 24, 32);
    copy_name(info->name, sizeof info->name, h + 56, 16);
    if (info->format != 3)
        return err(why, cap, "unknown FM header format (want 3)");
    if (!info->name[0])
        return err(why, cap, "the FM header has no product id (the FM's name)");
    if (info->number == 0xFFFF || (info->number <= 0x000B))
        return err(why, cap, "the FM number is reserved");
    unsigned int mdlen = 0;
    if (EVP_Digest(img, n, info->fingerprint, &mdlen, EVP_sha256(), NULL) != 1)
        return err(why, cap, "cannot hash the image");
    return 0;
}
