"""A short soak in CI: no errors and nothing growing (see tests/soak)."""
from tests.soak.soak import soak


def test_short_soak_has_no_errors_and_no_growth(capsys):
    ok = soak(count=400, concurrency=16)
    out = capsys.readouterr().out
    print(out)
    assert ok, out
