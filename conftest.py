"""Doctests under ``reflow/`` start from a clean program too: an example that registers a
sink without running it leaves nothing behind for the next example's ``pw.run()``."""

import pytest

from reflow.plan.nodes import forget_live_nodes
from reflow.runtime.runner import clear_outputs


@pytest.fixture(autouse=True)
def _fresh_doctest_program(request):
    if request.node.__class__.__name__ == "DoctestItem":
        clear_outputs()
        forget_live_nodes()
    yield


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster (several worker processes on this machine) shared by the
    tests that run shards as Ray actors; shut down at the end of the session."""
    import os
    import sys

    import ray

    # The actors unpickle functions of the test modules: the cluster's processes (started
    # now, with this environment) get the same import path; the tests' own stays as it was.
    # On a loaded machine the head's GCS may take longer than the 5 s Ray waits for it
    # before aborting the whole process.
    os.environ.setdefault("RAY_gcs_rpc_server_connect_timeout_s", "60")
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    try:
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    try:
        yield ray
    finally:
        ray.shutdown()
