"""RPM work: header queries (one NEVRA type), spec edits, rpmbuild on this host, compiler cache, payloads."""
