"""The local testbed: fixture src.rpms built from real QEMU sources (and, later, a test guest)."""
