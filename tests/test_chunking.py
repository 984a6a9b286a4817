from hypothesis import given, settings, strategies as st

from agentmem.core.tokens import count_tokens
from agentmem.memory.chunking import chunk_text

WORDS = st.sampled_from(["alpha", "beta", "gamma.", "delta!", "\n", "\n\n", "é", "你好", "x" * 40, "  ", "3.14", "?"])


def test_short_text_is_one_chunk() -> None:
    [c] = chunk_text("Paris is the capital of France.", 50)
    assert c.text == "Paris is the capital of France." and c.tokens == count_tokens(c.text)


def test_blank_text_has_no_chunks() -> None:
    assert chunk_text("   \n ", 10) == []


def test_cuts_at_sentence_ends_when_it_can() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    chunks = chunk_text(text, 30)
    assert len(chunks) > 1
    assert all(c.text.rstrip().endswith(".") for c in chunks)


def test_overlong_word_is_cut_by_characters() -> None:
    blob = "Q" * 3000
    chunks = chunk_text(blob, 20)
    assert "".join(c.text for c in chunks) == blob
    assert all(c.tokens <= 20 for c in chunks)


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=300).map(" ".join), st.integers(min_value=1, max_value=60))
def test_chunks_are_exact_slices_within_budget(text: str, max_tokens: int) -> None:
    chunks = chunk_text(text, max_tokens)
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert c.tokens == count_tokens(c.text) <= max_tokens
    # In order, and nothing but whitespace falls between or around them.
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    bounds = [0, *[x for c in chunks for x in (c.start, c.end)], len(text)]
    gaps = [text[bounds[i] : bounds[i + 1]] for i in range(0, len(bounds), 2)]
    assert all(not g.strip() for g in gaps)
