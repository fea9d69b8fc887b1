# softfm FM SDK, Luna-style makefiles: include $(FMSDK)/samples/fmconfig.mk.
# Sets CC, FMLIBDIR and the compile (C_FLAGS) and link (L_FLAGS) flags the
# vendor chapter gives; makefiles add to them with +=, compile with
#   $(CC) -c $(I_OPT) $(DEFINES) $(C_FLAGS)
# and link with
#   $(CC) $(L_FLAGS) -o bin-$(ARCH)/$(NAME).bin $(OBJS) -L$(FMLIBDIR) -lfmsupt -lgcc
FMSDK ?= $(patsubst %/samples/,%,$(dir $(lastword $(MAKEFILE_LIST))))
include $(FMSDK)/config.mk
FMLIBDIR := $(FMSDK)/lib
C_FLAGS := $(FM_CFLAGS) $(FM_INCLUDES) $(if $(DEBUG),-DDEBUG -g)
L_FLAGS := $(FM_LDFLAGS)
ARCH := $(shell uname -m)
