"""Every reproduction runs end to end in quick mode and writes a report with a verdict."""

import pytest

from fastweights.cli import main
from fastweights.reproduce import REPRODUCTIONS
from fastweights.reproduce.criterion import VERDICTS


@pytest.mark.parametrize("name", sorted(REPRODUCTIONS))
def test_quick_reproduction_writes_report(name, tmp_path):
    assert main(["reproduce", name, "--quick", "--workers", "1", "--out", str(tmp_path / "docs"),
                 "--runs", str(tmp_path / "runs")]) == 0
    report = (tmp_path / "docs" / f"{name}.md").read_text()
    assert report.startswith(f"# {name}: ")
    assert any(f"**Verdict: {v}.**" in report for v in VERDICTS)
    assert f"`fastweights reproduce {name} --quick`" in report
    assert "## Settings history" in report and "| here |" in report
    for line in report.splitlines():
        if line.startswith("!["):
            assert (tmp_path / "docs" / line.split("(")[1].rstrip(")")).exists(), line


def test_list(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in REPRODUCTIONS)
