# umqtt-native as a MicroPython user C module, for make-based ports (unix, qemu, ...).
#
#   make USER_C_MODULES=<repo root> ...   (the directory holding micropython_port/)
#
# Builds the Rust engine with cargo for the port's CPU (rust-targets.txt says
# which target), links the staticlib, and compiles the C shims in c_glue/.
# Cargo's own target dir lives in the port's build dir, apart from `cargo test`.

UMQTT_PORT_DIR := $(USERMOD_DIR)
# Written relative to the module dir so that the object paths come out the same
# under every MicroPython version's USER_C_MODULES path handling.
UMQTT_C_DIR := $(USERMOD_DIR)/../c_glue
UMQTT_ROOT := $(abspath $(USERMOD_DIR)/..)
UMQTT_OBJ_DIR := $(BUILD)/$(notdir $(USERMOD_DIR))/../c_glue

UMQTT_C_FILES := modumqtt.c umqtt_engine.c umqtt_io.c umqtt_socket.c umqtt_errors.c umqtt_args.c
SRC_USERMOD_C += $(addprefix $(UMQTT_C_DIR)/,$(UMQTT_C_FILES))
CFLAGS_USERMOD += -I$(UMQTT_C_DIR)
# `umqtt.simple` is a built-in submodule; `umqtt.robust` (frozen) is stored on
# the built-in `umqtt` through module attribute delegation.
CFLAGS_USERMOD += -DMICROPY_MODULE_BUILTIN_SUBPACKAGES=1 -DMICROPY_MODULE_ATTR_DELEGATION=1

# The staticlib, copied to a fixed path whatever the Rust target.
UMQTT_LIB := $(BUILD)/umqtt/libumqtt_native.a
UMQTT_CARGO_TARGET_DIR := $(abspath $(BUILD))/umqtt/cargo
UMQTT_TARGETS := $(UMQTT_PORT_DIR)/rust-targets.txt
CARGO ?= cargo

# Ports that list LDFLAGS before the objects (qemu, stm32...) would scan the
# archive before anything needs it: -u makes the linker pull the engine in.
include $(UMQTT_PORT_DIR)/umqtt-symbols.mk
LDFLAGS_USERMOD += $(foreach s,$(UMQTT_SYMBOLS),-u umqtt_$(s)) $(UMQTT_LIB)

# Everything below is expanded when the recipe runs, once the port's CFLAGS are final.
umqtt_march = $(firstword $(subst _, ,$(patsubst -march=%,%,$(lastword $(filter -march=%,$(CFLAGS))))))
umqtt_mcpu = $(patsubst -mcpu=%,%,$(lastword $(filter -mcpu=%,$(CFLAGS))))
umqtt_key = $(or $(UMQTT_RUST_KEY),$(if $(filter -DUNIX,$(CFLAGS)),host),$(umqtt_march),$(if $(umqtt_mcpu),$(umqtt_mcpu)$(if $(filter -mfloat-abi=hard,$(CFLAGS)),f)),host)
umqtt_row = $(shell awk '$$1 == "$(umqtt_key)" { print $$2, $$3 }' $(UMQTT_TARGETS))
umqtt_target = $(or $(UMQTT_RUST_TARGET),$(word 1,$(umqtt_row)))
umqtt_toolchain = $(if $(UMQTT_RUST_TARGET),$(UMQTT_RUST_TOOLCHAIN),$(word 2,$(umqtt_row)))
umqtt_triple = $(if $(filter host,$(umqtt_target)),$(shell rustc -vV | sed -n 's/^host: //p'),$(umqtt_target))

# Cargo decides what to rebuild; the copy only changes (and relinks) when the library did.
$(UMQTT_LIB): FORCE
	$(if $(umqtt_target),,$(error umqtt: no Rust target for "$(umqtt_key)" in $(UMQTT_TARGETS); set UMQTT_RUST_TARGET))
	$(ECHO) "CARGO umqtt-native for $(umqtt_triple)"
	$(Q)$(MKDIR) -p $(@D)
	$(Q)CARGO_TARGET_DIR=$(UMQTT_CARGO_TARGET_DIR) $(CARGO) $(if $(umqtt_toolchain),+$(umqtt_toolchain)) \
		build --release --lib --quiet --manifest-path $(UMQTT_ROOT)/Cargo.toml --target $(umqtt_triple)
	$(Q)cmp -s $(UMQTT_CARGO_TARGET_DIR)/$(umqtt_triple)/release/libumqtt_native.a $@ || \
		cp $(UMQTT_CARGO_TARGET_DIR)/$(umqtt_triple)/release/libumqtt_native.a $@

# The link rule belongs to the port; depending on the shims' objects makes
# cargo run before it and a changed library relink.
$(addprefix $(UMQTT_OBJ_DIR)/,$(UMQTT_C_FILES:.c=.o)): $(UMQTT_LIB)
