import pytest
import torch

from diffalign.cli.main import main
from diffalign.devices import default_device, resolve_device
from diffalign.errors import UserInputError


def test_none_and_empty_give_the_default():
    assert resolve_device(None) == default_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("") == default_device()


def test_cpu_is_always_there():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:x", "nope:0"])
def test_an_unknown_name_is_one_line_with_the_valid_forms(name):
    with pytest.raises(UserInputError) as err:
        resolve_device(name)
    assert "\n" not in str(err.value) and "cpu, cuda, cuda:1 or mps" in str(err.value)


def test_a_missing_cuda_device_is_one_line():
    names = ["cuda", "cuda:0"] if not torch.cuda.is_available() else [f"cuda:{torch.cuda.device_count()}"]
    for name in names:
        with pytest.raises(UserInputError) as err:
            resolve_device(name)
        assert "\n" not in str(err.value) and "not available" in str(err.value)


def test_generate_with_an_unknown_device_exits_2_with_one_line(tmp_path, capsys):
    assert main(["generate", "--prompt", "a red circle", "--device", "gpu", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("diffalign: error:") and "'gpu'" in err[0]
    assert not (tmp_path / "out").exists()
