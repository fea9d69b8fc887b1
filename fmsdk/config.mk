# softfm FM SDK: the compiler and linker settings for an FM, for new FM
# makefiles:
#
#   FMSDK ?= /usr/local/share/softfm/fmsdk
#   include $(FMSDK)/config.mk
#   myfm.bin: hdr.o myfm.o
#   	$(FM_LINK) -o $@ $^ $(FM_LIBS)
#   %.o: %.c
#   	$(FM_CC) -c -o $@ $<
#
# An FM is compiled freestanding and linked as a shared object that imports
# nothing: libfmsupt.a gives it the C runtime and the FM functions, libgcc
# the compiler's helpers.
FMSDK ?= $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
CC ?= cc
P11KIT_CFLAGS ?= $(shell pkg-config --cflags p11-kit-1 2>/dev/null || echo -I/usr/include/p11-kit-1)
FM_INCLUDES := -I$(FMSDK)/include -I$(FMSDK)/include/fm/hsm -I$(FMSDK)/include/fm/host $(P11KIT_CFLAGS)
# -fPIC -ffreestanding -std=c99: what the vendor chapter asks; no stack
# protector or fortified calls, whose runtime an FM does not have.
FM_CFLAGS := -fPIC -ffreestanding -std=c99 -O2 -Wall -fno-stack-protector -U_FORTIFY_SOURCE \
             -D_GNU_SOURCE -DOS_LINUX -DDISABLE_CA_EXT -DFM_BUILD_TIME=$(shell date +%s)ULL
FM_LDFLAGS := -shared -Wl,-z,defs -nostdlib -Wl,--gc-sections
FM_LIBS := -L$(FMSDK)/lib -lfmsupt -lgcc
FM_CC = $(CC) $(FM_INCLUDES) $(FM_CFLAGS) $(if $(DEBUG),-DDEBUG -g)
FM_LINK = $(CC) $(FM_LDFLAGS)

# ---- The FM lifecycle (docs/lifecycle.md): sign and load ----
#
#   make [DEBUG=1]                      build (DEBUG=1: -DDEBUG -g)
#   make load UNSIGNED=1                initial development: the unsigned
#                                       image into a dev-mode HSM
#   make sign DEBUG=1 FM_KEY=.. FM_CERT=..   adapter build: a DEBUG image
#   make sign FM_KEY=.. FM_CERT=..      production build: a RELEASE image
#   make load [DEBUG=1] [FM_CERT=..]    the signed image into the HSM (ctfm)
#   make verify [DEBUG=1] FM_CERT=..    check a signed image (ctfm v)
#   make unload                         remove the FM (by FM_NAME or NAME)
#
# FM_KEY is TOKENLABEL/KEYLABEL or SLOTID=n/KEYLABEL (a key in a token,
# through PKCS#11) or, for development only, a PEM file; FM_PIN_FILE holds
# the token's PIN (else MKFM_PIN or a prompt). The HSM SO PIN for load and
# unload comes from SOFTFM_SO_PIN or a prompt; SOFTFM_SOCKET names the HSM.
SOFTFM_BINDIR ?= $(abspath $(FMSDK)/../../../bin)
sfm_tool = $(if $(wildcard $(SOFTFM_BINDIR)/$(1)),$(SOFTFM_BINDIR)/$(1),$(1))
MKFM ?= $(call sfm_tool,mkfm)
CTFM ?= $(call sfm_tool,ctfm)
SOFTFM ?= $(call sfm_tool,softfm)
FM_IMAGE ?= bin-$(shell uname -m)/$(NAME).bin
FM_SIGNED ?= $(basename $(FM_IMAGE))$(if $(DEBUG),-debug).fm
FM_UNLOAD ?= $(if $(FM_NAME),$(FM_NAME),$(NAME))

sfm_goal := $(.DEFAULT_GOAL)
# (The image is made by a make of its own: NAME is set after this file.)
sign:
	@test -n "$(FM_KEY)" -a -n "$(FM_CERT)" || \
	  { echo "make sign: set FM_KEY (TOKEN/KEYLABEL or a PEM file) and FM_CERT" >&2; exit 2; }
	@$(MAKE) --no-print-directory $(FM_IMAGE)
	$(MKFM) -f $(FM_IMAGE) -o $(FM_SIGNED) -k $(FM_KEY) -c $(FM_CERT) \
	  $(if $(DEBUG),,--release) $(if $(FM_PIN_FILE),--pin-file $(FM_PIN_FILE))
load:
	$(if $(UNSIGNED),$(SOFTFM) fm load --dev $(FM_IMAGE),$(CTFM) i -f $(FM_SIGNED) $(if $(FM_CERT),-c $(FM_CERT)))
verify:
	$(CTFM) v -f $(FM_SIGNED) -c $(FM_CERT)
unload:
	$(SOFTFM) fm delete $(FM_UNLOAD)
.PHONY: sign load verify unload
# The makefile's own first target stays the default.
.DEFAULT_GOAL := $(sfm_goal)
