"""The digests of the trained stand-ins and the full-size builds follow the code, not its layout
(raycourse/models/fingerprint.py): formatting, comments and docstrings leave them as they are; a change to what the code
does moves them."""

from raycourse.models.fingerprint import source_fingerprint

CODE = '''"""A module."""


def train(steps):
    """Train."""
    total = 0  # a running sum
    for step in range(steps):
        total += step
    return total
'''


def _fingerprint(tmp_path, name: str, text: str) -> bytes:
    path = tmp_path / name
    path.write_text(text)
    return source_fingerprint(path)


def test_layout_comments_and_docstrings_leave_the_fingerprint_as_it_is(tmp_path):
    laid_out_otherwise = CODE.replace('"""Train."""', '"""Train, for\n    ``steps`` steps."""').replace(
        "  # a running sum", ""
    )
    laid_out_otherwise = laid_out_otherwise.replace("total += step", "total += (\n            step\n        )")
    assert _fingerprint(tmp_path, "a.py", CODE) == _fingerprint(tmp_path, "b.py", laid_out_otherwise)


def test_a_change_to_what_the_code_does_moves_it(tmp_path):
    for changed in (CODE.replace("total = 0", "total = 1"), CODE.replace("range(steps)", "range(steps + 1)")):
        assert _fingerprint(tmp_path, "a.py", CODE) != _fingerprint(tmp_path, "b.py", changed)


def test_a_string_that_is_not_a_docstring_counts(tmp_path):
    said = CODE.replace("    return total", '    print("done")\n    return total')
    assert _fingerprint(tmp_path, "a.py", said) != _fingerprint(tmp_path, "b.py", said.replace("done", "finished"))


def test_data_files_count_by_their_bytes(tmp_path):
    assert _fingerprint(tmp_path, "a.jsonl", '{"a": 1}\n') != _fingerprint(tmp_path, "b.jsonl", '{"a": 1} \n')
