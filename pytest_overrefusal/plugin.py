"""pytest hooks only: options, then one line each handing over to the session object (`session.py`)."""
from __future__ import annotations

import pytest

from .session import OverrefusalSession, get_session
from .settings import OPTIONS


def pytest_addoption(parser):
    group = parser.getgroup("overrefusal", "over-refusal suites (pytest-overrefusal)")
    for name, help_text in OPTIONS.items():
        dest = "overrefusal_" + name.replace("-", "_")
        action = "append" if name == "suite" else "store"
        group.addoption(f"--overrefusal-{name}", dest=dest, action=action, default=None, help=help_text)
        parser.addini(dest, help=help_text, default="")
    group.addoption("--overrefusal-no-cache", dest="overrefusal_no_cache", action="store_true",
                    help="generate every response afresh and store nothing")
    group.addoption("--overrefusal-force-baseline", dest="overrefusal_force_baseline", action="store_true",
                    help="compare with the baseline even when judge or generation settings differ")


def pytest_configure(config):
    OverrefusalSession.start(config)


def pytest_sessionstart(session):
    get_session(session.config).begin(session)


def pytest_collect_file(file_path, parent):
    return get_session(parent.config).collect_file(file_path, parent)


def pytest_collection_modifyitems(config, items):
    get_session(config).select(items)


def pytest_collection_finish(session):
    get_session(session.config).collected(session.items)


def pytest_itemcollected(item):
    OverrefusalSession.item_collected(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    get_session(item.config).make_report(item, call, report)
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report, config):
    return OverrefusalSession.teststatus(report)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    OverrefusalSession.check_marker_gate(item)
    return result


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    get_session(config).summary(terminalreporter)


def pytest_sessionfinish(session, exitstatus):
    get_session(session.config).finish(session)


# -- fixtures (public: overrefusal_model, overrefusal_results) ------------------------------------------
@pytest.fixture(scope="session")
def overrefusal_model(pytestconfig):
    """The model under test, built from --overrefusal-model. Override it in conftest.py with any
    object that has `generate(requests) -> list[Response]`."""
    backend = get_session(pytestconfig).open_model()
    yield backend
    get_session(pytestconfig).close_model(backend)


@pytest.fixture
def overrefusal_results(request, overrefusal_model):
    """The outcome (rate, per-case results, gate) of the suite named by this test's overrefusal marker."""
    return get_session(request.config).marker_results(request, overrefusal_model)
