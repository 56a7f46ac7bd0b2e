# Maestro's everyday commands. `make test` is what CI runs.
CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: build test unit lint soak schemathesis bench bench-serve proto demo services man clean

build:
	$(CARGO) build --release --bin maestro
	mkdir -p bin && cp target/release/maestro bin/maestro

## Formatting, lints, then every test (unit and integration, real servers on 127.0.0.1).
test: lint unit

# Failures print their message, not a backtrace: rerun one test with
# RUST_BACKTRACE=1 for that.
unit:
	$(CARGO) build --examples --bins
	./target/debug/maestro test examples/workflows
ifeq ($(NEXTEST),yes)
	$(CARGO) test --doc
	RUST_BACKTRACE=0 $(CARGO) nextest run --all-targets --no-fail-fast
else
	$(CARGO) test --doc
	$(CARGO) test --all-targets --no-fail-fast
endif

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## The fault matrix (tests/it/faults) with larger batches and more kills
## (MAESTRO_SOAK=1), one row at a time, its figures on stdout. Bounded: each
## row in runs and kills, the whole in time.
soak:
	$(CARGO) build --examples --bins
ifeq ($(NEXTEST),yes)
	MAESTRO_SOAK=1 SAGA_MODEL_CASES=1000 PROPTEST_CASES=3000 timeout 30m \
		$(CARGO) nextest run --test it --no-capture 'faults::' 'saga_model::' 'serve::fuzz::' 'journal::crash::'
else
	MAESTRO_SOAK=1 SAGA_MODEL_CASES=1000 PROPTEST_CASES=3000 timeout 30m \
		$(CARGO) test --test it -- --nocapture --test-threads 1 faults:: saga_model:: serve::fuzz:: journal::crash::
endif

## Fuzz the HTTP API from its OpenAPI document (pip install schemathesis); bounded by MAX_TIME.
schemathesis:
	bash scripts/schemathesis.sh

## Criterion benches, each beside hand-written glue measured in the same run
## (templates, one step layer by layer, a whole workflow); a few minutes.
bench:
	$(CARGO) bench --bench templates --bench dispatch --bench workflow --bench foreach --bench journal -- --warm-up-time 1 --measurement-time 3

## Load driver: maestro serve against the glue at concurrency 1, 16 and 64,
## 10,000 runs in flight, cold start of maestro execute (release build).
bench-serve:
	$(CARGO) build --release --bin maestro --examples
	$(CARGO) bench --bench serve

## Compile every file in examples/workflows/proto/ (protox, no protoc) and print what it defines.
proto:
	$(CARGO) build --examples
	$(CARGO) run --quiet --example proto_check -- examples/workflows/proto/*.proto

demo:
	bash scripts/demo.sh

## The example services on their fixed ports, in the foreground (Ctrl-C stops them),
## for the README's commands in another terminal.
services:
	bash scripts/services.sh

## The manual pages, one per command, in target/man (read one with `man -l target/man/maestro.1`).
man:
	$(CARGO) run --quiet --bin maestro -- man --out target/man

clean:
	$(CARGO) clean
	rm -rf bin
