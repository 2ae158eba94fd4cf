"""Suite-wide pytest options."""


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/cases/*/expected/ from the current compiler "
                          "(review the result with git diff)")
