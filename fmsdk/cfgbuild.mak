# softfm FM SDK, PTK-style makefiles: set FM:=1 (an FM) or CONSOLE:=1 (a host
# program), NAME, OBJS (base names), LIBS (host: e.g. "cryptoki ethsm"),
# optionally DEBUG, then include $(FMDIR)/cfgbuild.mak and write the rules
# with the variables below. An FM links to $(ARCH_EXE); $(OBJCOPY) makes
# $(ARCH_BIN), the unsigned image (here a copy: the image is the ELF object).
FMDIR ?= $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
FMSDK := $(FMDIR)
# The image config.mk's sign and load targets work on.
FM_IMAGE ?= bin$(if $(DEBUG),-d)/$(NAME).bin
include $(FMDIR)/config.mk
# Where the host libraries are (libcryptoki.so, libethsm.so ...): the
# installed vendor-style client folder, or the installed library folder.
LUNASDK ?= $(abspath $(FMDIR)/../lunasdk)
CC ?= cc
AR := ar
RM := rm -f
RMDIR := rm -rf
CP := cp
MKDIR := mkdir -p
LN := $(CC)
PS := /
OUT := -o
OBJCOPY := cp
ifdef FM
OBJDIR := obj-fm$(if $(DEBUG),-d)
CFLAGS := $(FM_CFLAGS) $(FM_INCLUDES) $(if $(DEBUG),-DDEBUG -g)
LFLAGS := $(FM_LDFLAGS)
ARCH_LIBS := $(FM_LIBS)
ARCH_EXE := $(OBJDIR)/$(NAME).so
ARCH_BIN := bin$(if $(DEBUG),-d)/$(NAME).bin
else
OBJDIR := obj-host$(if $(DEBUG),-d)
CFLAGS := -O2 -Wall -I$(FMDIR)/include $(P11KIT_CFLAGS) $(if $(DEBUG),-DDEBUG -g)
LFLAGS := -L$(LUNASDK)/lib -Wl,-rpath,$(LUNASDK)/lib
ARCH_LIBS := $(addprefix -l,$(LIBS))
ARCH_EXE := $(OBJDIR)/$(NAME)
ARCH_BIN := $(ARCH_EXE)
endif
ARCH_OBJS := $(addprefix $(OBJDIR)/,$(addsuffix .o,$(OBJS)))
ARCH_CLEAN := $(OBJDIR) $(dir $(ARCH_BIN))
