"""Model files (issue 12): MLP.load refuses a file over its size cap before reading it,
and the cap can be raised; saving respects what sits at the path."""

from __future__ import annotations

import os
import threading
import tracemalloc

import pytest

from picograd.nn import MLP, ModelFileError


@pytest.fixture
def saved(registry, tmp_path):
    path = tmp_path / "model.json"
    model = MLP(2, [3, 1], seed=1)
    model.save(path)
    return model, path, path.stat().st_size


def _same(a: MLP, b: MLP) -> bool:
    return [p.data for p in a.parameters()] == [p.data for p in b.parameters()]


def test_a_file_over_the_cap_is_refused_before_it_is_read(registry, tmp_path, monkeypatch):
    monkeypatch.delenv("PICOGRAD_MAX_MODEL_BYTES", raising=False)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(64 * 2**20)  # 64 MiB (sparse: no disk used)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="67,108,864 bytes, more than the 16,777,216"):
            MLP.load(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # nothing of the file was read


def test_the_cap_is_raised_by_a_keyword_or_the_environment(saved, monkeypatch):
    model, path, size = saved
    monkeypatch.delenv("PICOGRAD_MAX_MODEL_BYTES", raising=False)
    with pytest.raises(ModelFileError, match=r"max_bytes=\.\.\. to MLP\.load or set "
                                             "PICOGRAD_MAX_MODEL_BYTES") as caught:
        MLP.load(path, max_bytes=size - 1)
    assert str(path) in str(caught.value)
    assert _same(MLP.load(path, max_bytes=size), model)
    monkeypatch.setenv("PICOGRAD_MAX_MODEL_BYTES", str(size - 1))
    with pytest.raises(ModelFileError, match="more than the"):
        MLP.load(path)
    assert _same(MLP.load(path, max_bytes=size), model)  # the keyword wins
    monkeypatch.setenv("PICOGRAD_MAX_MODEL_BYTES", "10MB")
    with pytest.raises(ModelFileError, match="PICOGRAD_MAX_MODEL_BYTES='10MB' is not a whole"):
        MLP.load(path)


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "100"])
def test_max_bytes_must_be_a_positive_int(saved, bad):
    with pytest.raises(ModelFileError, match="max_bytes must be a positive int"):
        MLP.load(saved[1], max_bytes=bad)


def test_loading_a_fifo_is_refused_without_waiting_for_a_writer(registry, tmp_path):
    fifo = tmp_path / "model.json"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            MLP.load(fifo)
        except BaseException as e:  # noqa: BLE001 (the test judges it)
            outcome.append(e)

    reader = threading.Thread(target=load)
    reader.start()
    reader.join(timeout=10)
    blocked = reader.is_alive()
    if blocked:  # open() waits for a writer: be one, so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join()
    assert not blocked, "MLP.load waited for a writer on a FIFO"
    assert isinstance(outcome[0], ModelFileError) and "not a regular file" in str(outcome[0])


def test_saving_over_a_read_only_model_is_refused_and_keeps_it(saved):
    model, path, _ = saved
    before = path.read_bytes()
    path.chmod(0o444)
    with pytest.raises(ModelFileError, match="read-only.*previous file is unchanged"):
        MLP(2, [3, 1], seed=2).save(path)
    assert path.read_bytes() == before and _same(MLP.load(path), model)
