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
