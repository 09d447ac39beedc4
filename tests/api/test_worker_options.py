"""The worker's command line refuses options it could not run with, saying why (`python -m api.worker`)."""
import pytest

from api.worker import main


@pytest.mark.parametrize(("argv", "said"), [
    (["--lanes", "0"], "argument --lanes: 0 is too small: at least 1 (a worker with no lane runs nothing"),
    (["--lease", "-5"], "argument --lease: -5 is too small: at least 1 (a shorter lease lets another worker"),
    (["--lease", "nan"], "argument --lease: 'nan' is not a number"),
    (["--max-attempts", "0"], "argument --max-attempts: 0 is too small: at least 1"),
    (["--max-attempts", "1.5"], "argument --max-attempts: '1.5' is not an integer"),
    (["--backoff-cap", "-1"], "argument --backoff-cap: -1 is too small: at least 0"),
])
def test_an_option_the_worker_cannot_run_with_is_refused_with_why(argv, said, capsys):
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2 and said in capsys.readouterr().err


def test_the_help_says_what_the_worker_is_in_a_whole_sentence(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "runs the durable queue's jobs (settings from the same KALAS_* variables as the API)." in " ".join(
        capsys.readouterr().out.split())
