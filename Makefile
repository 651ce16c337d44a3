# gearbox - build, test, bench, install.  See README.md.
PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
SAN     ?=

PKGS     = lua5.4 jansson sqlite3
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
OPT     ?= -O2 -g
SANFLAGS = -fsanitize=address,undefined
ifeq ($(SAN),1)
OPT      = -O1 -g -fno-omit-frame-pointer $(SANFLAGS) -fno-sanitize-recover=all
LDFLAGS += $(SANFLAGS)
endif
# ThreadSanitizer, for tests/integration/t_tsan.sh (build/tsan: the binary and
# the test plugins it loads)
ifeq ($(SAN),thread)
OPT      = -O1 -g -fno-omit-frame-pointer -fsanitize=thread
LDFLAGS += -fsanitize=thread
endif
CFLAGS  += -std=c11 -D_GNU_SOURCE -fPIC $(OPT) $(WARN) -Isdk/include -Icore $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -ldl -lpthread -lm

CORE_SRC = $(filter-out core/main.c,$(wildcard core/*.c))
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# Plugins: shared objects that include only sdk/include (never the engine).
PLUGIN_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC -shared -fvisibility=hidden $(OPT) $(WARN) -Isdk/include
EXAMPLE_SO    = $(patsubst sdk/examples/%/,$(BUILD)/plugins/%.so,$(wildcard sdk/examples/*/))
OPTIMIZER_SO  = $(patsubst plugins/%/,$(BUILD)/plugins/%.so,$(wildcard plugins/*/))
TESTPLUGIN_SO = $(patsubst tests/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/plugins/*.c))

.PHONY: all test asan bench install clean demo format lint
all: $(BUILD)/gearbox $(UNIT_BIN) $(EXAMPLE_SO) $(OPTIMIZER_SO) $(TESTPLUGIN_SO)

.SECONDEXPANSION:
$(EXAMPLE_SO): $(BUILD)/plugins/%.so: $$(wildcard sdk/examples/$$*/*.c) $(wildcard sdk/include/gearbox/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^)

# an optimizer plugin is plugins/NAME/*.c, built into one NAME.so; libraries
# it needs are listed in plugins/NAME/LDLIBS
$(OPTIMIZER_SO): $(BUILD)/plugins/%.so: $$(wildcard plugins/$$*/*.c plugins/$$*/*.h plugins/$$*/LDLIBS) $(wildcard sdk/include/gearbox/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^) $(shell cat plugins/$*/LDLIBS 2>/dev/null) -lpthread

$(TESTPLUGIN_SO): $(BUILD)/tests/plugins/%.so: tests/plugins/%.c $(wildcard sdk/include/gearbox/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/%.o: %.c $(wildcard core/*.h sdk/include/gearbox/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libgearbox.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/gearbox: $(BUILD)/core/main.o $(BUILD)/libgearbox.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libgearbox.a tests/unit/check.h $(wildcard plugins/*/*.c plugins/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libgearbox.a $(LDLIBS)

# The whole proof: unit and integration suites, plain and under ASan+UBSan.
test:
	@sh tests/run.sh

asan:
	$(MAKE) BUILD=build/asan SAN=1 all

demo: all
	./$(BUILD)/gearbox run examples/demo.json

bench: all
	@sh tests/bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/lib/gearbox/plugins $(DESTDIR)$(PREFIX)/include/gearbox \
		$(DESTDIR)$(PREFIX)/share/gearbox/policies/scheduling \
		$(DESTDIR)$(PREFIX)/share/gearbox/policies/retry \
		$(DESTDIR)$(PREFIX)/share/gearbox/policies/scaling \
		$(DESTDIR)$(PREFIX)/share/gearbox/policies/placement
	install -m 755 $(BUILD)/gearbox $(DESTDIR)$(PREFIX)/bin/gearbox
	install -m 644 $(BUILD)/libgearbox.a $(DESTDIR)$(PREFIX)/lib/libgearbox.a
	install -m 644 sdk/include/gearbox/*.h $(DESTDIR)$(PREFIX)/include/gearbox/
	install -m 755 $(EXAMPLE_SO) $(OPTIMIZER_SO) $(DESTDIR)$(PREFIX)/lib/gearbox/plugins/
	for k in scheduling retry scaling placement; do \
		install -m 644 policies/$$k/*.lua $(DESTDIR)$(PREFIX)/share/gearbox/policies/$$k/; done
	sed 's|@PREFIX@|$(PREFIX)|g' sdk/gearbox-plugin.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gearbox-plugin.pc

format:
	clang-format -i core/*.c core/*.h tests/unit/*.c

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability -Icore -Isdk/include core

clean:
	rm -rf build
