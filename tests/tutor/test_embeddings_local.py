"""The in-process embedding model: unit vectors of its width, read from the wheel's files without its loader."""

from __future__ import annotations

import sys

import numpy as np

from bot.tutor.embeddings import LOCAL_DIMENSIONS, local_embedder


def test_texts_become_unit_vectors_and_an_empty_text_a_zero_one() -> None:
    vectors = np.array(local_embedder().embed_now(["how do i repeat something", "a for loop repeats", ""]))

    assert vectors.shape == (3, LOCAL_DIMENSIONS) and np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1, atol=1e-5) and not vectors[2].any()
    assert vectors[0] @ vectors[1] > 0.3


def test_a_question_and_the_same_words_in_a_batch_get_the_same_vector() -> None:
    embedder = local_embedder()
    [alone] = embedder.embed_now(["make text all capitals"])
    [_, batched] = embedder.embed_now(["something else first", "make text all capitals"])

    assert np.allclose(alone, batched)


def test_loading_the_model_leaves_the_packages_own_loader_unimported() -> None:
    # Its loader imports an HTTP client and training code and copies the weights at single precision: the memory
    # the model costs beyond its own size (docs/tutor.md). Nothing else in the bot imports it.
    local_embedder().embed_now(["x"])

    assert not [name for name in sys.modules if name.split(".")[0] == "wordllama"]
