"""Settings for every pytest run of this repository: the test suite and the notebook checks."""

import os
import shutil
import tempfile

_TEMPORARY = {}


def pytest_configure(config):
    """Temporary files of this test process and of the notebook kernels it starts (which inherit
    TMPDIR) go to one folder, removed at the end: nbval stops its kernels at once, so a kernel's
    own exit handlers do not run."""
    folder = tempfile.mkdtemp(prefix="anchor-tests-")
    _TEMPORARY["folder"], _TEMPORARY["before"] = folder, os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = folder
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again


def pytest_unconfigure(config):
    folder = _TEMPORARY.pop("folder", None)
    if folder is None:
        return
    before = _TEMPORARY.pop("before")
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before
    tempfile.tempdir = None
    shutil.rmtree(folder, ignore_errors=True)
