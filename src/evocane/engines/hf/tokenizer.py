"""Tokenizers: Evo 2's byte vocabulary as a Hugging Face tokenizer, and how any tokenizer maps DNA onto ids.

Evo 2 (Arc's ``CharLevelTokenizer(512)``, BioNeMo's byte-level tokenizer) uses token id = byte value of the
character, a 512-entry vocabulary, id 0 as end-of-document (used as BOS when scoring with ``prepend_bos``) and
id 1 as padding. :func:`byte_tokenizer` builds the same vocabulary with the ``tokenizers`` library (a BPE model
without merges, so every character is one token), so a model directory written by this engine loads back with
``AutoTokenizer.from_pretrained`` like any other.

:class:`TokenMap` answers, for any tokenizer, whether it is per-base (each of A/C/G/T one token of its own) and
gives the byte → id table, the ids of each base (upper- and lower-case where the vocabulary has both) and the
ids generation may emit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

EVO2_VOCAB_SIZE = 512
EOD_ID = 0  # Evo 2's end-of-document token; prepended as BOS
PAD_ID = 1
BASES = "ACGT"

# byte -> upper-case byte for a-z, identity otherwise (inputs are upper-cased as in Evo 2 training)
_UPPER = np.arange(256, dtype=np.uint8)
_UPPER[ord("a") : ord("z") + 1] -= 32


def upper_bytes(tokens: np.ndarray) -> np.ndarray:
    return _UPPER[np.asarray(tokens, dtype=np.uint8)]


def byte_tokenizer():  # type: ignore[no-untyped-def]
    """A ``PreTrainedTokenizerFast`` whose ids are byte values (Evo 2's vocabulary): 'A' -> 65, 512 ids."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {chr(i): i for i in range(256)}
    vocab.update({f"<unused{i}>": i for i in range(256, EVO2_VOCAB_SIZE)})
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=chr(EOD_ID), eos_token=chr(EOD_ID), pad_token=chr(PAD_ID), model_max_length=1 << 30
    )


@dataclass(frozen=True)
class TokenMap:
    """How DNA bytes map onto one tokenizer's ids."""

    per_base: bool
    byte_to_id: np.ndarray  # int64[256]: id of each (upper-cased) character; meaningful only when per_base
    base_ids: tuple[tuple[int, ...], ...]  # for A, C, G, T: every id that spells the base (either case)
    bos_id: int | None
    pad_id: int
    generation_ids: tuple[int, ...]  # ids whose text is A/C/G/T only, either case (what generation may emit)

    @classmethod
    def from_tokenizer(cls, tokenizer) -> TokenMap:  # type: ignore[no-untyped-def]
        vocab: dict[str, int] = tokenizer.get_vocab()
        probe = "ACGTNACGTRYacgt"
        encoded = tokenizer(probe, add_special_tokens=False)["input_ids"]
        single = {base: vocab.get(base) for base in BASES}
        per_base = (
            len(encoded) == len(probe)
            and all(single[base] is not None for base in BASES)
            and len({single[base] for base in BASES}) == 4
            and [tokenizer.convert_ids_to_tokens(i) for i in encoded[:4]] == list(BASES)
        )
        fallback = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else vocab.get("N", 0)
        byte_to_id = np.full(256, fallback, dtype=np.int64)
        for code in range(256):
            char = chr(code).upper()
            if char in vocab:
                byte_to_id[code] = vocab[char]
        base_ids = tuple(tuple(sorted({vocab[c] for c in (base, base.lower()) if c in vocab})) for base in BASES)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else fallback
        dna = re.compile(r"^[ACGTacgt]+$")
        generation_ids = tuple(sorted(i for token, i in vocab.items() if dna.match(_token_text(tokenizer, token, i))))
        return cls(per_base, byte_to_id, base_ids, tokenizer.bos_token_id, int(pad_id), generation_ids)

    def encode_bases(self, tokens: np.ndarray) -> np.ndarray:
        """uint8 ASCII window -> int64 ids (per-base tokenizers only); the input is upper-cased first."""
        return self.byte_to_id[upper_bytes(tokens)]


def _token_text(tokenizer, token: str, token_id: int) -> str:  # type: ignore[no-untyped-def]
    """The text a vocabulary entry spells (k-mer and BPE vocabularies may mark word starts with Ġ or ▁)."""
    if token_id in tokenizer.all_special_ids:
        return ""
    return tokenizer.convert_tokens_to_string([token]).strip()
