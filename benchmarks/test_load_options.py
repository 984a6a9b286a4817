"""`python -m benchmarks load --workers N` hands the rest of its options to the run it drives."""

from benchmarks.load import _without_option


def test_the_workers_option_is_taken_out_in_both_spellings() -> None:
    assert _without_option(["--quick", "--workers", "2", "--runs", "3"], "--workers") == ["--quick", "--runs", "3"]
    assert _without_option(["--workers=2", "--seconds", "60"], "--workers") == ["--seconds", "60"]
    assert _without_option(["--clients", "8"], "--workers") == ["--clients", "8"]
