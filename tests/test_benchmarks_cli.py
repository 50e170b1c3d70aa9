"""``python -m benchmarks``'s command line: which benchmarks a command runs (none is run here)."""

import pytest

from benchmarks.__main__ import ALL, chosen_benchmarks


@pytest.mark.parametrize(("argv", "expected"), [
    ([], (list(ALL), False)),  # Python 3.11's argparse refused this one ("invalid choice: ['all']")
    (["--quick"], (list(ALL), True)),
    (["full"], (["full"], False)),
    (["memory", "library", "--quick"], (["memory", "library"], True)),
    (["all", "full", "quality"], ([*ALL, "quality"], False)),
])
def test_the_benchmarks_a_command_runs(argv, expected):
    assert chosen_benchmarks(argv) == expected


def test_an_unknown_benchmark_is_refused_by_name(capsys):
    with pytest.raises(SystemExit) as exit_info:
        chosen_benchmarks(["speed"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'speed'" in capsys.readouterr().err
