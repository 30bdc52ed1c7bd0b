# The two commands: `make run` (stack + local host + app on :7071) and `make test` (every test).
# Both install what is missing first: a Python venv from the pinned requirements, the pinned npm
# emulators (with their patch), and local.settings.json from the emulator-only example.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INFRA_VENV := .venv-infra
PORT ?= 7071
PYTEST_ARGS ?=

.PHONY: install run-deps audio-tools run test lint stack-up stack-down drain undrain clean settings constraints constraints-infra bench drills partition heal db-down db-up

# `make run` needs the app's venv, the emulators and the settings; the test-only tools (the infra
# checks' venv with checkov, the Debian audio and IMAP client tools) come with `make test`.
install: run-deps $(INFRA_VENV)/.installed audio-tools
run-deps: $(VENV)/.installed node_modules/.installed settings

# Debian tools the tests use, where missing: sox with every format module (opencore AMR-NB, LAME,
# Vorbis, GSM) and the ffmpeg CLI encode the audio corpus; espeak-ng speaks the test messages (the
# corpus master, and what the local transcriber hears); isync's mbsync is the mail client the IMAP
# gateway's tests sync a Maildir with. Where apt-get cannot run (not root), say so.
audio-tools:
	@(command -v ffmpeg && command -v espeak-ng && command -v mbsync && sox -h | grep -q amr-nb) >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sox libsox-fmt-all ffmpeg espeak-ng isync) || \
		echo "warning: sox, ffmpeg, espeak-ng and isync could not be installed (apt-get install them as root); the audio, transcript and IMAP client tests need them" >&2

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

# Pin every transitive version after a requirements change (from a fresh venv, so nothing stale).
# requirements.txt applies this lock (`-c constraints.txt`, so Azure installs what the tests ran
# with): it is emptied while resolving afresh, and restored if the install fails.
constraints:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	cp constraints.txt .venv-lock/previous-constraints.txt && : > constraints.txt
	.venv-lock/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt \
	  || { cp .venv-lock/previous-constraints.txt constraints.txt; exit 1; }
	{ echo "# Every installed version, pinned (pip freeze of a venv made from requirements-dev.txt)."; \
	  echo "# Regenerate after changing a requirements file: make constraints"; \
	  .venv-lock/bin/pip freeze --exclude-editable; } > constraints.txt
	rm -rf .venv-lock

# The static checks of infra/ (pycep-parser, checkov) run from a venv of their own: checkov pins
# many packages tightly, so it stays out of the app's venv (tests/infra/test_infra.py calls it).
$(INFRA_VENV)/.installed: requirements-infra.txt constraints-infra.txt
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt -c constraints-infra.txt
	touch $@

constraints-infra:
	rm -rf .venv-infra-lock && $(PYTHON) -m venv .venv-infra-lock
	.venv-infra-lock/bin/pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	{ echo "# Every installed version, pinned (pip freeze of a venv made from requirements-infra.txt)."; \
	  echo "# Regenerate after changing requirements-infra.txt: make constraints-infra"; \
	  .venv-infra-lock/bin/pip freeze --exclude-editable; } > constraints-infra.txt
	rm -rf .venv-infra-lock

node_modules/.installed: package.json package-lock.json $(wildcard patches/*.patch)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

settings: $(VENV)/.installed
	$(PY) devstack/local_settings.py ensure

# The platform key is `local-dev-key` unless VOICEMAIL_API_KEY sets another, the operator's
# `local-operator-key` unless VOICEMAIL_OPERATOR_KEY does; only their hashes reach the app. `make run REGIONS=2`: two regions on ports 7071 and 7072, storage of their own.
REGIONS ?= 1
# `make run PLANES=2`: each region as two hosts, API and management plane (port + 100), as in Azure.
PLANES ?= 1
run: run-deps
	PLATFORM_KEY_HASHES=$$($(PY) devstack/local_settings.py hash "$${VOICEMAIL_API_KEY:-local-dev-key}") \
	OPERATOR_KEY_HASHES=$$($(PY) devstack/local_settings.py hash "$${VOICEMAIL_OPERATOR_KEY:-local-operator-key}") \
	  $(PY) devstack/localstack.py --regions $(REGIONS) run -- $(PY) -m devstack.regions --regions $(REGIONS) --planes $(PLANES) --port $(PORT)

# While `make run REGIONS=2` runs: cut the Cosmos replication between the local regions (each
# keeps accepting writes, nothing crosses), then restore it (they converge within seconds).
partition heal:
	$(PY) -m devstack.replicator $@

# While `make run` (any REGIONS) runs: every local Cosmos emulator stops answering (paused, its data
# kept), then answers again. Deposits meanwhile are journaled (202) and replayed once it answers.
db-down db-up:
	$(PY) devstack/localstack.py $@

# Two phases: everything but the reliability drills on two workers, then the drills alone (each
# drill is two regions under load from 16-32 clients on its own emulators; beside other tests on 2
# cores they starve them and are starved). Both phases always run; the worse exit code is returned.
# Exit code 5 (nothing collected, e.g. PYTEST_ARGS naming one file) is not a failure.
test: install
	@rc=0; \
	$(PY) devstack/localstack.py run -- $(PY) -m pytest -n 2 --dist loadfile -m "not drill" $(PYTEST_ARGS) \
	  || { r=$$?; [ $$r -eq 5 ] || rc=$$r; }; \
	$(PY) -m pytest -p no:xdist -m drill $(PYTEST_ARGS) || { r=$$?; [ $$r -eq 5 ] || rc=$$r; }; \
	exit $$rc

lint: install
	$(VENV)/bin/ruff check .

# Benchmarks (not tests): figures go to docs/benchmarks.md. The transcoding one compares with the
# ffmpeg CLI (Debian's ffmpeg package), installed here when missing.
bench: install
	command -v ffmpeg >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg)
	$(PY) -m bench.api_throughput
	$(PY) -m bench.deposit_cost
	$(PY) -m bench.transcode
	$(PY) -m bench.transcribe
	$(PY) -m bench.pipeline_e2e
	$(PY) -m bench.retention --messages 2000 --expired-percent 5
	$(PY) -m bench.imap_envelopes

# The reliability drills alone (they bring their own emulators), their figures printed as the
# table of docs/reliability.md.
drills: install
	$(PY) -m pytest tests/integration/test_drills.py -m drill -p no:xdist -s -q

stack-up: install
	$(PY) devstack/localstack.py up

stack-down:
	$(PY) devstack/localstack.py down

# The operator's drain switch for the local region (REGION from local.settings.json).
drain undrain: install
	$(PY) ops/drain.py $@

clean: stack-down
	rm -rf .localstack $(VENV) $(INFRA_VENV) node_modules
