"""The one exception type the harness raises."""


class HarnessError(Exception):
    """The VM could not be built, booted or read back.

    Raised for a missing host tool, a guest that never reached the end of
    its /init, or a QEMU that outlived its hard timeout.  Tests let it
    propagate so the run fails (never skips) with this message.
    """
