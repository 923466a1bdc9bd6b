# moonpod — the only entry points: build, deps, test, asan, bench, demo, install.
#
#   make            build ./moonpod
#   make deps       install every Debian package the build, tests, demo and bench need
#   make test       deps + build (normal and ASan/UBSan) + private engines + the whole suite
#   make asan       build build/asan/moonpod with AddressSanitizer and UBSan
#   make bench      benchmarks side by side with the peers, printing ratios
#   make demo       the ready-made policies at work on containers in trouble, for a minute

PKGS      := lua5.4 libcurl libcjson libuv libedit sqlite3
PREFIX    ?= /usr/local
CC        ?= cc

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
BASEFLAGS := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $(WARN) -g -Isrc -Ibuild/gen $(PKG_CFLAGS)

CFLAGS_release := -O2
CFLAGS_asan    := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_asan   := -fsanitize=address,undefined

SRCS      := $(wildcard src/*.c)
CORE_SRCS := $(filter-out src/main.c,$(SRCS))
LUA_MODS  := $(shell find lua -name '*.lua' | sort)
UNIT_SRCS := $(wildcard tests/unit/*.c)

.PHONY: all asan deps test unit bench demo install clean check-deps
.SUFFIXES:

all: moonpod

# ---- generated: the Lua half of the library, embedded in the binary ----
build/gen/embedded_lua.c: $(LUA_MODS) scripts/dev/embed.lua
	@mkdir -p $(@D)
	lua5.4 scripts/dev/embed.lua $(LUA_MODS) > $@.tmp && mv $@.tmp $@

# ---- one object tree per flavour ----
define flavour
build/$(1)/%.o: src/%.c $(wildcard src/*.h) | check-deps
	@mkdir -p $$(@D)
	$$(CC) $$(BASEFLAGS) $$(CFLAGS_$(1)) -c $$< -o $$@

build/$(1)/embedded_lua.o: build/gen/embedded_lua.c
	@mkdir -p $$(@D)
	$$(CC) $$(BASEFLAGS) $$(CFLAGS_$(1)) -Wno-overlength-strings -c $$< -o $$@

build/$(1)/libmoonpod.a: $(patsubst src/%.c,build/$(1)/%.o,$(CORE_SRCS)) build/$(1)/embedded_lua.o
	@rm -f $$@
	ar rcs $$@ $$^

build/$(1)/moonpod: build/$(1)/main.o build/$(1)/libmoonpod.a
	$$(CC) $$(LDFLAGS_$(1)) -rdynamic -o $$@ $$^ $$(PKG_LIBS) -lm

build/$(1)/unit/%: tests/unit/%.c build/$(1)/libmoonpod.a $(wildcard tests/unit/*.h)
	@mkdir -p $$(@D)
	$$(CC) $$(BASEFLAGS) $$(CFLAGS_$(1)) -Itests/unit $$(LDFLAGS_$(1)) -o $$@ $$< build/$(1)/libmoonpod.a $$(PKG_LIBS) -lm

build/$(1)/fake-engine: tests/fake/fake_engine.c
	@mkdir -p $$(@D)
	$$(CC) $$(BASEFLAGS) $$(CFLAGS_$(1)) $$(LDFLAGS_$(1)) -o $$@ $$< $$(PKG_LIBS)
endef
$(eval $(call flavour,release))
$(eval $(call flavour,asan))

# A rename, not a copy: a running ./moonpod keeps its old file.
moonpod: build/release/moonpod
	cp $< $@.tmp && mv -f $@.tmp $@

asan: build/asan/moonpod $(patsubst tests/unit/%.c,build/asan/unit/%,$(UNIT_SRCS)) build/asan/fake-engine

unit: $(patsubst tests/unit/%.c,build/release/unit/%,$(UNIT_SRCS)) build/release/fake-engine

check-deps:
	@pkg-config --exists $(PKGS) || { echo "missing build dependencies: run 'make deps'" >&2; exit 1; }

deps:
	scripts/dev/deps.sh

# The whole suite on a fresh machine: packages, both builds, private engines.
# A step before the suite that fails still ends the run with the one-line
# summary (and a failure status). The builds run in a sub-make, after deps,
# so that they see the pkg-config flags of what deps installed.
test:
	@{ scripts/dev/deps.sh && $(MAKE) moonpod unit asan; } || \
		{ echo "make test: a step before the suite failed (see above)" >&2; echo "0 passed, 1 failed"; exit 1; }
	scripts/dev/test.sh

bench: deps moonpod
	tests/bench/run.sh

demo: deps moonpod
	scripts/dev/demo.sh

install: moonpod
	install -D -m 0755 moonpod $(DESTDIR)$(PREFIX)/bin/moonpod

clean:
	rm -rf build moonpod
