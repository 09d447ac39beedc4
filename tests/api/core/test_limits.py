"""`whole_number` (api/core/limits.py): how a header's or a store's count, length, width or id is read."""
import pytest

from api.core.limits import whole_number


@pytest.mark.parametrize("text, read", [
    ("42", 42), (" 42\r\n", 42), (b"1048576", 1048576), ("0" * 5000 + "7", 7), ("9" * 19, int("9" * 19)),
    # What `isdigit` takes and `int` refuses ("²", Arabic-Indic "٣"), more digits than any count here has (Python reads
    # no more than 4,300), signs, spaces inside, and what is no text.
    ("\u00b2", None), ("\u0663", None), ("9" * 20, None), ("9" * 5000, None), ("-3", None), ("+3", None),
    ("4 2", None), ("", None), (None, None), (3, None)])
def test_a_whole_number_is_ascii_digits_and_no_longer_than_asked(text, read):
    assert whole_number(text) == read


def test_a_longer_number_may_be_asked_for():
    assert whole_number("9" * 25, max_digits=30) == int("9" * 25)
    assert whole_number("9" * 31, max_digits=30) is None
