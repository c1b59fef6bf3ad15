"""qganb: add custom QEMU Guest Agent commands and ship them as a patched qemu-guest-agent RPM."""

__version__ = "0.1.0"
