"""A CLIPTokenizer over the world's vocabulary: BPE merges learned so every world word is one token."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import CLIPTokenizer

from ..world.vocab import words
from .configs import MAX_TOKENS

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def build_tokenizer(directory: Path) -> CLIPTokenizer:
    """Write vocab.json + merges.txt (CLIP's BPE format, '</w>' word ends) and load them."""
    directory.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token=EOS))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    letters = sorted({c for w in words() for c in w})
    trainer = trainers.BpeTrainer(vocab_size=10_000, min_frequency=1, special_tokens=[BOS, EOS],
                                  end_of_word_suffix="</w>", show_progress=False,
                                  initial_alphabet=letters)
    bpe.train_from_iterator([" ".join(words())] * 4, trainer)
    bpe.model.save(str(directory))
    tokenizer = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"),
                              bos_token=BOS, eos_token=EOS, pad_token=EOS, unk_token=EOS,
                              model_max_length=MAX_TOKENS)
    tokenizer.save_pretrained(directory)
    missing = [w for w in words() if len(tokenizer.tokenize(w)) != 1]
    if missing:
        raise RuntimeError(f"tokenizer splits world words: {missing}")
    return tokenizer
