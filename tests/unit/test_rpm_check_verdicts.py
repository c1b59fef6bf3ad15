"""rpm -K's verdict words, read from the report as rpm 4.18 prints it (rpm -Kv)."""
from qganb.stages.fetch import _damaged

NOKEY = ("FILE:\n    Header V4 RSA/SHA512 Signature, key ID 5336bade: NOKEY\n    Header SHA256 digest: OK\n"
         "    Header SHA1 digest: OK\n    Payload SHA256 digest: OK\n    MD5 digest: OK")


def test_a_key_id_that_spells_bad_is_not_a_bad_digest() -> None:
    # The CI run of stop 19 drew the random key 5336bade and called an intact file corrupt.
    assert not _damaged(NOKEY)
    assert not _damaged(NOKEY.replace("5336bade", "bad0bad0"))


def test_a_bad_digest_or_a_non_rpm_is_damaged() -> None:
    assert _damaged(NOKEY.replace("MD5 digest: OK", "MD5 digest: BAD (Expected 17bd != 34c3)"))
    assert _damaged("FILE: not an rpm package (or package manifest)")
    assert _damaged("error: FILE: headerRead failed: hdr data: BAD, no. of bytes(12) out of range")
    assert _damaged("FILE: digests SIGNATURES NOT OK")
