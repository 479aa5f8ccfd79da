.PHONY: install run test test-pg lint ci

install:
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'

run:
	.venv/bin/contactdesk demo && .venv/bin/contactdesk serve

test:
	.venv/bin/python -m pytest

test-pg:
	CONTACTDESK_TEST_DATABASE_URL=$${CONTACTDESK_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/contactdesk_test} .venv/bin/python -m pytest

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy --strict src tests bench

ci:
	bash .ci/run
