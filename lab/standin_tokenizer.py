"""A small local tokenizer directory for running genai-bench offline (no hub access here).

Word-level, trained with `tokenizers` on the sonnet text genai-bench ships (its default
prompt source), saved with transformers so `AutoTokenizer.from_pretrained(DIR)` loads it.
Runs under genai-bench's own interpreter (which has tokenizers and transformers):
`.venv-genai-bench/bin/python lab/standin_tokenizer.py OUT_DIR`.
"""

from __future__ import annotations

import sys
from pathlib import Path


def build(out_dir: str) -> None:
    import genai_bench
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    text = (Path(genai_bench.__file__).parent / "data" / "sonnet.txt").read_text(encoding="utf-8")
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(text.splitlines(), trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]"]))
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]").save_pretrained(out_dir)


if __name__ == "__main__":
    build(sys.argv[1])
