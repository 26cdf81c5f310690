# The two commands a newcomer needs: `make demo` (the gateway's main job) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO_ARGS := $(if $(ONCE),--once,) $(if $(DEMO_PORT_BASE),--port-base $(DEMO_PORT_BASE),)

.PHONY: install demo sandbox test lint contracts clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11+"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "Python 3.11 or newer is required ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 18+ (it ships npm)"; exit 1; }
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed node_modules/.installed

demo: install
	GATEWAY_DEMO=1 $(PY) manage.py demo $(DEMO_ARGS)

sandbox: install
	GATEWAY_DEMO=1 $(PY) manage.py sandbox

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

contracts: node_modules/.installed
	bash contracts/build.sh

clean:
	rm -rf var .pytest_cache
