"""The README's Python examples run as written (in a scratch directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code = BLOCKS[index]
    exec(compile(code, f"README.md example {index + 1}", "exec"), {"__name__": "__readme__"})  # noqa: S102 - running our own documentation is the point
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if 'print(results["verified"])' in code:
        assert last == "True"
    if "print(len(events), len(hidden))" in code:
        assert last == "1 0"  # the LEVEL_3 event is visible at LEVEL_4, hidden at LEVEL_2
    if 'verification["verified"])' in code:
        assert last == "2 True True"
    # Whatever the example wrote must still verify.
    from logging_audit.crypto.signing_keys import SigningKeyStore
    from logging_audit.storage.files.verify import find_streams, verify_stream_dir

    for stream in find_streams(tmp_path / "logs") if (tmp_path / "logs").exists() else []:
        material = SigningKeyStore.load(stream / "keys" / "signing.json").verifier_material()
        assert verify_stream_dir(stream, material).verified
