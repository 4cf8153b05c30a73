"""Shared test setup: a stable cache dir, CUDA skipping, and the small models most tests use.

FTAX_CACHE_DIR points at a stable directory (not a fresh tmp dir) on purpose: the inductor
cache makes torch.compile several times faster on the second run, and ONNX exports are
keyed by model, dtype and torch version. Tests about caching pass their own tmp dir.
Set FTAX_TEST_CACHE_DIR to use another directory.
"""
from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest
import torch

TEST_CACHE_DIR = Path(os.environ.get("FTAX_TEST_CACHE_DIR", "/tmp/ftax-test-cache"))

# Set at import so that subprocesses started by any test (the CLI tests) inherit it too.
os.environ["FTAX_CACHE_DIR"] = str(TEST_CACHE_DIR)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu`-marked tests where torch sees no CUDA device."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def ftax_cache_dir() -> Path:
    """The cache dir every test runs with (exports, inductor cache)."""
    TEST_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["FTAX_CACHE_DIR"] = str(TEST_CACHE_DIR)
    return TEST_CACHE_DIR


@pytest.fixture(scope="session")
def bert_tiny():
    """bert-tiny (2 layers x 128) in fp32 on CPU, built once per session."""
    from ftax.run import models

    model = models.build("bert-tiny")
    yield model
    del model
    gc.collect()


@pytest.fixture(scope="session")
def bert_tiny_bs1_seq16(bert_tiny):
    """(model, inputs, eager reference output) at batch 1, seq 16: the framework-bound point."""
    inputs = bert_tiny.inputs(1, 16)
    with torch.inference_mode():
        reference = bert_tiny.module(*inputs)
    return bert_tiny, inputs, reference


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """The whole book at profile=smoke on CPU into a tmp dir, strict, built once per session.

    Returns (BuildResult, out dir, results dir, log lines). Every test that reads the built HTML
    or the smoke records shares this one build (it measures for about a minute on 2 cores).
    """
    from ftax.book import build as book

    out = tmp_path_factory.mktemp("book")
    results_dir = out / "results"
    lines: list[str] = []
    result = book.build(profile="smoke", device="cpu", results_dir=results_dir, out=out, strict=True,
                        root=Path(__file__).resolve().parents[1], log=lines.append)
    return result, out, results_dir, lines
