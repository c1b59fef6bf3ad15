"""qganb: add custom QEMU Guest Agent commands and ship them as a patched qemu-guest-agent RPM."""

__version__ = "0.1.0"


def load_ipython_extension(ipython: object) -> None:
    """`%load_ext qganb`: registers %qga, %qga_commands, %%qga_recipe and %qga_run."""
    from qganb.notebook.magics import load

    load(ipython)
